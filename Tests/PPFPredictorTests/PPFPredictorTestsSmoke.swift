import Testing

@Test func PPFPredictorTargetBuilds() { #expect(Bool(true)) }
