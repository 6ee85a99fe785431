import Foundation
import PPFTensor

// MARK: - CrossValidation

/// K-fold cross-validation of predictor settings: every sample is predicted
/// once, by a predictor trained without it, so the pooled out-of-fold
/// metrics say how the settings do on policies they did not see.
///
/// Folds can be *grouped*: samples that share a group label (a hand-made
/// policy, its versions at other ratios and its perturbations) always fall
/// in the same fold, so no fold is scored on near copies of what trained it.
public struct CrossValidation: Sendable {
    /// The samples, in their order.
    public let samples: [TrainingSample]
    /// Each sample's out-of-fold predicted log-perplexity.
    public let predictedLogPerplexity: [Double]
    /// Each sample's fold (0-based).
    public let folds: [Int]
    /// How many folds there were.
    public let foldCount: Int
    /// Seconds spent training and predicting every fold.
    public let seconds: Double

    /// Measured log-perplexity of each sample.
    public var measuredLogPerplexity: [Double] { samples.map { Foundation.log($0.perplexity) } }

    /// Assigns the samples to `folds` folds, trains one predictor per fold on
    /// the others, and predicts the fold.
    ///
    /// The groups (one label per sample; nil: every sample its own group) are
    /// shuffled (seeded by `seed`), then placed largest first, each into the
    /// fold with the fewest samples so far, so folds stay balanced. With
    /// singleton groups this is a seeded shuffle dealt round robin.
    /// - Parameter progress: told after each fold (1-based).
    /// - Throws: ``PredictorError`` `tooFewSamples` for fewer than 2 folds or
    ///   fewer groups than folds; `lengthMismatch` for a label per sample
    ///   missing; what training throws.
    public static func run(_ samples: [TrainingSample], groups: [String]? = nil, folds: Int,
                           hyperparameters: PredictorHyperparameters, seed: UInt64 = 17,
                           progress: (Int) -> Void = { _ in }) throws -> CrossValidation {
        let fold = try assignFolds(count: samples.count, groups: groups, folds: folds, seed: seed)
        let started = Date()
        var predicted = [Double](repeating: .nan, count: samples.count)
        for current in 0..<folds {
            let held = samples.indices.filter { fold[$0] == current }
            let training = samples.indices.filter { fold[$0] != current }.map { samples[$0] }
            let predictor = try PerformancePredictor.train(on: training, hyperparameters: hyperparameters)
            let predictions = try predictor.predict(held.map { samples[$0].features })
            for (index, prediction) in zip(held, predictions) { predicted[index] = prediction.logPerplexity }
            progress(current + 1)
        }
        return CrossValidation(samples: samples, predictedLogPerplexity: predicted, folds: fold, foldCount: folds,
                               seconds: Date().timeIntervalSince(started))
    }

    /// The fold of each of `count` samples (see ``run(_:groups:folds:hyperparameters:seed:progress:)``).
    public static func assignFolds(count: Int, groups: [String]?, folds: Int, seed: UInt64) throws(PredictorError) -> [Int] {
        if let groups, groups.count != count {
            throw PredictorError(.lengthMismatch, "\(groups.count) group labels for \(count) samples")
        }
        let labels = groups ?? (0..<count).map(String.init)
        var members: [String: [Int]] = [:]
        var order: [String] = []
        for (index, label) in labels.enumerated() {
            if members[label] == nil { order.append(label) }
            members[label, default: []].append(index)
        }
        guard folds >= 2, order.count >= folds else {
            throw PredictorError(.tooFewSamples,
                                 "cross-validation needs at least 2 folds and a group per fold; got \(folds) folds for \(order.count) groups of \(count) samples")
        }
        var generator = SeededGenerator(seed: seed)
        generator.shuffle(&order)
        // Largest first (stable, so equal sizes keep the shuffled order), each into the emptiest fold.
        let placed = order.enumerated().sorted {
            (members[$0.element]?.count ?? 0, -$0.offset) > (members[$1.element]?.count ?? 0, -$1.offset)
        }.map(\.element)
        var sizes = [Int](repeating: 0, count: folds)
        var fold = [Int](repeating: 0, count: count)
        var next = 0
        for label in placed {
            let indices = members[label] ?? []
            // The emptiest fold; ties go round robin from the last one used, so singletons deal evenly.
            let smallest = sizes.min() ?? 0
            var chosen = next
            while sizes[chosen] != smallest { chosen = (chosen + 1) % folds }
            for index in indices { fold[index] = chosen }
            sizes[chosen] += indices.count
            next = (chosen + 1) % folds
        }
        return fold
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
        let errors = indices.map { abs(exp(predictedLogPerplexity[$0] - measured[$0]) - 1) }
        return Summary(metrics: metrics, medianAPE: Statistics.median(errors))
    }

    /// The spread of the per-fold metrics over the samples at `indices`:
    /// mean and standard deviation across folds of MAPE and Kendall τ, from
    /// the folds with at least 3 of those samples (nil: fewer than 2 such folds).
    public func foldSpread(of indices: [Int]) throws -> FoldSpread? {
        let measured = measuredLogPerplexity
        var mapes: [Double] = [], taus: [Double] = []
        for current in 0..<foldCount {
            let inFold = indices.filter { folds[$0] == current }
            guard inFold.count >= 3,
                  let metrics = try? RankingMetrics(predictedLogPerplexity: inFold.map { predictedLogPerplexity[$0] },
                                                    measuredLogPerplexity: inFold.map { measured[$0] }) else { continue }
            mapes.append(metrics.perplexityMAPE)
            taus.append(metrics.kendallTau)
        }
        guard mapes.count >= 2 else { return nil }
        return FoldSpread(folds: mapes.count, mape: MeanAndSpread(mapes), kendallTau: MeanAndSpread(taus))
    }

    /// The ranking within strata (one label per sample, e.g.
    /// ``StratifiedRanking/stratum(ofRatio:width:)``) of the samples at `indices`.
    public func stratifiedRanking(of indices: [Int], strata: [Int]) throws -> StratifiedRanking {
        let measured = measuredLogPerplexity
        return try StratifiedRanking(predictedLogPerplexity: indices.map { predictedLogPerplexity[$0] },
                                     measuredLogPerplexity: indices.map { measured[$0] },
                                     strata: indices.map { strata[$0] })
    }
}

/// A metric's mean and sample standard deviation across folds.
public struct MeanAndSpread: Sendable, Hashable {
    public let mean: Double
    public let standardDeviation: Double

    /// The mean and sample standard deviation (n − 1) of `values` (at least 2).
    public init(_ values: [Double]) {
        let mean = values.reduce(0, +) / Double(values.count)
        self.mean = mean
        standardDeviation = values.count > 1
            ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
    }
}

/// Per-fold MAPE and Kendall τ, as mean ± standard deviation across folds.
public struct FoldSpread: Sendable, Hashable {
    /// Folds that had enough samples to score.
    public let folds: Int
    public let mape: MeanAndSpread
    public let kendallTau: MeanAndSpread
}
