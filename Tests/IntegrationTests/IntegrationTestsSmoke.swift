import Testing

@Test func IntegrationTargetBuilds() { #expect(Bool(true)) }
