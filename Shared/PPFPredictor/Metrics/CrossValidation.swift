import Foundation
import PPFTensor

// MARK: - CrossValidation

/// K-fold cross-validation of predictor settings: every sample is predicted
/// once, by a predictor trained without it, so the pooled out-of-fold
/// metrics say how the settings do on policies they did not see.
public struct CrossValidation: Sendable {
    /// The samples, in their order.
    public let samples: [TrainingSample]
    /// Each sample's out-of-fold predicted log-perplexity.
    public let predictedLogPerplexity: [Double]
    /// Seconds spent training and predicting every fold.
    public let seconds: Double

    /// Measured log-perplexity of each sample.
    public var measuredLogPerplexity: [Double] { samples.map { Foundation.log($0.perplexity) } }

    /// Assigns the samples to `folds` folds (a shuffle seeded by `seed`,
    /// then round robin, so folds differ in size by at most one), trains one
    /// predictor per fold on the others, and predicts the fold.
    /// - Parameter progress: told after each fold (1-based).
    /// - Throws: ``PredictorError`` `invalidConfiguration` for fewer than 2
    ///   folds or fewer samples than folds; what training throws.
    public static func run(_ samples: [TrainingSample], folds: Int, hyperparameters: PredictorHyperparameters,
                           seed: UInt64 = 17, progress: (Int) -> Void = { _ in }) throws -> CrossValidation {
        guard folds >= 2, samples.count >= folds else {
            throw PredictorError(.tooFewSamples,
                                 "cross-validation needs at least 2 folds and a sample per fold; got \(folds) folds for \(samples.count) samples")
        }
        let started = Date()
        var order = Array(samples.indices)
        var generator = SeededGenerator(seed: seed)
        generator.shuffle(&order)
        var fold = [Int](repeating: 0, count: samples.count)
        for (position, index) in order.enumerated() { fold[index] = position % folds }
        var predicted = [Double](repeating: .nan, count: samples.count)
        for current in 0..<folds {
            let held = samples.indices.filter { fold[$0] == current }
            let training = samples.indices.filter { fold[$0] != current }.map { samples[$0] }
            let predictor = try PerformancePredictor.train(on: training, hyperparameters: hyperparameters)
            let predictions = try predictor.predict(held.map { samples[$0].features })
            for (index, prediction) in zip(held, predictions) { predicted[index] = prediction.logPerplexity }
            progress(current + 1)
        }
        return CrossValidation(samples: samples, predictedLogPerplexity: predicted,
                               seconds: Date().timeIntervalSince(started))
    }

    /// Out-of-fold metrics over the samples at `indices`.
    public struct Summary: Sendable, Equatable {
        /// Ranking and error metrics.
        public let metrics: RankingMetrics
        /// Median absolute percentage error of the perplexity (robust to a few wild misses).
        public let medianAPE: Double
    }

    /// The metrics of the samples at `indices` (nil: fewer than 3, too few to rank).
    public func summary(of indices: [Int]) throws -> Summary? {
        guard indices.count >= 3 else { return nil }
        let measured = measuredLogPerplexity
        let metrics = try RankingMetrics(predictedLogPerplexity: indices.map { predictedLogPerplexity[$0] },
                                         measuredLogPerplexity: indices.map { measured[$0] })
        let errors = indices.map { abs(exp(predictedLogPerplexity[$0] - measured[$0]) - 1) }.sorted()
        let middle = errors.count / 2
        let median = errors.count % 2 == 1 ? errors[middle] : (errors[middle - 1] + errors[middle]) / 2
        return Summary(metrics: metrics, medianAPE: median)
    }
}
