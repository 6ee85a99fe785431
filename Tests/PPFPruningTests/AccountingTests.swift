import Foundation
import Testing
import PPFContracts
import PPFModel
@testable import PPFPruning
import PPFTensor

// MARK: - Agreement with the agent's ParameterBudget

/// SmolLM2-135M's shapes (30 blocks, d = 576, 9 q / 3 kv heads of 64, FFN 1536).
func smolLM2Configuration() throws -> LlamaConfiguration {
    try LlamaConfiguration(blockCount: 30, embeddingLength: 576, headCounts: [9], keyValueHeadCounts: [3],
                           feedForwardLengths: [1536], headDimension: 64, contextLength: 2048, vocabularySize: 49152)
}

/// `ParameterBudget.groupedQueryAttention(blocks: 30, hiddenSize: 576, queryHeads: 9, kvHeads: 3,
/// headDimension: 64, ffnChannels: 1536, …)` on branch `agent` gives, per block,
/// `attentionParameters = 576·64·24 = 884 736`, `mlpParameters = 3·576·1536 = 2 654 208`,
/// `attentionLevels = 1 − g(m+1)/12` = [0, 1/4, 1/3, 1/2, 2/3, 3/4, 5/6] and MLP steps of 1/1536.
/// These numbers are copied here, not imported: PPFPruning does not depend on PPFAgent.
@Test func theAccountingAgreesWithTheAgentsParameterBudgetForSmolLM2() throws {
    let accounting = ParameterAccounting(configuration: try smolLM2Configuration())
    let layer = accounting.layers[0]
    #expect(layer.attentionParameters == 884_736)
    #expect(layer.mlpParameters == 2_654_208)
    #expect(accounting.prunableParameters == 30 * (884_736 + 2_654_208))
    let agentLevels: [Double] = [0, 0.25, 1.0 / 3, 0.5, 2.0 / 3, 0.75, 5.0 / 6]
    let partial = layer.attentionLevels.filter { !$0.shapes.isEmpty }
    #expect(partial.count == agentLevels.count)
    for (ours, theirs) in zip(partial, agentLevels) { #expect(abs(ours.removal - theirs) < 1e-12) }
    // Every (g, m) lands on 1 − g(m+1)/12.
    for level in partial {
        for shape in level.shapes {
            #expect(abs(level.removal - (1 - Double(shape.keptGroups * (shape.headsPerGroup + 1)) / 12)) < 1e-12)
        }
    }
    #expect(partial.first { abs($0.removal - 2.0 / 3) < 1e-9 }?.shapes == [AttentionShape(keptGroups: 2, headsPerGroup: 1),
                                                                          AttentionShape(keptGroups: 1, headsPerGroup: 3)])
    // The agent's removedParameters: level·A + channels·(M/F), for a policy of exact levels.
    var g = SeededGenerator(seed: 77)
    for _ in 0..<50 {
        var expected = 0.0
        let layers = (0..<30).map { _ -> LayerPolicy in
            if Double.random(in: 0..<1, using: &g) < 0.1 { expected += 884_736 + 2_654_208; return LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true) }
            let level = agentLevels.randomElement(using: &g) ?? 0
            let channels = Int.random(in: 0...1382, using: &g) // the agent keeps ≥ 10 % of 1536
            expected += level * 884_736 + Double(channels) * 1728
            return LayerPolicy(attentionRatio: level, mlpRatio: Double(channels) / 1536)
        }
        let policy = PruningPolicy(layers: layers)
        guard policy.layers.contains(where: { !$0.dropped }) else { continue }
        let removed = accounting.prunableParameters - (try accounting.keptParameters(policy))
        #expect(Double(removed) == expected.rounded())
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

// MARK: - Plans keep valid GQA layers

@Test func everyPlannedAttentionLayerIsAValidGroupedQueryLayer() throws {
    let weights = try tinyWeights(seed: 31)
    let statistics = try tinyStatistics(weights)
    var g = SeededGenerator(seed: 99)
    for metric in MetricKind.allCases {
        let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: metric.metric, model: tinyIdentity)
        for _ in 0..<50 {
            let plan = try builder.plan(randomPolicy(blocks: 4, using: &g))
            for layer in plan.layers where !layer.dropped {
                let shape = try #require(layer.attentionShape)
                #expect(layer.keptHeads.count == shape.keptGroups * shape.headsPerGroup)
                for group in layer.keptGroups {
                    #expect(layer.keptHeads.filter { $0 / 3 == group }.count == shape.headsPerGroup)
                }
                #expect(layer.keptHeads.allSatisfy { layer.keptGroups.contains($0 / 3) })
            }
        }
    }
}

@Test func plansAreDeterministicAndRoundTripThroughJSON() throws {
    let weights = try tinyWeights(seed: 4)
    let statistics = try tinyStatistics(weights)
    var g = SeededGenerator(seed: 6)
    let policy = randomPolicy(blocks: 4, using: &g)
    let first = try PlanBuilder(weights: weights, statistics: statistics, metric: FluctuationMetric(), model: tinyIdentity).plan(policy)
    let second = try PlanBuilder(weights: weights, statistics: statistics, metric: FluctuationMetric(), model: tinyIdentity).plan(policy)
    #expect(first == second)
    let decoded = try JSONDecoder().decode(PruningPlan.self, from: JSONEncoder().encode(first))
    #expect(decoded == first)
}

@Test func theMostImportantStructuresAreKept() throws {
    let weights = try tinyWeights(seed: 10, blocks: 1)
    let builder = try PlanBuilder(weights: weights, statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    let plan = try builder.plan(PruningPolicy(layers: [LayerPolicy(attentionRatio: 0, mlpRatio: 0.5)]))
    let scores = builder.scores.layers[0].channels
    let kept = Set(plan.layers[0].keptChannels)
    let lowestKept = kept.map { scores[$0] }.min() ?? 0
    let highestRemoved = scores.indices.filter { !kept.contains($0) }.map { scores[$0] }.max() ?? 0
    #expect(kept.count == 20 && lowestKept >= highestRemoved)
}

