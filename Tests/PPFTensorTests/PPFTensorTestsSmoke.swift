import Testing

@Test func PPFTensorTargetBuilds() { #expect(Bool(true)) }
