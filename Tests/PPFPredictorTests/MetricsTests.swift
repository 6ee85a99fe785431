import Foundation
import Testing
import PPFPredictor

@Test func kendallTauBCountsTiesAsTheHandComputationDoes() throws {
    // Pairs: 3 concordant, 1 discordant, 1 tied in x only, 1 tied in y only:
    // τ-b = (3 − 1) / √((6 − 1)(6 − 1)) = 0.4.
    #expect(abs(try RankingMetrics.kendallTau([1, 2, 2, 3], [1, 3, 2, 2]) - 0.4) < 1e-12)
    #expect(try RankingMetrics.kendallTau([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
    #expect(try RankingMetrics.kendallTau([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
}

@Test func spearmanRhoUsesAverageRanksForTies() throws {
    #expect(RankingMetrics.averageRanks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1])
    // Ranks of y are [1, 2, 3.5, 5, 3.5]: ρ = 8 / √(10 · 9.5).
    let rho = try RankingMetrics.spearmanRho([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
    #expect(abs(rho - 8 / (95.0).squareRoot()) < 1e-12)
}

@Test func perplexityErrorsCompareExponentiatedLogs() throws {
    let metrics = try RankingMetrics(predictedLogPerplexity: [110, 90, 50].map { log($0) },
                                     measuredLogPerplexity: [100, 100, 40].map { log($0) })
    #expect(abs(metrics.perplexityMAE - 10) < 1e-9)
    #expect(abs(metrics.perplexityMAPE - 0.15) < 1e-12)            // (0.1 + 0.1 + 0.25) / 3
    #expect(abs(metrics.logPerplexityRMSE - 0.152_728) < 1e-5)      // √mean(ln²1.1, ln²0.9, ln²1.25)
    #expect(metrics.count == 3)
}

@Test func rSquaredIsOneMinusResidualOverTotal() throws {
    #expect(try RankingMetrics.rSquared(predicted: [1, 2, 4], measured: [1, 2, 3]) == 0.5)
    #expect(try RankingMetrics.rootMeanSquaredError(predicted: [1, 2, 4], measured: [1, 2, 3]) == (1.0 / 3).squareRoot())
}

@Test func undefinedMetricsThrowNamedErrors() {
    let constant = #expect(throws: PredictorError.self) { try RankingMetrics.kendallTau([1, 2, 3], [5, 5, 5]) }
    #expect(constant?.code == .degenerateInput)
    let lengths = #expect(throws: PredictorError.self) { try RankingMetrics.spearmanRho([1, 2], [1, 2, 3]) }
    #expect(lengths?.code == .lengthMismatch)
    let single = #expect(throws: PredictorError.self) { try RankingMetrics.rSquared(predicted: [1], measured: [1]) }
    #expect(single?.code == .degenerateInput)
    let nan = #expect(throws: PredictorError.self) { try RankingMetrics.pearson([1, .nan], [1, 2]) }
    #expect(nan?.code == .nonFiniteValue)
}
