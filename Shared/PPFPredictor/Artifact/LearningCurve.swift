// MARK: - LearningCurvePoint

/// Held-out accuracy of a predictor trained on `sampleCount` samples.
public struct LearningCurvePoint: Codable, Sendable, Hashable {
    /// Training samples used.
    public let sampleCount: Int
    /// Metrics on the (fixed) held-out fold.
    public let metrics: RankingMetrics
}

// MARK: - LearningCurve

/// Error against number of samples: how much another batch of measurements
/// would still buy.
public enum LearningCurve {
    /// Trains on growing, nested subsets of `training` (prefixes of one seeded
    /// shuffle, so each subset contains the previous one) and evaluates every
    /// predictor on the same `heldOut` fold.
    /// - Parameter sizes: subset sizes; each is clamped to `training.count`,
    ///   and sizes below `PerformancePredictor.minimumTrainingSamples` throw `tooFewSamples`.
    public static func measure(
        training: [TrainingSample],
        heldOut: [TrainingSample],
        sizes: [Int],
        hyperparameters: PredictorHyperparameters = PredictorHyperparameters()
    ) throws(PredictorError) -> [LearningCurvePoint] {
        var random = RandomStream(seed: RandomStream.derivedSeed(hyperparameters.seed, 0xC0_4E))
        let order = random.permutation(training.count)
        var points: [LearningCurvePoint] = []
        for size in sizes.map({ min($0, training.count) }) {
            let subset = order.prefix(size).map { training[$0] }
            let predictor = try PerformancePredictor.train(on: subset, hyperparameters: hyperparameters)
            points.append(LearningCurvePoint(sampleCount: size, metrics: try predictor.evaluate(on: heldOut)))
        }
        return points
    }

    /// A quarter, a half, three quarters and all of `trainingCount`, skipping
    /// sizes too small to train on.
    public static func defaultSizes(trainingCount: Int) -> [Int] {
        let sizes = [trainingCount / 4, trainingCount / 2, 3 * trainingCount / 4, trainingCount]
        var result: [Int] = []
        for size in sizes where size >= PerformancePredictor.minimumTrainingSamples && !result.contains(size) {
            result.append(size)
        }
        return result
    }
}

// MARK: - Evaluation

extension PerformancePredictor {
    /// Held-out metrics: predictions for `samples` against their measured perplexities.
    /// - Throws: a spec mismatch, or `degenerateInput` for fewer than 2 samples
    ///   or constant measurements.
    public func evaluate(on samples: [TrainingSample]) throws(PredictorError) -> RankingMetrics {
        let predictions = try predict(samples.map(\.features))
        return try RankingMetrics(predictedLogPerplexity: predictions.map(\.logPerplexity),
                                  measuredLogPerplexity: samples.map(\.logPerplexity))
    }
}

// MARK: - HoldoutSplit

/// A deterministic split of measured policies into a training set and a held-out fold.
public enum HoldoutSplit {
    /// Shuffles `samples` with `seed` and holds out `fraction` of them (at least 2).
    /// - Throws: `tooFewSamples` when the rest would be too few to train on,
    ///   `invalidHyperparameter` for a fraction outside (0, 1).
    public static func split(_ samples: [TrainingSample], heldOutFraction fraction: Double, seed: UInt64)
        throws(PredictorError) -> (training: [TrainingSample], heldOut: [TrainingSample]) {
        guard fraction > 0, fraction < 1 else {
            throw PredictorError(.invalidHyperparameter, "held-out fraction must lie in (0, 1), got \(fraction)")
        }
        let heldOutCount = max(2, Int((fraction * Double(samples.count)).rounded()))
        guard samples.count - heldOutCount >= PerformancePredictor.minimumTrainingSamples else {
            throw PredictorError(.tooFewSamples,
                                 "holding out \(heldOutCount) of \(samples.count) policies leaves fewer than \(PerformancePredictor.minimumTrainingSamples) to train on; measure more policies first")
        }
        var random = RandomStream(seed: RandomStream.derivedSeed(seed, 0x4E1D))
        let order = random.permutation(samples.count)
        return (order.dropFirst(heldOutCount).map { samples[$0] }, order.prefix(heldOutCount).map { samples[$0] })
    }
}
