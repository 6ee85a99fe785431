import Testing

@Test func PPFPruningTargetBuilds() { #expect(Bool(true)) }
