import Foundation
import PPFContracts
import Testing
@testable import PPFPredictor

// MARK: - Plan-derived features through the training set and the artifact

/// A profile where layer `l` keeps `(1 − ratio)^(l+1)` of its MLP importance
/// and attention has levels 0, ½ (keeping 0.6 of the mass).
private func profile(layers: Int) -> ImportanceProfile {
    ImportanceProfile(modelId: "m", metric: "flap", layers: (0..<layers).map { layer in
        ImportanceProfile.Layer(attentionRemoval: [0, 0.5], attentionKept: [1, 0.6],
                                mlpKept: (0...8).map { pow(Double($0) / 8, Double(layer + 1)) })
    })
}

/// Measurements of random policies with log-perplexity driven by retained MLP importance.
private func measured(count: Int, layers: Int, metric: String = "flap") -> [MeasuredSample] {
    var random = SystemRandomNumberGenerator()
    return (0..<count).map { index in
        let policy = PruningPolicy(layers: (0..<layers).map { _ in
            LayerPolicy(attentionRatio: Bool.random(using: &random) ? 0 : 0.5, mlpRatio: Double(Int.random(in: 0...6, using: &random)) / 8)
        })
        let kept = (try? profile(layers: layers).retained(by: policy).mlp) ?? []
        return MeasuredSample(measurementId: Int64(index), policyId: UUID(), policy: policy, metric: metric,
                              split: "validation", tokenBudget: 256, window: 128,
                              perplexity: exp(3 + kept.map { 1 - $0 }.reduce(0, +)))
    }
}

@Test func trainingSetWithAProfileForItsMetricAddsTheImportanceChannels() throws {
    let set = try #require(try TrainingSet(measured(count: 12, layers: 3), profiles: [profile(layers: 3)]))
    #expect(set.samples[0].features.spec.usesImportance)
    #expect(set.profile?.metric == "flap")
    // A profile of another metric is not used: ratios only.
    let other = try #require(try TrainingSet(measured(count: 12, layers: 3, metric: "wanda-sp"), profiles: [profile(layers: 3)]))
    #expect(!other.samples[0].features.spec.usesImportance && other.profile == nil)
    #expect(other.regime.metric == "wanda-sp")
}

@Test func artifactCarriesItsProfileAndFeaturisesPoliciesLikeItsTrainingSet() throws {
    let set = try #require(try TrainingSet(measured(count: 40, layers: 3), profiles: [profile(layers: 3)]))
    let artifact = try PredictorArtifact.train(training: set.samples, heldOut: [], hyperparameters: quickHyperparameters)
        .attaching(set.profile)
    let decoded = try PredictorArtifact.decode(jsonData: try artifact.jsonData())
    #expect(decoded.predictor.importanceProfile == set.profile)
    let policy = PruningPolicy.uniform(blocks: 3, attention: 0.5, mlp: 0.25)
    let viaPolicy = try decoded.predictor.predict(policies: [policy])[0]
    let viaFeatures = try decoded.predictor.predict(try PolicyFeatures(policy: policy, spec: decoded.predictor.spec,
                                                                       profile: set.profile))
    // Exact: the same features as a batch of one on both sides.
    #expect(viaPolicy == viaFeatures)
    #expect(try decoded.predictor.features(for: policy).value(FeatureSpec.attentionImportanceKept, layer: 0) == 0.6)
}

@Test func predictorReadingImportanceWithoutItsProfileIsAnInvalidArtifact() throws {
    let set = try #require(try TrainingSet(measured(count: 40, layers: 3), profiles: [profile(layers: 3)]))
    let bare = try PredictorArtifact.train(training: set.samples, heldOut: [], hyperparameters: quickHyperparameters)
    #expect(throws: PredictorError.self) { try PredictorArtifact.decode(jsonData: try bare.jsonData()) }
    #expect(throws: PredictorError.self) { try bare.predictor.features(for: PruningPolicy.uniform(blocks: 3, attention: 0, mlp: 0)) }
}
