import Testing
import PPFContracts
import PPFModel
@testable import PPFPruning
import PPFTensor

// MARK: - An empty plan changes nothing

@Test(arguments: MetricKind.allCases)
func anEmptyPlanLeavesEveryLogitBitIdentical(metric: MetricKind) throws {
    let weights = try tinyWeights(withBiases: true)
    let statistics = try tinyStatistics(weights)
    let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: metric.metric, model: tinyIdentity)
    let plan = try builder.plan(.uniform(blocks: 4, attention: 0, mlp: 0), targetRatio: 0)
    #expect(plan.achievedRatio == 0 && plan.biasCompensation == nil)
    let pruned = try PlanApplication.apply(plan, to: weights, statistics: statistics)
    let tokens = randomTokens(20, seed: 11)
    let dense = try LlamaModel(weights: weights).logits(for: tokens)
    let after = try LlamaModel(weights: pruned).logits(for: tokens)
    // Exact: an empty plan keeps every row in order, so the same weights run the same shapes.
    #expect(dense.storage == after.storage)
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func anEmptyPlanLeavesTheRealModelsLogitsBitIdentical() throws {
    let model = try #require(RealModel.model)
    let builder = try PlanBuilder(weights: model.weights, statistics: nil, metric: MagnitudeMetric(),
                                  model: ModelIdentity(name: "SmolLM2", checksum: "unchecked"))
    let plan = try builder.plan(.uniform(blocks: 30, attention: 0, mlp: 0))
    let pruned = try PlanApplication.apply(plan, to: model.weights)
    #expect(pruned.prunableParameterCount == model.weights.prunableParameterCount)
    let tokens = [1, 504, 3458, 282, 260, 1345, 28, 216, 1073, 7158, 30, 2]
    // Exact: an empty plan keeps every row in order, so the same weights run the same shapes
    // (in one process, so with the same OpenBLAS threads).
    #expect(try model.logits(for: tokens).storage == LlamaModel(weights: pruned).logits(for: tokens).storage)
}

// MARK: - Parameter counts

@Test func aPrunedModelsParameterCountEqualsTheAccountingForManyRandomPolicies() throws {
    let weights = try tinyWeights()
    let builder = try PlanBuilder(weights: weights, statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    var g = SeededGenerator(seed: 42)
    for _ in 0..<200 {
        let policy = randomPolicy(blocks: 4, using: &g)
        let plan = try builder.plan(policy)
        let pruned = try PlanApplication.apply(plan, to: weights)
        #expect(pruned.prunableParameterCount == plan.prunableParametersAfter)
        #expect(plan.prunableParametersBefore == weights.prunableParameterCount)
        #expect(plan.achievedRatio == (try builder.accounting.achievedRatio(policy)))
        #expect(pruned.configuration.blockCount == policy.layers.filter { !$0.dropped }.count)
        // Non-prunable parameters (embedding, norms of kept blocks) are untouched.
        let keptNorms = 2 * 24 * pruned.configuration.blockCount
        #expect(pruned.parameterCount - pruned.prunableParameterCount == 50 * 24 + 24 + keptNorms)
    }
}

// MARK: - Slicing equals masking (the key correctness proof)

/// The dense model with every removed structure silenced: a removed head's
/// output-projection columns, a removed channel's down-projection column, and
/// every such column of a dropped block, set to zero. Slicing must compute exactly this.
func maskedDenseWeights(_ weights: LlamaWeights, _ plan: PruningPlan) throws -> LlamaWeights {
    let hd = weights.configuration.headDimension
    var blocks = weights.blocks
    for layer in plan.layers {
        guard var attention = blocks[layer.layer].attention, var mlp = blocks[layer.layer].mlp else { continue }
        let keptHeadColumns = Set(layer.keptHeads.flatMap { $0 * hd ..< ($0 + 1) * hd })
        for c in 0..<attention.output.cols where layer.dropped || !keptHeadColumns.contains(c) {
            for r in 0..<attention.output.rows { attention.output[r, c] = 0 }
        }
        let keptChannels = Set(layer.keptChannels)
        for c in 0..<mlp.down.cols where layer.dropped || !keptChannels.contains(c) {
            for r in 0..<mlp.down.rows { mlp.down[r, c] = 0 }
        }
        blocks[layer.layer] = LlamaWeights.Block(attention: attention, mlp: mlp)
    }
    return try LlamaWeights(configuration: weights.configuration, tokenEmbedding: weights.tokenEmbedding, blocks: blocks,
                            outputNorm: weights.outputNorm, output: weights.output)
}

@Test(arguments: [MetricKind.magnitude, .wandaSP])
func aSlicedModelComputesTheSameLogitsAsTheMaskedDenseModel(metric: MetricKind) throws {
    let weights = try tinyWeights(seed: 21)
    let statistics = try tinyStatistics(weights)
    let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: metric.metric, model: tinyIdentity)
    var g = SeededGenerator(seed: 5)
    let tokens = randomTokens(24, seed: 9)
    for _ in 0..<20 {
        let plan = try builder.plan(randomPolicy(blocks: 4, using: &g, dropProbability: 0.25))
        let sliced = try LlamaModel(weights: PlanApplication.apply(plan, to: weights)).logits(for: tokens)
        let masked = try LlamaModel(weights: maskedDenseWeights(weights, plan)).logits(for: tokens)
        #expect(maxAbsDifference(sliced, masked) < 1e-4)
    }
}

@Test func slicingKeepsExactlyThePlannedHeadsGroupsAndChannels() throws {
    let weights = try tinyWeights(seed: 8)
    let builder = try PlanBuilder(weights: weights, statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    // Level 1/2 (2×2 or 3×1), 10 of 40 channels, block 2 dropped.
    let policy = PruningPolicy(layers: [
        LayerPolicy(attentionRatio: 0.5, mlpRatio: 0.25), LayerPolicy(attentionRatio: 0, mlpRatio: 0),
        LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true), LayerPolicy(attentionRatio: 0.8, mlpRatio: 0.5),
    ])
    let plan = try builder.plan(policy)
    let layer = plan.layers[0]
    let shape = try #require(layer.attentionShape)
    #expect(shape.queryHeads * 2 + shape.keptGroups * 2 == 12) // g(m+1) = 6 of 12
    #expect(layer.keptChannels.count == 30)
    #expect(plan.layers[3].attentionShape == AttentionShape(keptGroups: 1, headsPerGroup: 1)) // 0.8 → 5/6
    let pruned = try PlanApplication.apply(plan, to: weights)
    #expect(pruned.configuration.blockCount == 3)
    #expect(pruned.configuration.headCounts == [shape.queryHeads, 9, 1])
    #expect(pruned.configuration.keyValueHeadCounts == [shape.keptGroups, 3, 1])
    #expect(pruned.configuration.feedForwardLengths == [30, 40, 20])
    // Row 0 of the pruned q is row 0 of the first kept head; down column 0 is the first kept channel.
    let hd = 4
    let denseAttention = try #require(weights.blocks[0].attention), prunedAttention = try #require(pruned.blocks[0].attention)
    #expect(prunedAttention.query.row(0) == denseAttention.query.row(layer.keptHeads[0] * hd))
    let lastGroup = try #require(layer.keptGroups.last)
    #expect(prunedAttention.key.row(hd * (layer.keptGroups.count - 1)) == denseAttention.key.row(lastGroup * hd))
    #expect(prunedAttention.value.row(1) == denseAttention.value.row(layer.keptGroups[0] * hd + 1))
    #expect(prunedAttention.output[5, 0] == denseAttention.output[5, layer.keptHeads[0] * hd])
    let denseMLP = try #require(weights.blocks[0].mlp), prunedMLP = try #require(pruned.blocks[0].mlp)
    #expect(prunedMLP.down[3, 0] == denseMLP.down[3, layer.keptChannels[0]])
    #expect(prunedMLP.gate.row(29) == denseMLP.gate.row(layer.keptChannels[29]))
    // Block 3 of the dense model is block 2 of the pruned one.
    #expect(pruned.blocks[2].attention?.norm == weights.blocks[3].attention?.norm)
}

// MARK: - FLAP bias compensation

/// d = 4, 2 query heads in 1 KV group (hd = 2), FFN 3: small enough to check by hand.
@Test func flapBiasCompensationEqualsTheRemovedColumnsTimesTheirCalibrationMeans() throws {
    let c = try LlamaConfiguration(blockCount: 1, embeddingLength: 4, headCounts: [2], keyValueHeadCounts: [1],
                                   feedForwardLengths: [3], headDimension: 2, contextLength: 8, vocabularySize: 5)
    let random = try LlamaWeights.random(configuration: c, seed: 1)
    var block = random.blocks[0]
    // down = [[1, 1, 0], [0, -2, 0], [0, 0.5, 1], [2, 3, 0]]; channel 1 has the smallest fluctuation.
    block.mlp?.down = try Matrix(rows: 4, cols: 3, storage: [1, 1, 0, 0, -2, 0, 0, 0.5, 1, 2, 3, 0])
    block.mlp?.downBias = [0.5, 0, 0, -1]
    // Head 1 (output columns 2, 3) has the smallest fluctuation.
    block.attention?.output = try Matrix(rows: 4, cols: 4, storage: [1, 0, 1, 0, 0, 1, 0, 2, 1, 1, 0, 0, 0, 0, -1, 1])
    let weights = try LlamaWeights(configuration: c, tokenEmbedding: random.tokenEmbedding, blocks: [block],
                                   outputNorm: random.outputNorm, output: nil)
    func stats(_ mean: [Float], _ variance: [Float]) -> ChannelStatistics {
        ChannelStatistics(mean: mean, variance: variance, squaredNorm: variance)
    }
    let layer = LayerStatistics(attentionInput: stats([0, 0, 0, 0], [1, 1, 1, 1]),
                                attentionOutputInput: stats([1, 1, 2, -1], [1, 1, 0.01, 0.01]),
                                mlpInput: stats([0, 0, 0, 0], [1, 1, 1, 1]),
                                downInput: stats([5, 2, 7], [1, 0.001, 1]),
                                blockInfluence: 0.5)
    let statistics = CalibrationStatistics(modelChecksum: "hand", corpusChecksum: "hand", spec: CalibrationSpec(windows: 1, windowLength: 4),
                                           tokens: 4, seconds: 0, layers: [layer])
    let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: FluctuationMetric(), model: tinyIdentity)
    // Q = 2, G = 1: levels 0 and 1 − 1·2/3 = 1/3 (one head); MLP 1 of 3 channels.
    let plan = try builder.plan(PruningPolicy(layers: [LayerPolicy(attentionRatio: 1.0 / 3, mlpRatio: 1.0 / 3)]))
    #expect(plan.layers[0].keptHeads == [0] && plan.layers[0].keptChannels == [0, 2])
    #expect(plan.biasCompensation?.metric == "flap")
    let pruned = try PlanApplication.apply(plan, to: weights, statistics: statistics)
    // ffn_down bias = b₀ + W[:, 1]·mean₁ = [0.5, 0, 0, -1] + [1, -2, 0.5, 3]·2
    #expect(pruned.blocks[0].mlp?.downBias == [2.5, -4, 1, 5])
    // attn_output bias = W[:, 2]·2 + W[:, 3]·(−1) = [1, 0, 0, -1]·2 − [0, 2, 0, 1]
    #expect(pruned.blocks[0].attention?.outputBias == [2, -2, 0, -3])
    // Without statistics the compensation cannot be applied.
    expectPruningError(.missingStatistics) { _ = try PlanApplication.apply(plan, to: weights) }
}

@Test func flapCompensationOfACalibratedRandomBlockIsTheRemovedColumnsTimesTheirMeans() throws {
    let weights = try tinyWeights(seed: 13, blocks: 1)
    let statistics = try tinyStatistics(weights)
    let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: FluctuationMetric(), model: tinyIdentity)
    let plan = try builder.plan(PruningPolicy(layers: [LayerPolicy(attentionRatio: 0.25, mlpRatio: 0.3)]))
    let pruned = try PlanApplication.apply(plan, to: weights, statistics: statistics)
    let bias = try #require(pruned.blocks[0].mlp?.downBias)
    let down = try #require(weights.blocks[0].mlp?.down)
    let means = try #require(statistics.layers[0].downInput?.mean.values)
    let removed = (0..<40).filter { !plan.layers[0].keptChannels.contains($0) }
    #expect(removed.count == 12)
    for r in 0..<24 {
        let expected = removed.reduce(0.0) { $0 + Double(down[r, $1]) * Double(means[$1]) }
        #expect(abs(Double(bias[r]) - expected) < 1e-5)
    }
}
