import Testing

@Test func PPFBusTargetBuilds() { #expect(Bool(true)) }
