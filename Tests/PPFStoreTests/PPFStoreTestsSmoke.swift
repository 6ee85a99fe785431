import Testing

@Test func PPFStoreTargetBuilds() { #expect(Bool(true)) }
