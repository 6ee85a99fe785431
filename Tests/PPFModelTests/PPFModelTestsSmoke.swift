import Testing

@Test func PPFModelTargetBuilds() { #expect(Bool(true)) }
