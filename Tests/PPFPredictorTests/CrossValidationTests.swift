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
