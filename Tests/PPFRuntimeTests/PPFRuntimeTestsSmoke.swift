import Testing

@Test func PPFRuntimeTargetBuilds() { #expect(Bool(true)) }
