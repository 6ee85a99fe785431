import Foundation
import Testing
import PPFContracts
import PPFModel
@testable import PPFPruning
import PPFTensor

// MARK: - Every baseline meets its target

/// 8 blocks so LLM-Pruner has a middle and ShortGPT whole blocks to drop.
@Test(arguments: BaselinePolicy.allCases)
func everyBaselineAchievesRandomTargetsWithinTolerance(baseline: BaselinePolicy) throws {
    let weights = try tinyWeights(seed: 17, blocks: 8)
    let statistics = try tinyStatistics(weights)
    let scores = try ImportanceScores(weights: weights, statistics: statistics, metric: WandaStructuredMetric())
    let builder = try PlanBuilder(weights: weights, statistics: statistics, metric: WandaStructuredMetric(), model: tinyIdentity)
    var g = SeededGenerator(seed: 123)
    let targets = [0.0, 0.1, 0.3, 0.5] + (0..<12).map { _ in Double.random(in: 0..<0.55, using: &g) }
    for target in targets {
        let policy = try baseline.policy(targetRatio: target, weights: weights, statistics: statistics, scores: scores)
        let plan = try builder.plan(policy, targetRatio: target)
        #expect(abs(plan.achievedRatio - target) <= PlanBuilder.defaultTolerance, "\(baseline) at \(target): \(plan.achievedRatio)")
        let pruned = try PlanApplication.apply(plan, to: weights)
        #expect(pruned.prunableParameterCount == plan.prunableParametersAfter)
    }
}

@Test func llmPrunerLeavesTheFirstAndLastBlocksUntouched() throws {
    let weights = try tinyWeights(seed: 17, blocks: 8)
    let scores = try ImportanceScores(weights: weights, statistics: nil, metric: MagnitudeMetric())
    let options = BaselineOptions(llmPrunerFirstBlocks: 2, llmPrunerLastBlocks: 1)
    let policy = try BaselinePolicy.llmPruner.policy(targetRatio: 0.3, weights: weights, statistics: nil, scores: scores, options: options)
    for layer in [0, 1, 7] { #expect(policy.layers[layer] == LayerPolicy(attentionRatio: 0, mlpRatio: 0)) }
    #expect(policy.layers[2 ..< 7].allSatisfy { $0.mlpRatio > 0.3 })
}

@Test func shortGPTDropsTheBlocksWithTheLowestBlockInfluence() throws {
    let weights = try tinyWeights(seed: 17, blocks: 8)
    let calibrated = try tinyStatistics(weights)
    // Give blocks 5 and 2 the lowest influence.
    let influence: [Double] = [0.9, 0.5, 0.01, 0.6, 0.7, 0.02, 0.4, 0.8]
    let layers = calibrated.layers.enumerated().map { index, layer in
        LayerStatistics(attentionInput: layer.attentionInput, attentionOutputInput: layer.attentionOutputInput,
                        mlpInput: layer.mlpInput, downInput: layer.downInput, blockInfluence: influence[index])
    }
    let statistics = CalibrationStatistics(modelChecksum: "x", corpusChecksum: "y", spec: calibrated.spec,
                                           tokens: calibrated.tokens, seconds: 0, layers: layers)
    let scores = try ImportanceScores(weights: weights, statistics: statistics, metric: MagnitudeMetric())
    let exact = try BaselinePolicy.shortGPT.policy(targetRatio: 0.25, weights: weights, statistics: statistics, scores: scores)
    #expect(exact.layers.indices.filter { exact.layers[$0].dropped } == [2, 5])
    #expect(exact.layers.filter { !$0.dropped }.allSatisfy { $0.attentionRatio == 0 && $0.mlpRatio == 0 })
    // 0.3 = two blocks (0.25) plus 0.05 removed uniformly from the other six.
    let rest = try BaselinePolicy.shortGPT.policy(targetRatio: 0.3, weights: weights, statistics: statistics, scores: scores)
    #expect(rest.layers.indices.filter { rest.layers[$0].dropped } == [2, 5])
    #expect(rest.layers.filter { !$0.dropped }.allSatisfy { $0.mlpRatio > 0 })
}

@Test func owlGivesBlocksWithMoreOutliersLowerRatios() throws {
    let weights = try tinyWeights(seed: 17, blocks: 8)
    let statistics = try tinyStatistics(weights)
    let outliers = weights.blocks.indices.map {
        LayerwiseBaselines.outlierRatio(weights.blocks[$0], statistics.layers[$0], multiplier: 2)
    }
    // A random tiny model has no weight 5× above its block mean; 2× separates its blocks.
    #expect(Set(outliers).count > 1)
    let desired = try LayerwiseBaselines.owl(0.3, weights, statistics, BaselineOptions(owlOutlierMultiplier: 2, owlLambda: 0.08))
    let ratios = desired.map(\.mlpRatio)
    #expect(abs(ratios.reduce(0, +) / 8 - 0.3) < 1e-9)                         // centred on the target
    #expect(abs((ratios.max() ?? 0) - (ratios.min() ?? 0) - 0.16) < 1e-9)      // spread 2λ
    let most = try #require(outliers.indices.max { outliers[$0] < outliers[$1] })
    let least = try #require(outliers.indices.min { outliers[$0] < outliers[$1] })
    #expect(ratios[most] < ratios[least])
}

@Test func flapsGlobalStructureRemovesLowStandardisedScoresFirst() throws {
    let accounting = ParameterAccounting(configuration: try tinyConfiguration(blocks: 2))
    // Block 0's channel scores are spread (some far below their block's mean), block 1's nearly equal but one.
    let channels0 = (0..<40).map { $0 < 10 ? 0.0 : 10.0 }
    let channels1 = (0..<40).map { $0 == 0 ? 0.0 : 10.0 }
    let heads = [Double](repeating: 1, count: 9), groups = [Double](repeating: 0, count: 3)
    let scores = ImportanceScores(metric: "test", layers: [
        LayerImportance(heads: heads, groups: groups, channels: channels0),
        LayerImportance(heads: heads, groups: groups, channels: channels1),
    ])
    let desired = LayerwiseBaselines.flapGlobal(0.05, accounting, scores)
    // Block 1's single low channel has the lowest z (−6.2), then block 0's ten (−1.7).
    #expect(desired[1].mlpRatio > 0 && desired[0].mlpRatio > 0)
    #expect(desired[0].attentionRatio == 0 && desired[1].attentionRatio == 0) // equal head scores standardise to 0
}

// MARK: - Policy files

@Test func aPolicyFileRoundTripsAndCanBeEditedByHand() throws {
    var g = SeededGenerator(seed: 3)
    let policy = randomPolicy(blocks: 4, using: &g)
    let file = PolicyFile(policy: policy, source: "test", targetRatio: 0.3)
    let text = try #require(String(data: try file.encoded(), encoding: .utf8))
    #expect(text.contains("\"format\" : \"ppf-policy\""))
    #expect(try PolicyFile.decode(Data(text.utf8)).policy(forBlockCount: 4) == policy)
    let hand = """
    {"format": "ppf-policy", "version": 1, "blockCount": 2,
     "layers": [{"layer": 0, "attention": 0.5, "mlp": 0.25}, {"layer": 1, "attention": 0, "mlp": 0, "dropped": true}]}
    """
    let parsed = try PolicyFile.decode(Data(hand.utf8)).policy(forBlockCount: 2)
    #expect(parsed.layers == [LayerPolicy(attentionRatio: 0.5, mlpRatio: 0.25), LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true)])
}

@Test func malformedPolicyFilesAreRefusedWithTheReason() throws {
    let entry = #"{"layer": 0, "attention": 0, "mlp": 0}"#
    let cases: [(text: String, modelBlocks: Int, code: PruningError.Code)] = [
        ("{", 1, .invalidPolicyFile),
        (#"{"format": "ppf-policy", "version": 1, "blockCount": 1}"#, 1, .invalidPolicyFile),
        (#"{"format": "other", "version": 1, "blockCount": 1, "layers": [\#(entry)]}"#, 1, .invalidPolicyFile),
        (#"{"format": "ppf-policy", "version": 9, "blockCount": 1, "layers": [\#(entry)]}"#, 1, .invalidPolicyFile),
        (#"{"format": "ppf-policy", "version": 1, "blockCount": 2, "layers": [{"layer": 1, "attention": 0, "mlp": 0}, \#(entry)]}"#, 2, .invalidPolicyFile),
        (#"{"format": "ppf-policy", "version": 1, "blockCount": 1, "layers": [{"layer": 0, "attention": 2, "mlp": 0}]}"#, 1, .invalidRatio),
        (#"{"format": "ppf-policy", "version": 1, "blockCount": 1, "layers": [\#(entry)]}"#, 30, .policyShapeMismatch),
    ]
    for item in cases {
        expectPruningError(item.code) { _ = try PolicyFile.decode(Data(item.text.utf8)).policy(forBlockCount: item.modelBlocks) }
    }
}

@Test func thePlanTableShowsEveryBlockAndTheTotals() throws {
    let builder = try PlanBuilder(weights: tinyWeights(), statistics: nil, metric: MagnitudeMetric(), model: tinyIdentity)
    var policy = PruningPolicy.uniform(blocks: 4, attention: 0.5, mlp: 0.25)
    policy.layers[3].dropped = true
    let plan = try builder.plan(policy)
    let table = PlanTable.markdown(plan)
    #expect(table.split(separator: "\n", omittingEmptySubsequences: false).count == 2 + 4 + 2)
    #expect(table.contains("| 3 | dropped |"))
    #expect(table.contains("10/40") == false && table.contains("30/40"))
    #expect(table.contains("prunable parameters \(plan.prunableParametersBefore) → \(plan.prunableParametersAfter)"))
}
