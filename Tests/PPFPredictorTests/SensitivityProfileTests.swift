import Foundation
import PPFContracts
import PPFTensor
import Testing
@testable import PPFPredictor

// MARK: - A synthetic model whose sensitivity is known

/// Log-perplexity of a model with a known per-block sensitivity: block `l`'s
/// attention costs `a_l · r²` and its MLP `m_l · r^1.5` (convex, as pruning
/// curves are), a dropped block `d_l`, plus an interaction
/// `interaction · (Σ rises)²` that no additive model can see.
private struct KnownSensitivityModel {
    let dense = 3.0
    let attention: [Double]
    let mlp: [Double]
    let drop: [Double]
    let interaction: Double

    init(layers: Int, interaction: Double) {
        // Early and late blocks matter most, as in real LLMs.
        let depth: [Double] = (0..<layers).map { Double($0) / Double(layers - 1) }
        attention = depth.map { (d: Double) -> Double in 0.2 + 1.5 * (d - 0.4) * (d - 0.4) }
        mlp = depth.map { (d: Double) -> Double in 0.3 + 2 * (d - 0.5) * (d - 0.5) + (d == 0 ? 1 : 0) }
        drop = depth.map { (d: Double) -> Double in 1.5 + 3 * (d - 0.5) * (d - 0.5) }
        self.interaction = interaction
    }

    func rises(_ policy: PruningPolicy) -> [Double] {
        policy.layers.enumerated().map { index, layer in
            layer.dropped ? drop[index]
                : attention[index] * layer.attentionRatio * layer.attentionRatio + mlp[index] * pow(layer.mlpRatio, 1.5)
        }
    }

    func logPerplexity(_ policy: PruningPolicy) -> Double {
        let sum = rises(policy).reduce(0, +)
        return dense + sum + interaction * sum * sum
    }

    /// The profile's probes: the dense policy and, per block, attention and MLP at `levels`, and the drop.
    func probes(levels: [Double]) -> [PruningPolicy] {
        let layers = attention.count
        let dense = PruningPolicy.uniform(blocks: layers, attention: 0, mlp: 0)
        var probes = [dense]
        for block in 0..<layers {
            for level in levels {
                var a = dense, m = dense
                a.layers[block] = LayerPolicy(attentionRatio: level, mlpRatio: 0)
                m.layers[block] = LayerPolicy(attentionRatio: 0, mlpRatio: level)
                probes += [a, m]
            }
            var d = dense
            d.layers[block] = LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true)
            probes.append(d)
        }
        return probes
    }

    /// Random policies whose per-block ratios spread around `ratio`.
    func randomPolicies(count: Int, ratios: ClosedRange<Double>, seed: UInt64) -> [PruningPolicy] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let target = Double.random(in: ratios, using: &random)
            return PruningPolicy(layers: attention.indices.map { _ in
                LayerPolicy(attentionRatio: min(0.9, max(0, target + Double.random(in: -0.25...0.25, using: &random))),
                            mlpRatio: min(0.9, max(0, target + Double.random(in: -0.25...0.25, using: &random))))
            })
        }
    }

    func measured(_ policies: [PruningPolicy], firstId: Int64 = 0) -> [MeasuredSample] {
        policies.enumerated().map { index, policy in
            MeasuredSample(measurementId: firstId + Int64(index), policyId: UUID(), policy: policy, metric: "flap",
                           split: "validation", tokenBudget: 256, window: 128, perplexity: exp(logPerplexity(policy)))
        }
    }
}

private let levels = [0.3, 0.6, 0.9]

// MARK: - Reading the profile

@Test func profileReadFromProbesRecoversEveryBlocksCurveAndTheDropAtTheProbes() throws {
    let model = KnownSensitivityModel(layers: 6, interaction: 0)
    let probes = model.probes(levels: levels)
    let profile = try #require(SensitivityProfile(measured: probes.map { ($0, model.logPerplexity($0)) }, layerCount: 6))
    #expect(abs(profile.denseLogPerplexity - model.dense) < 1e-12)
    for block in 0..<6 {
        for level in levels {
            #expect(abs(profile.blocks[block].attention.rise(at: level) - model.attention[block] * level * level) < 1e-12)
            #expect(abs(profile.blocks[block].mlp.rise(at: level) - model.mlp[block] * pow(level, 1.5)) < 1e-12)
        }
        #expect(abs((profile.blocks[block].drop ?? .nan) - model.drop[block]) < 1e-12)
    }
    #expect(profile.coverage.attention == 18 && profile.coverage.mlp == 18 && profile.coverage.drops == 6)
    // With no interaction the additive estimate is the truth up to the linear interpolation between
    // probes 0.3 apart: at most 0.3²/4 · a for a·r² and 0.0243 · m for m·r^1.5 (at r ≈ 0.13), per block.
    let bound = zip(model.attention, model.mlp).map { 0.0225 * $0 + 0.0243 * $1 }.reduce(0, +)
    var worst = 0.0
    for policy in model.randomPolicies(count: 50, ratios: 0.1...0.5, seed: 4) {
        worst = max(worst, abs(try profile.estimate(policy) - model.logPerplexity(policy)))
    }
    #expect(worst <= bound && worst > 0)
    // The same floor through the training set's samples: the additive estimate alone, no training.
    let random = model.randomPolicies(count: 50, ratios: 0.1...0.5, seed: 4)
    let set = try #require(try TrainingSet(model.measured(probes + random)))
    let floor = try #require(set.sensitivity).evaluate(on: set.samples)
    #expect(floor.count == 50 && floor.logPerplexityRMSE <= bound && floor.kendallTau > 0.9)
    #expect(throws: PredictorError.self) {
        try profile.evaluate(on: try #require(try TrainingSet(model.measured(probes + random), withSensitivity: false)).samples)
    }
    // A probe's own estimate is exact.
    for probe in probes { #expect(abs(try profile.estimate(probe) - model.logPerplexity(probe)) < 1e-9) }
}

@Test func profileNeedsTheDensePolicyAndBothKindsOfProbeForEveryBlock() {
    let model = KnownSensitivityModel(layers: 4, interaction: 0)
    let probes = model.probes(levels: levels)
    func read(_ policies: [PruningPolicy]) -> SensitivityProfile? {
        SensitivityProfile(measured: policies.map { ($0, model.logPerplexity($0)) }, layerCount: 4)
    }
    #expect(read(probes) != nil)
    #expect(read(Array(probes.dropFirst())) == nil, "no dense policy")
    let noMLPOfBlock2 = probes.filter {
        if case .mlp(block: 2, _) = SensitivityProfile.probe($0) { return false }
        return true
    }
    #expect(read(noMLPOfBlock2) == nil, "block 2 has no MLP probe")
    // Drops are optional: a dropped block is then estimated as attention and MLP pruned whole.
    let noDrops = probes.filter {
        if case .drop = SensitivityProfile.probe($0) { return false }
        return true
    }
    let profile = read(noDrops)
    #expect(profile?.blocks.allSatisfy { $0.drop == nil } == true)
    var dropped = PruningPolicy.uniform(blocks: 4, attention: 0, mlp: 0)
    dropped.layers[1] = LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true)
    let expected = profile.map { $0.blocks[1].attention.rise(at: 1) + $0.blocks[1].mlp.rise(at: 1) }
    #expect(profile.map { try? $0.blockRises(dropped)[1] } == expected)
}

@Test func probeClassificationAndCurveExtrapolation() {
    var policy = PruningPolicy.uniform(blocks: 3, attention: 0, mlp: 0)
    #expect(SensitivityProfile.probe(policy) == .dense)
    policy.layers[1] = LayerPolicy(attentionRatio: 0.5, mlpRatio: 0)
    #expect(SensitivityProfile.probe(policy) == .attention(block: 1, ratio: 0.5))
    policy.layers[1] = LayerPolicy(attentionRatio: 0.5, mlpRatio: 0.2)
    #expect(SensitivityProfile.probe(policy) == nil, "attention and MLP of one block together are not a probe")
    policy.layers[1] = LayerPolicy(attentionRatio: 0, mlpRatio: 0.2)
    policy.layers[2] = LayerPolicy(attentionRatio: 0, mlpRatio: 0.2)
    #expect(SensitivityProfile.probe(policy) == nil, "two blocks pruned")

    let curve = SensitivityProfile.Curve(points: [(0.6, 0.5), (0.3, 0.1), (0.3, 0.3)])
    #expect(curve.ratios == [0.3, 0.6] && curve.rises == [0.2, 0.5], "sorted, repeats averaged")
    #expect(abs(curve.rise(at: 0.15) - 0.1) < 1e-12)
    #expect(abs(curve.rise(at: 0.45) - 0.35) < 1e-12)
    #expect(abs(curve.rise(at: 0.9) - 0.8) < 1e-12, "the last slope continues")
    let falling = SensitivityProfile.Curve(points: [(0.3, 0.4), (0.6, 0.2)])
    #expect(falling.rise(at: 0.9) == 0.2, "never predicted to improve by pruning more")
}

@Test func craftedSensitivityProfilesAreRefusedWhenDecoded() throws {
    let valid = #"{"denseLogPerplexity":3,"blocks":[{"attention":{"ratios":[0.3],"rises":[0.1]},"mlp":{"ratios":[0.5],"rises":[0.2]}}]}"#
    #expect(try JSONDecoder().decode(SensitivityProfile.self, from: Data(valid.utf8)).blocks.count == 1)
    for crafted in [
        #"{"denseLogPerplexity":3,"blocks":[{"attention":{"ratios":[0.3,0.6],"rises":[0.1]},"mlp":{"ratios":[],"rises":[]}}]}"#,
        #"{"denseLogPerplexity":3,"blocks":[{"attention":{"ratios":[0.6,0.3],"rises":[0.1,0.2]},"mlp":{"ratios":[],"rises":[]}}]}"#,
        #"{"denseLogPerplexity":3,"blocks":[{"attention":{"ratios":[1.5],"rises":[0.1]},"mlp":{"ratios":[],"rises":[]}}]}"#,
        #"{"denseLogPerplexity":3,"blocks":[]}"#,
    ] {
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SensitivityProfile.self, from: Data(crafted.utf8)) }
    }
}

// MARK: - Through the training set and the predictor

@Test func trainingSetReadsTheProfileFromItsProbesAndKeepsThemOutOfTheSamples() throws {
    let model = KnownSensitivityModel(layers: 6, interaction: 0.05)
    let probes = model.probes(levels: levels)
    let random = model.randomPolicies(count: 30, ratios: 0.1...0.5, seed: 1)
    let measured = model.measured(probes + random)
    let set = try #require(try TrainingSet(measured))
    #expect(set.sensitivity != nil && set.probeCount == probes.count)
    #expect(set.samples.count == random.count)
    #expect(set.samples[0].features.spec.usesSensitivity)
    #expect(set.measurementIds.count == measured.count, "the probes' measurements are part of the version")
    // Asked not to, or without the probes, there is no profile and every policy is a sample.
    let plain = try #require(try TrainingSet(measured, withSensitivity: false))
    #expect(plain.sensitivity == nil && plain.samples.count == measured.count && !plain.samples[0].features.spec.usesSensitivity)
}

@Test func additivePlusResidualPredictorRecoversTheKnownModelAndExtrapolates() throws {
    let model = KnownSensitivityModel(layers: 8, interaction: 0.04)
    let probes = model.measured(model.probes(levels: levels))
    // Trained only on mild policies; judged on mild ones and on much harder ones it never saw.
    let training = model.measured(model.randomPolicies(count: 120, ratios: 0.05...0.3, seed: 2), firstId: 1000)
    let near = model.randomPolicies(count: 40, ratios: 0.05...0.3, seed: 3)
    let far = model.randomPolicies(count: 40, ratios: 0.45...0.6, seed: 5)
    let hyperparameters = PredictorHyperparameters(ensembleSize: 3, seed: 11, maxEpochs: 150, patience: 25)

    func errors(withSensitivity: Bool) throws -> (near: RankingMetrics, far: RankingMetrics) {
        let set = try #require(try TrainingSet(probes + training, withSensitivity: withSensitivity))
        let predictor = try PerformancePredictor.train(on: set.samples, hyperparameters: hyperparameters)
            .attaching(sensitivity: set.sensitivity)
        func metrics(_ policies: [PruningPolicy]) throws -> RankingMetrics {
            try RankingMetrics(predictedLogPerplexity: try predictor.predict(policies: policies).map(\.logPerplexity),
                               measuredLogPerplexity: policies.map(model.logPerplexity))
        }
        return (try metrics(near), try metrics(far))
    }
    let grounded = try errors(withSensitivity: true)
    let plain = try errors(withSensitivity: false)
    // Near the data both are good; the grounded one is at least as good.
    #expect(grounded.near.perplexityMAPE < 0.05)
    #expect(grounded.near.kendallTau > 0.9)
    // Far from it, only the profile keeps the predictor honest.
    #expect(grounded.far.perplexityMAPE < 0.5 * plain.far.perplexityMAPE)
    #expect(grounded.far.kendallTau > 0.8)
}

@Test func predictorReadingTheProfileCarriesItThroughItsArtifact() throws {
    let model = KnownSensitivityModel(layers: 4, interaction: 0.02)
    let set = try #require(try TrainingSet(model.measured(model.probes(levels: levels)
        + model.randomPolicies(count: 20, ratios: 0.1...0.4, seed: 9))))
    let bare = try PredictorArtifact.train(training: set.samples, heldOut: [], hyperparameters: quickHyperparameters)
    // Without its profile the version is unusable, and says so.
    #expect(!bare.predictor.featurisesPoliciesAlone)
    #expect(throws: PredictorError.self) { try PredictorArtifact.decode(jsonData: try bare.jsonData()) }
    let artifact = bare.attaching(sensitivity: set.sensitivity)
    let decoded = try PredictorArtifact.decode(jsonData: try artifact.jsonData())
    #expect(decoded.predictor.sensitivityProfile == set.sensitivity && decoded.predictor.featurisesPoliciesAlone)
    let policy = PruningPolicy.uniform(blocks: 4, attention: 0.3, mlp: 0.3)
    let viaPolicy = try decoded.predictor.predict(policies: [policy])[0]
    let viaFeatures = try decoded.predictor.predict(try PolicyFeatures(
        policy: policy, spec: decoded.predictor.spec, profile: nil, sensitivity: set.sensitivity))
    #expect(viaPolicy == viaFeatures)
}
