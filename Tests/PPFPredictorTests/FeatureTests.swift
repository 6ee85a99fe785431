import PPFContracts
import Testing
@testable import PPFPredictor

@Test func policyFeaturesCarryKeepRatiosDropFlagsAndDepth() throws {
    let spec = try FeatureSpec(layerCount: 3)
    let policy = PruningPolicy(layers: [
        LayerPolicy(attentionRatio: 0.25, mlpRatio: 0.5),
        LayerPolicy(attentionRatio: 0.9, mlpRatio: 0.1, dropped: true),
        LayerPolicy(attentionRatio: 0, mlpRatio: 1),
    ])
    let features = try PolicyFeatures(policy: policy, spec: spec)
    #expect(spec.layerChannels == ["attentionKeep", "mlpKeep", "blockDropped", "depth"])
    #expect(features.layerValues == [0.75, 0.5, 0, 0,
                                     0, 0, 1, 0.5,
                                     1, 0, 0, 1])
    #expect(features.value(FeatureSpec.mlpKeep, layer: 0) == 0.5)
    #expect(features.globalValues.isEmpty)
}

@Test func extraChannelsAndGlobalsAreLookedUpByName() throws {
    let spec = try FeatureSpec(layerCount: 2, extraLayerChannels: ["importanceKept"], globalChannels: ["achievedRatio"])
    let features = try PolicyFeatures(policy: .uniform(blocks: 2, attention: 0.5, mlp: 0.5), spec: spec,
                                      extraLayerChannels: ["importanceKept": [0.9, 0.7]],
                                      globals: ["achievedRatio": 0.5])
    #expect(features.value("importanceKept", layer: 1) == 0.7)
    #expect(features[0, 4] == 0.9)
    #expect(features.global("achievedRatio") == 0.5)
    #expect(features.value("nope", layer: 0) == nil)
}

@Test func policyWithWrongLayerCountThrowsLayerCountMismatch() throws {
    let spec = try FeatureSpec(layerCount: 30)
    let error = #expect(throws: PredictorError.self) {
        try PolicyFeatures(policy: .uniform(blocks: 29, attention: 0.2, mlp: 0.2), spec: spec)
    }
    #expect(error?.code == .layerCountMismatch)
    #expect(error?.message.contains("29") == true)
}

@Test func rawRowsWithWrongChannelCountThrowsChannelCountMismatch() throws {
    let spec = try FeatureSpec(layerCount: 2)
    let error = #expect(throws: PredictorError.self) {
        try PolicyFeatures(spec: spec, layerValues: [[1, 1, 0, 0], [1, 1, 0]], globalValues: [])
    }
    #expect(error?.code == .channelCountMismatch)
    let globals = #expect(throws: PredictorError.self) {
        try PolicyFeatures(spec: spec, layerValues: [[1, 1, 0, 0], [1, 1, 0, 1]], globalValues: [0.3])
    }
    #expect(globals?.code == .globalCountMismatch)
}

@Test func extraChannelOfWrongLengthThrowsLayerCountMismatch() throws {
    let spec = try FeatureSpec(layerCount: 3, extraLayerChannels: ["importanceKept"])
    let error = #expect(throws: PredictorError.self) {
        try PolicyFeatures(policy: .uniform(blocks: 3, attention: 0, mlp: 0), spec: spec,
                           extraLayerChannels: ["importanceKept": [1, 1]])
    }
    #expect(error?.code == .layerCountMismatch)
}

@Test func missingAndUnknownChannelsAreNamed() throws {
    let spec = try FeatureSpec(layerCount: 1, extraLayerChannels: ["importanceKept"], globalChannels: ["achievedRatio"])
    let policy = PruningPolicy.uniform(blocks: 1, attention: 0, mlp: 0)
    let missing = #expect(throws: PredictorError.self) {
        try PolicyFeatures(policy: policy, spec: spec, globals: ["achievedRatio": 0])
    }
    #expect(missing?.code == .missingChannel)
    #expect(missing?.message.contains("importanceKept") == true)
    let unknown = #expect(throws: PredictorError.self) {
        try PolicyFeatures(policy: policy, spec: spec, extraLayerChannels: ["importanceKept": [1]],
                           globals: ["achievedRatio": 0, "flops": 1])
    }
    #expect(unknown?.code == .unknownChannel)
}

@Test func ratioOutsideTheUnitIntervalThrowsRatioOutOfRange() throws {
    let spec = try FeatureSpec(layerCount: 1)
    let error = #expect(throws: PredictorError.self) {
        try PolicyFeatures(policy: PruningPolicy(layers: [LayerPolicy(attentionRatio: 1.5, mlpRatio: 0)]), spec: spec)
    }
    #expect(error?.code == .ratioOutOfRange)
}

@Test func nonFiniteFeatureThrowsNonFiniteValue() throws {
    let spec = try FeatureSpec(layerCount: 1, globalChannels: ["achievedRatio"])
    let error = #expect(throws: PredictorError.self) {
        try PolicyFeatures(spec: spec, layerValues: [[1, 1, 0, 0]], globalValues: [.nan])
    }
    #expect(error?.code == .nonFiniteValue)
}

@Test func featureSpecRejectsDuplicateOrEmptyNamesAndNoLayers() {
    #expect(throws: PredictorError.self) { try FeatureSpec(layerCount: 2, extraLayerChannels: ["depth"]) }
    #expect(throws: PredictorError.self) { try FeatureSpec(layerCount: 2, globalChannels: ["r", "r"]) }
    #expect(throws: PredictorError.self) { try FeatureSpec(layerCount: 2, globalChannels: [""]) }
    let error = #expect(throws: PredictorError.self) { try FeatureSpec(layerCount: 0) }
    #expect(error?.code == .invalidFeatureSpec)
}

@Test func normalizerStandardisesChannelsAndLeavesConstantOnesUnscaled() throws {
    let spec = try FeatureSpec(layerCount: 2, globalChannels: ["r"])
    let a = try PolicyFeatures(spec: spec, layerValues: [[1, 0, 0, 0], [3, 0, 0, 1]], globalValues: [2])
    let b = try PolicyFeatures(spec: spec, layerValues: [[1, 0, 0, 0], [3, 0, 0, 1]], globalValues: [4])
    let normalizer = FeatureNormalizer(fitting: [a, b], targets: [1, 3], spec: spec)
    #expect(normalizer.layerMean == [2, 0, 0, 0.5])
    #expect(normalizer.layerStd == [1, 1, 1, 0.5])   // channels 1 and 2 are constant
    #expect(normalizer.globalMean == [3] && normalizer.globalStd == [1])
    #expect(normalizer.targetMean == 2 && normalizer.targetStd == 1)
    var layers = [Float](repeating: 0, count: 8), globals: [Float] = [0]
    normalizer.normalize(b, layers: &layers, globals: &globals)
    #expect(layers == [-1, 0, 0, -1, 1, 0, 0, 1])
    #expect(globals == [1])
    #expect(normalizer.denormalizeTarget(normalizer.normalizeTarget(2.5)) == 2.5)
}
