import Testing

@Test func PPFAgentTargetBuilds() { #expect(Bool(true)) }
