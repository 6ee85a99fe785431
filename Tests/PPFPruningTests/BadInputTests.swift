import Foundation
import Testing
import PPFContracts
import PPFModel
@testable import PPFPruning

// MARK: - Bad input gets a named error

@Test(arguments: [1.0, -0.1, 1.5, Double.nan])
func aTargetRatioOutsideZeroToOneIsInvalid(ratio: Double) throws {
    let weights = try tinyWeights()
    let builder = try PlanBuilder(weights: weights, statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    expectPruningError(.invalidRatio) { _ = try builder.plan(.uniform(blocks: 4, attention: 0, mlp: 0), targetRatio: ratio) }
    expectPruningError(.invalidRatio) {
        _ = try BaselinePolicy.uniform.policy(targetRatio: ratio, weights: weights, statistics: nil, scores: builder.scores)
    }
}

@Test func aLayerRatioOutsideZeroToOneIsInvalid() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    expectPruningError(.invalidRatio) { _ = try builder.plan(.uniform(blocks: 4, attention: 0, mlp: 1.2)) }
    expectPruningError(.invalidRatio) { _ = try builder.plan(.uniform(blocks: 4, attention: -0.5, mlp: 0)) }
}

@Test func aPolicyForTheWrongLayerCountIsRefused() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    expectPruningError(.policyShapeMismatch) { _ = try builder.plan(.uniform(blocks: 30, attention: 0.25, mlp: 0.3)) }
    let file = PolicyFile(policy: .uniform(blocks: 30, attention: 0.25, mlp: 0.3))
    expectPruningError(.policyShapeMismatch) { _ = try file.policy(forBlockCount: 4) }
}

@Test func removingEveryHeadOfAKeptBlockIsRefused() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    var policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.2)
    policy.layers[2].attentionRatio = 1
    expectPruningError(.removesEveryHead) { _ = try builder.plan(policy) }
    policy.layers[2].dropped = true
    #expect(try builder.plan(policy).droppedBlocks == [2])
}

@Test func removingEveryChannelOfAKeptBlockIsRefused() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    var policy = PruningPolicy.uniform(blocks: 4, attention: 0, mlp: 0.2)
    policy.layers[1].mlpRatio = 0.99 // round(39.6) = 40 of 40
    expectPruningError(.removesEveryChannel) { _ = try builder.plan(policy) }
}

@Test func droppingEveryBlockIsRefused() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    let policy = PruningPolicy(layers: Array(repeating: LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true), count: 4))
    expectPruningError(.dropsEveryBlock) { _ = try builder.plan(policy) }
}

@Test func aPolicyThatMissesItsTargetIsRefused() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    expectPruningError(.targetNotReached) { _ = try builder.plan(.uniform(blocks: 4, attention: 0.25, mlp: 0.25), targetRatio: 0.4) }
}

@Test func aPlanForAnotherModelIsRefusedWhenApplied() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    let plan = try builder.plan(.uniform(blocks: 4, attention: 0.25, mlp: 0.25))
    expectPruningError(.planMismatch) { _ = try PlanApplication.apply(plan, to: tinyWeights(blocks: 3)) }
    let other = try LlamaWeights.random(configuration: LlamaConfiguration(
        blockCount: 4, embeddingLength: 24, headCounts: [6], keyValueHeadCounts: [2], feedForwardLengths: [40],
        headDimension: 4, contextLength: 64, vocabularySize: 50), seed: 1)
    expectPruningError(.planMismatch) { _ = try PlanApplication.apply(plan, to: other) }
}

@Test func aTamperedPlanWithUnevenHeadsPerGroupIsRefused() throws {
    let weights = try tinyWeights()
    let plan = try PlanBuilder(weights: weights, statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
        .plan(.uniform(blocks: 4, attention: 0, mlp: 0))
    let json = try JSONEncoder().encode(plan)
    var object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
    var layers = try #require(object["layers"] as? [[String: Any]])
    layers[0]["keptHeads"] = [0, 1, 2, 3, 4, 5, 6, 7] // group 2 keeps 2 heads, the others 3
    object["layers"] = layers
    let tampered = try JSONDecoder().decode(PruningPlan.self, from: JSONSerialization.data(withJSONObject: object))
    expectPruningError(.planMismatch) { _ = try PlanApplication.apply(tampered, to: weights) }
}

@Test func metricsThatNeedCalibrationRefuseToRunWithout() throws {
    let weights = try tinyWeights()
    for metric in [MetricKind.wandaSP, .flap] {
        expectPruningError(.missingStatistics) {
            _ = try PlanBuilder(weights: weights, statistics: nil, metric: metric.metric, model: tinyIdentity)
        }
    }
    expectPruningError(.statisticsMismatch) {
        _ = try PlanBuilder(weights: weights, statistics: try tinyStatistics(tinyWeights(blocks: 3)),
                            metric: WandaStructuredMetric(), model: tinyIdentity)
    }
    expectPruningError(.unknownName) { _ = try MetricKind(named: "random") }
    expectPruningError(.unknownName) { _ = try BaselinePolicy(named: "sparsegpt") }
}

@Test func scoresOfAnotherModelAreRefusedByTheBaselines() throws {
    let weights = try tinyWeights()
    let other = try ImportanceScores(weights: tinyWeights(blocks: 3), statistics: nil, metric: MagnitudeMetric())
    expectPruningError(.scoresMismatch) {
        _ = try BaselinePolicy.flap.policy(targetRatio: 0.2, weights: weights, statistics: nil, scores: other)
    }
    let truncated = ImportanceScores(metric: "hand", layers: Array(repeating: LayerImportance(heads: [1], groups: [1], channels: [1]), count: 4))
    expectPruningError(.scoresMismatch) {
        _ = try BaselinePolicy.flap.policy(targetRatio: 0.2, weights: weights, statistics: nil, scores: truncated)
    }
}
