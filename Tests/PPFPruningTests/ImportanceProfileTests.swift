import Foundation
import PPFContracts
import Testing
@testable import PPFPruning
import PPFTensor

// MARK: - The predictor's plan-derived features agree with real plans

/// The profile is a lookup table; a plan is the ground truth of what a
/// measurement prunes. For random policies under every metric, the share of
/// score mass the profile says a layer keeps must equal the share computed
/// from the plan's own kept heads, groups and channels.
@Test func importanceProfileMatchesTheMassEveryPlanKeeps() throws {
    let weights = try tinyWeights(seed: 31)
    let statistics = try tinyStatistics(weights)
    var g = SeededGenerator(seed: 7)
    for metric in MetricKind.allCases {
        let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: metric.metric, model: tinyIdentity)
        let profile = try ImportanceProfile(builder: builder, modelId: "tiny")
        try profile.validate()
        #expect(profile.metric == builder.scores.metric)
        for _ in 0..<40 {
            let policy = randomPolicy(blocks: 4, using: &g)
            let plan = try builder.plan(policy)
            let retained = try profile.retained(by: policy)
            for (index, layer) in plan.layers.enumerated() {
                guard !layer.dropped else {
                    #expect(retained.attention[index] == 0 && retained.mlp[index] == 0)
                    continue
                }
                let scores = builder.scores.layers[index]
                func share(_ kept: [Int], of all: [Double]) -> (kept: Double, total: Double) {
                    (kept.reduce(0) { $0 + max(0, all[$1]) }, all.reduce(0) { $0 + max(0, $1) })
                }
                let heads = share(layer.keptHeads, of: scores.heads), groups = share(layer.keptGroups, of: scores.groups)
                let attention = (heads.kept + groups.kept) / (heads.total + groups.total)
                let channels = share(layer.keptChannels, of: scores.channels)
                #expect(abs(retained.attention[index] - attention) < 1e-9, "\(metric) layer \(index) attention")
                #expect(abs(retained.mlp[index] - channels.kept / channels.total) < 1e-9, "\(metric) layer \(index) MLP")
            }
        }
    }
}

@Test func importanceProfileCurvesAreMonotoneFromNothingToEverything() throws {
    let weights = try tinyWeights(seed: 5)
    let builder = try PlanBuilder(weights: weights, statistics: try tinyStatistics(weights), metric: FluctuationMetric(),
                                  model: tinyIdentity)
    let profile = try ImportanceProfile(builder: builder, modelId: "tiny")
    for layer in profile.layers {
        #expect(layer.mlpKept.first == 0)
        #expect(abs((layer.mlpKept.last ?? 0) - 1) < 1e-12)
        #expect(zip(layer.mlpKept, layer.mlpKept.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(layer.attentionRemoval.first == 0 && abs((layer.attentionKept.first ?? 0) - 1) < 1e-12)
        // Attention levels are ordered by parameters, not nested sets (2 groups × 1 head vs
        // 1 group × 3 heads), so their kept mass need not fall monotonically; it stays in [0, 1].
        #expect(layer.attentionKept.allSatisfy { $0 >= 0 && $0 <= 1 + 1e-12 })
    }
    let wrongShape = PruningPolicy.uniform(blocks: 3, attention: 0, mlp: 0)
    #expect(throws: EnvelopeRejection.self) { try profile.retained(by: wrongShape) }
}
