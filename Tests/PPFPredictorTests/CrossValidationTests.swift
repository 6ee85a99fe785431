import Foundation
import PPFTestSupport
@testable import PPFPredictor
import Testing

@Test func crossValidationPredictsEverySampleOnceFromTheOtherFoldsAndRanksTheSyntheticTaskWell() throws {
    let samples = try syntheticSamples(count: 60, layers: 6)
    var folds: [Int] = []
    let validation = try CrossValidation.run(samples, folds: 3, hyperparameters: quickHyperparameters) { folds.append($0) }
    #expect(folds == [1, 2, 3])
    #expect(validation.predictedLogPerplexity.count == 60 && validation.predictedLogPerplexity.allSatisfy(\.isFinite),
            "every sample is predicted by exactly one fold")
    let all = try #require(try validation.summary(of: Array(samples.indices)))
    #expect(all.metrics.count == 60)
    #expect(all.metrics.kendallTau > 0.5, "out-of-fold τ \(all.metrics.kendallTau) on a smooth synthetic task")
    #expect(all.medianAPE <= all.metrics.perplexityMAPE * 1.5 + 1e-9 && all.medianAPE >= 0)
    #expect(try validation.summary(of: [0, 1]) == nil, "too few to rank")

    // The fold assignment is fixed by the seed: the same settings give the same out-of-fold predictions.
    let again = try CrossValidation.run(samples, folds: 3, hyperparameters: quickHyperparameters)
    for (first, second) in zip(validation.predictedLogPerplexity, again.predictedLogPerplexity) {
        #expect(isClose(first, second, relative: 1e-6))
    }
}

@Test func crossValidationRefusesFewerThanTwoFoldsOrFewerSamplesThanFolds() throws {
    let samples = try syntheticSamples(count: 4, layers: 4)
    #expect(throws: PredictorError.self) { _ = try CrossValidation.run(samples, folds: 1, hyperparameters: quickHyperparameters) }
    #expect(throws: PredictorError.self) { _ = try CrossValidation.run(samples, folds: 5, hyperparameters: quickHyperparameters) }
}

@Test func groupedFoldsKeepEachGroupTogetherAndStayBalanced() throws {
    // 3 families of 5 (a baseline and its perturbations) and 9 singletons.
    let groups = (0..<15).map { "family-\($0 / 5)" } + (0..<9).map { "single-\($0)" }
    let folds = try CrossValidation.assignFolds(count: groups.count, groups: groups, folds: 4, seed: 3)
    for family in 0..<3 {
        #expect(Set((0..<5).map { folds[family * 5 + $0] }).count == 1, "family \(family) is split across folds")
    }
    let sizes = Dictionary(grouping: folds, by: { $0 }).mapValues(\.count)
    #expect(sizes.count == 4 && sizes.values.allSatisfy { $0 == 6 }, "folds \(sizes)")
    // Singletons without labels: the seeded shuffle dealt round robin (sizes differ by at most one).
    let plain = try CrossValidation.assignFolds(count: 10, groups: nil, folds: 3, seed: 3)
    #expect(Dictionary(grouping: plain, by: { $0 }).mapValues(\.count).values.sorted() == [3, 3, 4])
    #expect(try CrossValidation.assignFolds(count: 10, groups: nil, folds: 3, seed: 3) == plain)
    // Fewer groups than folds, or a label missing, is refused.
    #expect(throws: PredictorError.self) {
        _ = try CrossValidation.assignFolds(count: 4, groups: ["a", "a", "b", "b"], folds: 3, seed: 1)
    }
    #expect(throws: PredictorError.self) { _ = try CrossValidation.assignFolds(count: 4, groups: ["a"], folds: 2, seed: 1) }
}

@Test func groupedCrossValidationReportsItsSpreadAcrossFolds() throws {
    let samples = try syntheticSamples(count: 40, layers: 6)
    let groups = samples.indices.map { "g\($0 % 10)" }
    let validation = try CrossValidation.run(samples, groups: groups, folds: 4, hyperparameters: quickHyperparameters)
    #expect(validation.foldCount == 4)
    for index in samples.indices {
        #expect(validation.folds[index] == validation.folds[(index + 10) % 40], "group of sample \(index) split")
    }
    let spread = try #require(try validation.foldSpread(of: Array(samples.indices)))
    #expect(spread.folds == 4)
    #expect(spread.mape.mean > 0 && spread.mape.standardDeviation >= 0)
    #expect(abs(spread.kendallTau.mean) <= 1)
    #expect(try validation.foldSpread(of: [0, 1, 2]) == nil, "one fold's worth is no spread")
}

@Test func withinStratumRankingCountsOnlyPairsAtTheSameRatio() throws {
    // Two strata. Pooled, the predictions order everything right by stratum;
    // within stratum 1 they are reversed, within stratum 2 right.
    let measured: [Double] = [1, 2, 3, 10, 11, 12]
    let predicted: [Double] = [3, 2, 1, 10, 11, 12]
    let strata = [1, 1, 1, 2, 2, 2]
    let ranking = try StratifiedRanking(predictedLogPerplexity: predicted, measuredLogPerplexity: measured, strata: strata)
    #expect(ranking.pairs == 6 && ranking.strata == 2)
    #expect(abs(ranking.kendallTauWithin - 0) < 1e-12, "3 discordant and 3 concordant pairs")
    // Top-1 in stratum 1 picks measured 3 against the best 1: regret e² − 1; stratum 2 picks the best.
    #expect(abs(try #require(ranking.topKRegret[1]) - (exp(2) - 1) / 2) < 1e-12)
    #expect(ranking.topKRegret[3]?.isNaN == true, "no stratum has more than 3 policies")
    let pooled = try RankingMetrics(predictedLogPerplexity: predicted, measuredLogPerplexity: measured)
    #expect(pooled.kendallTau > 0.5, "pooled τ hides the reversal")
    #expect(StratifiedRanking.stratum(ofRatio: 0.2) == 4 && StratifiedRanking.stratum(ofRatio: 0.224) == 4
            && StratifiedRanking.stratum(ofRatio: 0.226) == 5)
    #expect(throws: PredictorError.self) {
        _ = try StratifiedRanking(predictedLogPerplexity: [1, 2], measuredLogPerplexity: [1, 2], strata: [1])
    }
}
