import Foundation
import Testing
import PPFContracts
import PPFModel
@testable import PPFPruning
import PPFTensor

// The accounting itself (counts, levels, ratios) is tested in PPFModelTests; the
// agent's budget is checked against it in PPFAgentTests.

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

