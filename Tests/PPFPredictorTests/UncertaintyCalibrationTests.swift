import Foundation
import Testing
@testable import PPFPredictor

@Test func calibratedPenaltyIsTheSmallestThatBoundsTheChosenShareOfHeldOutPolicies() throws {
    // Means 0, spreads 0.5: the z-scores are twice the measured values.
    let z: [Double] = [-1, 0, 0.5, 1, 2, 3, 4, 5, 6, 7]
    let calibration = try #require(UncertaintyCalibration.calibrate(
        predictedLogPerplexity: Array(repeating: 0, count: z.count), std: Array(repeating: 0.5, count: z.count),
        measuredLogPerplexity: z.map { $0 / 2 }))
    // 8 of 10 must be covered: the 8th smallest z-score.
    #expect(abs(calibration.uncertaintyPenalty - 5) < 1e-12)
    #expect(calibration.count == 10 && calibration.coverage == UncertaintyCalibration.defaultCoverage)
    #expect(abs(calibration.coverageAtOne - 0.4) < 1e-12)
    #expect(abs(calibration.medianStd - 0.5) < 1e-12)
    #expect(abs(calibration.medianAbsoluteError - 1.25) < 1e-12)
    let covered = z.filter { $0 / 2 <= 0.5 * calibration.uncertaintyPenalty }.count
    #expect(covered >= 8)
    let looser = try #require(UncertaintyCalibration.calibrate(
        predictedLogPerplexity: Array(repeating: 0, count: z.count), std: Array(repeating: 0.5, count: z.count),
        measuredLogPerplexity: z.map { $0 / 2 }, coverage: 0.5))
    #expect(abs(looser.uncertaintyPenalty - 2) < 1e-12)
    let loosest = try #require(UncertaintyCalibration.calibrate(
        predictedLogPerplexity: Array(repeating: 0, count: z.count), std: Array(repeating: 0.5, count: z.count),
        measuredLogPerplexity: z.map { $0 / 2 }, coverage: 0.3))
    #expect(loosest.uncertaintyPenalty == 1, "the 3rd smallest z-score is 0.5: clamped to the floor")
}

@Test func overPredictionsNeedNoPenaltyAndWildUnderPredictionsAreClamped() throws {
    let mean = [Double](repeating: 3, count: 6)
    let pessimistic = try #require(UncertaintyCalibration.calibrate(
        predictedLogPerplexity: mean, std: [Double](repeating: 0.1, count: 6), measuredLogPerplexity: [Double](repeating: 2, count: 6)))
    #expect(pessimistic.uncertaintyPenalty == UncertaintyCalibration.penaltyRange.lowerBound,
            "a pessimistic held-out sample never lowers κ below the uncalibrated 1")
    // Members that agree exactly while the truth is far off: a finite, clamped κ.
    let overconfident = try #require(UncertaintyCalibration.calibrate(
        predictedLogPerplexity: mean, std: [Double](repeating: 0, count: 6), measuredLogPerplexity: [Double](repeating: 4, count: 6)))
    #expect(overconfident.uncertaintyPenalty == UncertaintyCalibration.penaltyRange.upperBound)
}

@Test func tooFewOrMismatchedHeldOutPoliciesGiveNoCalibration() {
    #expect(UncertaintyCalibration.calibrate(predictedLogPerplexity: [1, 2, 3, 4], std: [1, 1, 1, 1],
                                             measuredLogPerplexity: [1, 2, 3, 4]) == nil)
    #expect(UncertaintyCalibration.calibrate(predictedLogPerplexity: [1, 2, 3, 4, 5], std: [1, 1, 1, 1],
                                             measuredLogPerplexity: [1, 2, 3, 4, 5]) == nil)
    // Non-finite pairs do not count towards the minimum.
    #expect(UncertaintyCalibration.calibrate(predictedLogPerplexity: [1, 2, 3, 4, .nan], std: [1, 1, 1, 1, 1],
                                             measuredLogPerplexity: [1, 2, 3, 4, 5]) == nil)
}

@Test func aTrainedArtifactCalibratesOnItsHeldOutPoliciesAndOlderArtifactsReadWithoutOne() throws {
    let training = try syntheticSamples(count: 40)
    let heldOut = try syntheticSamples(count: 12, seed: 9, idPrefix: "h")
    let artifact = try PredictorArtifact.train(training: training, heldOut: heldOut, hyperparameters: quickHyperparameters)
    let calibration = try #require(artifact.uncertaintyCalibration)
    #expect(calibration.count == 12)
    let predictions = try artifact.predictor.predict(heldOut.map(\.features))
    let covered = zip(predictions, heldOut).filter { prediction, sample in
        sample.logPerplexity <= prediction.logPerplexity + calibration.uncertaintyPenalty * prediction.logPerplexityStd + 1e-9
    }.count
    #expect(covered >= 10 || calibration.uncertaintyPenalty == UncertaintyCalibration.penaltyRange.upperBound)
    #expect(try PredictorArtifact.decode(jsonData: artifact.jsonData()).uncertaintyCalibration == calibration)

    var object = try #require(try JSONSerialization.jsonObject(with: artifact.jsonData()) as? [String: Any])
    object["uncertaintyCalibration"] = nil
    let older = try PredictorArtifact.decode(jsonData: try JSONSerialization.data(withJSONObject: object))
    #expect(older.uncertaintyCalibration == nil)
    // Too few held out: none.
    let unheld = try PredictorArtifact.train(training: training, heldOut: Array(heldOut.prefix(3)),
                                             hyperparameters: quickHyperparameters)
    #expect(unheld.uncertaintyCalibration == nil)
}

@Test func theAgentsSpotChecksRaiseThePenaltyWhenItsChoicesMeasureWorseThanPredicted() throws {
    // Held out at random: errors within one spread.
    let heldOut = (0..<10).map { UncertaintyCalibration.Residual(predicted: 3, std: 0.1, measured: 3 + 0.1 * (Double($0) / 10 - 0.5)) }
    let alone = try #require(UncertaintyCalibration.calibrate(heldOut: heldOut))
    #expect(alone.uncertaintyPenalty == 1 && alone.spotCheckCount == 0, "within one spread: the floor")
    // The agent's choices measured four spreads worse: the bound must cover them too.
    let spotChecks = (0..<10).map { _ in UncertaintyCalibration.Residual(predicted: 3, std: 0.1, measured: 3.4) }
    let both = try #require(UncertaintyCalibration.calibrate(heldOut: heldOut, spotChecks: spotChecks))
    #expect(both.count == 20 && both.spotCheckCount == 10)
    #expect(abs(both.uncertaintyPenalty - 4) < 1e-9)
    // Unusable residuals count for nothing.
    let broken = [UncertaintyCalibration.Residual(predicted: .nan, std: 0.1, measured: 1),
                  UncertaintyCalibration.Residual(predicted: 1, std: -1, measured: 1)]
    #expect(UncertaintyCalibration.calibrate(heldOut: Array(heldOut.prefix(3)), spotChecks: broken) == nil)
}
