import Testing

@Test func PPFContractsTargetBuilds() { #expect(Bool(true)) }
