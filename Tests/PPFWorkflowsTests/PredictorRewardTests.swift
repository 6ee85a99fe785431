import Foundation
import PPFAgent
import PPFWorkflows
import PPFContracts
import PPFModel
import PPFPredictor
import PPFTensor
import PPFTestSupport
import Testing

// MARK: - A small trained predictor

/// A 4-block predictor trained on a known function: block 0 is the sensitive
/// one, MLP costs more than attention.
private func trainedPredictor(globals: [String] = [], blocks: Int = 4) throws -> PerformancePredictor {
    let spec = try FeatureSpec(layerCount: blocks, globalChannels: globals)
    var generator = SeededGenerator(seed: 5)
    let samples = try (0..<120).map { index in
        let policy = PruningPolicy(layers: (0..<blocks).map { _ in
            LayerPolicy(attentionRatio: Double.random(in: 0...0.6, using: &generator),
                        mlpRatio: Double.random(in: 0...0.6, using: &generator))
        })
        let log = 2.5 + policy.layers.enumerated().reduce(0.0) { sum, item in
            sum + (item.offset == 0 ? 2.0 : 0.5) * (0.5 * item.element.attentionRatio + item.element.mlpRatio)
        }
        let values = Dictionary(uniqueKeysWithValues: globals.map { ($0, 0.3) })
        return TrainingSample(id: "s\(index)", features: try PolicyFeatures(policy: policy, spec: spec, globals: values),
                              perplexity: exp(log))
    }
    return try PerformancePredictor.train(
        on: samples, hyperparameters: PredictorHyperparameters(ensembleSize: 2, seed: 7, maxEpochs: 120, patience: 30))
}

// MARK: - Comparing predictions

/// Relative tolerance for one predictor answer computed through other gemm
/// shapes (a batch of one against a batch of two). OpenBLAS picks kernels, and
/// so summation orders, by shape and CPU, and reordering a sum of n fp32 terms
/// moves it by at most about n·ε·Σ|terms|, ε = 2⁻²³ ≈ 1.2e-7. The default
/// predictor network (kernel 3, convolutions [16, 16], head 32; 4 blocks × 4
/// policy channels here) has reductions of at most 48 terms (conv2: 3 × 16
/// inputs) in five stages (two convolutions, pooling over 4 blocks, two head
/// layers): the worst case, 48·ε ≈ 6e-6 per stage, stays a few 1e-5 of the
/// activations' scale over the network (in practice far less), so 1e-4 is
/// safe yet meaningful: another policy's prediction differs by far more (the
/// test checks that too).
private let batchShapeTolerance = 1e-4

// MARK: - Reward

@Test func thePredictorRewardAnswersWithTheEnsembleMeanAndSpreadOfEachPolicy() throws {
    let predictor = try trainedPredictor()
    let reward = try PredictorReward(predictor: predictor, blockCount: 4)
    let policies = [0.1, 0.4].map { PruningPolicy.uniform(blocks: 4, attention: $0, mlp: $0) }
    let answers = try reward.predictions(for: policies)
    let direct = try predictor.predict(policies.map { try PolicyFeatures(policy: $0, spec: predictor.spec) })
    // Exact: the same two-policy batch through the same kernels on both sides.
    #expect(answers.map(\.mean) == direct.map(\.logPerplexity))
    #expect(answers.map(\.std) == direct.map(\.logPerplexityStd))
    #expect(answers[0].mean < answers[1].mean, "more pruning predicts a higher perplexity")
    // Exact: the reward model is `predictions(for:)` on the same two-policy batch.
    #expect(try reward.model(policies, [0.1, 0.4]) == answers)
    // Not exact: a batch of one runs other gemm shapes than a batch of two (see
    // `batchShapeTolerance`). The std gets an absolute bound at the mean's scale:
    // its rounding error is that of the members' outputs (≈ the mean's), not a
    // fraction of the spread itself.
    let single = try reward.prediction(for: policies[1])
    let scale = max(1, abs(answers[1].mean))
    #expect(isClose(single.mean, answers[1].mean, relative: batchShapeTolerance),
            "batch of one \(single.mean) vs batch of two \(answers[1].mean)")
    #expect(isClose(single.std, answers[1].std, relative: batchShapeTolerance, absolute: batchShapeTolerance * scale),
            "batch of one \(single.std) vs batch of two \(answers[1].std)")
    #expect(!isClose(answers[0].mean, answers[1].mean, relative: 100 * batchShapeTolerance),
            "the tolerance still tells policies apart")
}

@Test func aPredictorThatNeedsMoreThanThePolicyOrAnotherBlockCountIsRefused() throws {
    let withGlobals = try trainedPredictor(globals: ["achievedRatio"])
    #expect { _ = try PredictorReward(predictor: withGlobals, blockCount: 4) } throws: { error in
        (error as? AgentError)?.code == .unsupportedPredictor
    }
    let plain = try trainedPredictor()
    #expect { _ = try PredictorReward(predictor: plain, blockCount: 30) } throws: { error in
        (error as? AgentError)?.code == .unsupportedPredictor && "\(error)".contains("30 blocks")
    }
}

@Test func anAgentTrainedAgainstThePredictorSparesTheBlockThePredictorCallsSensitive() throws {
    let reward = try PredictorReward(predictor: try trainedPredictor(), blockCount: 4)
    let budget = try ParameterBudget.groupedQueryAttention(blocks: 4, hiddenSize: 64, queryHeads: 4, kvHeads: 2,
                                                          headDimension: 16, ffnChannels: 128, allowsBlockDrop: false)
    var configuration = TrainingConfiguration()
    configuration.iterations = 60
    configuration.maximumRatio = 0.5
    var steps: [Int] = []
    let (agent, report) = try PruningAgent.train(budget: budget, configuration: configuration,
                                                 progress: { steps.append($0.iteration) }, reward: reward.model)
    #expect(steps == Array(0..<60), "progress is told every step, in order")
    #expect(report.curve.count == 60)
    let policy = try agent.policy(forRatio: 0.3)
    let removed = zip(policy.layers, budget.layers).map { layer, block in
        (layer.attentionRatio * Double(block.attentionParameters) + layer.mlpRatio * Double(block.mlpParameters))
            / Double(block.blockParameters)
    }
    // Blocks 1–3 cost the same, so which of them lose what is arbitrary, and another may be spared
    // too (OpenBLAS 0.3.34 on EPYC spares block 2 as well): block 0 loses the least, and far less than the rest.
    let others = removed.dropFirst()
    #expect(removed[0] <= others.min()! && removed[0] < 0.5 * others.reduce(0, +) / Double(others.count),
            "block 0 loses the least: \(removed)")
    let uniform = try agent.projection.project(action: [Double](repeating: 0, count: budget.actionCount), targetRatio: 0.3)
    #expect(try reward.prediction(for: policy).mean < reward.prediction(for: uniform).mean,
            "the agent beats the uniform policy under its own reward")

    var generations: [Int] = []
    let search = try agent.search(ratio: 0.3, progress: { generation, _ in generations.append(generation) },
                                  reward: reward.model)
    #expect(generations == Array(1...40), "search progress is told after every generation")
    #expect((search.candidates.first?.reward ?? -.infinity) >= search.start.reward)
}

@Test func aPredictorReadingRetainedImportanceIsUsedWithItsOwnProfile() throws {
    let blocks = 4
    let profile = ImportanceProfile(modelId: "m", metric: "flap", layers: (0..<blocks).map { _ in
        ImportanceProfile.Layer(attentionRemoval: [0, 0.5], attentionKept: [1, 0.7],
                                mlpKept: (0...10).map { sqrt(Double($0) / 10) })
    })
    let spec = try FeatureSpec(layerCount: blocks, extraLayerChannels: FeatureSpec.importanceChannels)
    var generator = SeededGenerator(seed: 9)
    let samples = try (0..<80).map { index in
        let policy = PruningPolicy(layers: (0..<blocks).map { _ in
            LayerPolicy(attentionRatio: Double.random(in: 0...0.6, using: &generator),
                        mlpRatio: Double.random(in: 0...0.6, using: &generator))
        })
        let kept = try profile.retained(by: policy).mlp
        return TrainingSample(id: "i\(index)", features: try PolicyFeatures(policy: policy, spec: spec, profile: profile),
                              perplexity: exp(3 + kept.map { 1 - $0 }.reduce(0, +)))
    }
    var hyperparameters = PredictorHyperparameters(seed: 2)
    hyperparameters.ensembleSize = 2
    hyperparameters.maxEpochs = 60
    let bare = try PerformancePredictor.train(on: samples, hyperparameters: hyperparameters)
    // Without its profile the importance channels cannot be built from a policy.
    #expect { _ = try PredictorReward(predictor: bare, blockCount: blocks) } throws: { error in
        (error as? AgentError)?.code == .unsupportedPredictor
    }
    let reward = try PredictorReward(predictor: bare.attaching(profile), blockCount: blocks)
    let policy = PruningPolicy.uniform(blocks: blocks, attention: 0.5, mlp: 0.3)
    let direct = try bare.predict(try PolicyFeatures(policy: policy, spec: spec, profile: profile))
    // Exact: a batch of one on both sides, the same weights and the same features.
    #expect(try reward.prediction(for: policy).mean == direct.logPerplexity)
}
