import Foundation
import PPFContracts
import PPFModel
import PPFTensor
import Testing

// MARK: - SmolLM2's accounting

/// SmolLM2-135M's shapes (30 blocks, d = 576, 9 q / 3 kv heads of 64, FFN 1536).
private func smolLM2Configuration() throws -> LlamaConfiguration {
    try LlamaConfiguration(blockCount: 30, embeddingLength: 576, headCounts: [9], keyValueHeadCounts: [3],
                           feedForwardLengths: [1536], headDimension: 64, contextLength: 2048, vocabularySize: 49152)
}

/// Per block: `A = 576·64·(2·9 + 2·3) = 884 736`, `M = 3·576·1536 = 2 654 208`,
/// attention levels `1 − g(m+1)/12` = {0, 1/4, 1/3, 1/2, 2/3, 3/4, 5/6}, then 1
/// (no head left), and MLP channels of `3·576 = 1728` parameters.
@Test func smolLM2sAccountingHasItsShapesCountsAndGQALevels() throws {
    let accounting = ParameterAccounting(configuration: try smolLM2Configuration())
    let layer = accounting.layers[0]
    #expect(layer.attentionParameters == 884_736)
    #expect(layer.mlpParameters == 2_654_208)
    #expect(layer.parametersPerChannel == 1728 && layer.mlpChannels == 1536)
    #expect(accounting.prunableParameters == 30 * (884_736 + 2_654_208))
    let expected: [Double] = [0, 0.25, 1.0 / 3, 0.5, 2.0 / 3, 0.75, 5.0 / 6, 1]
    #expect(layer.attentionLevels.count == expected.count)
    for (level, value) in zip(layer.attentionLevels, expected) { #expect(abs(level.removal - value) < 1e-12) }
    #expect(layer.attentionLevels.last?.shapes.isEmpty == true, "the level 1 keeps no layout")
    // Every (g, m) lands on 1 − g(m+1)/12, with the kept count to match.
    for level in layer.attentionLevels.dropLast() {
        for shape in level.shapes {
            #expect(abs(level.removal - (1 - Double(shape.keptGroups * (shape.headsPerGroup + 1)) / 12)) < 1e-12)
            #expect(level.keptParameters == layer.attentionParameters(shape))
        }
    }
    #expect(layer.attentionLevels.first { abs($0.removal - 2.0 / 3) < 1e-9 }?.shapes
            == [AttentionShape(keptGroups: 2, headsPerGroup: 1), AttentionShape(keptGroups: 1, headsPerGroup: 3)])
}

@Test func aPolicyOfExactLevelsRemovesTheLevelsShareAndItsChannels() throws {
    let accounting = ParameterAccounting(configuration: try smolLM2Configuration())
    let levels = accounting.layers[0].attentionLevels.dropLast()
    var g = SeededGenerator(seed: 77)
    for _ in 0..<50 {
        var expected = 0
        let layers = (0..<30).map { _ -> LayerPolicy in
            if g.nextUniform() < 0.1 { expected += 884_736 + 2_654_208; return LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true) }
            let level = g.element(of: Array(levels))!
            let channels = g.next(in: 0...1382)
            expected += (884_736 - level.keptParameters) + channels * 1728
            return LayerPolicy(attentionRatio: level.removal, mlpRatio: Double(channels) / 1536)
        }
        let policy = PruningPolicy(layers: layers)
        guard policy.layers.contains(where: { !$0.dropped }) else { continue }
        #expect(accounting.prunableParameters - (try accounting.keptParameters(policy)) == expected)
        #expect(try accounting.achievedRatio(policy) == Double(expected) / Double(accounting.prunableParameters))
    }
}

@Test func aContinuousAttentionRatioMapsToTheNearestLevelAndTiesKeepMore() throws {
    let layer = ParameterAccounting(configuration: try smolLM2Configuration()).layers[0]
    #expect(layer.nearestAttentionLevel(to: 0.1).removal == 0)
    #expect(layer.nearestAttentionLevel(to: 0.125).removal == 0) // tie between 0 and 1/4 keeps more
    #expect(layer.nearestAttentionLevel(to: 0.2).removal == 0.25)
    #expect(abs(layer.nearestAttentionLevel(to: 0.4).removal - 1.0 / 3) < 1e-12)
    #expect(abs(layer.nearestAttentionLevel(to: 0.9).removal - 5.0 / 6) < 1e-12)
    #expect(layer.nearestAttentionLevel(to: 0.95).removal == 1) // only valid for a dropped block
    #expect(layer.removedChannels(for: 0.3) == 461) // round(460.8)
}

// MARK: - Uneven blocks and the ratio's definition

@Test func blocksWithoutAttentionOrMLPCountNothingThereAndDroppedBlocksCountWhole() throws {
    // Block 1 has no MLP, block 2 no attention (a previously pruned model).
    let configuration = try LlamaConfiguration(
        blockCount: 3, embeddingLength: 64, headCounts: [4, 2, 0], keyValueHeadCounts: [2, 1, 0],
        feedForwardLengths: [128, 0, 96], headDimension: 16, contextLength: 256, vocabularySize: 100)
    let accounting = ParameterAccounting(configuration: configuration)
    #expect(accounting.layers.map(\.attentionParameters) == [64 * 16 * 12, 64 * 16 * 6, 0])
    #expect(accounting.layers.map(\.mlpParameters) == [3 * 64 * 128, 0, 3 * 64 * 96])
    let policy = PruningPolicy(layers: [LayerPolicy(attentionRatio: 0.5, mlpRatio: 0.25),
                                        LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true),
                                        LayerPolicy(attentionRatio: 0, mlpRatio: 0.5)])
    // Block 0 at 1/2: keep 1 group of 2 heads, d·hd·(2·2 + 2·1) = 6 of 12 units; 32 channels.
    let removed = 64 * 16 * 6 + 32 * 192 + 64 * 16 * 6 + 48 * 192
    #expect(try accounting.removals(policy) == [.pruned(attentionParameters: Double(64 * 16 * 6), channels: 32), .dropped,
                                                .pruned(attentionParameters: 0, channels: 48)])
    #expect(try accounting.keptParameters(policy) == accounting.prunableParameters - removed)
    #expect(try accounting.achievedRatio(policy) == Double(removed) / Double(accounting.prunableParameters))
}

@Test func policiesTheModelCannotRunAreModelErrorsWithNamedCodes() throws {
    let accounting = ParameterAccounting(configuration: try smolLM2Configuration())
    func code(_ policy: PruningPolicy) -> ModelError.Code? {
        do { _ = try accounting.achievedRatio(policy); return nil } catch { return error.code }
    }
    #expect(code(.uniform(blocks: 29, attention: 0.25, mlp: 0.3)) == .policyShapeMismatch)
    #expect(code(.uniform(blocks: 30, attention: 1.5, mlp: 0.3)) == .invalidRatio)
    #expect(code(.uniform(blocks: 30, attention: .nan, mlp: 0.3)) == .invalidRatio)
    #expect(code(.uniform(blocks: 30, attention: 0.95, mlp: 0.3)) == .removesEveryHead)
    #expect(code(.uniform(blocks: 30, attention: 0.25, mlp: 1)) == .removesEveryChannel)
    var allDropped = PruningPolicy.uniform(blocks: 30, attention: 0, mlp: 0)
    for index in allDropped.layers.indices { allDropped.layers[index].dropped = true }
    #expect(code(allDropped) == .dropsEveryBlock)
    #expect(code(.uniform(blocks: 30, attention: 0.25, mlp: 0.3)) == nil)
}

@Test func aBlockGivenByItsShapesIsAccountedLikeAConfigurationBlock() throws {
    let fromConfiguration = ParameterAccounting(configuration: try smolLM2Configuration()).layers[0]
    let fromShapes = try LayerAccounting(embeddingLength: 576, headDimension: 64, queryHeads: 9, keyValueGroups: 3,
                                         feedForwardLength: 1536)
    #expect(fromShapes == fromConfiguration)
    for (q, g, d) in [(5, 2, 64), (4, 0, 64), (0, 2, 64), (4, 2, 0), (-4, -2, 64)] {
        #expect { _ = try LayerAccounting(embeddingLength: d, headDimension: 16, queryHeads: q, keyValueGroups: g,
                                          feedForwardLength: 128) } throws: { error in
            (error as? ModelError)?.code == .invalidConfiguration
        }
    }
}

@Test func theRatioOfNoRemovalsIsZeroAndOfAllDropsIsOne() throws {
    let layers = ParameterAccounting(configuration: try smolLM2Configuration()).layers
    #expect(ParameterAccounting.achievedRatio(of: Array(repeating: .pruned(attentionParameters: 0, channels: 0), count: 30), in: layers) == 0)
    #expect(ParameterAccounting.achievedRatio(of: Array(repeating: .dropped, count: 30), in: layers) == 1)
    #expect(ParameterAccounting.achievedRatio(of: [BlockRemoval](), in: [LayerAccounting]()) == 0, "nothing to prune")
}
