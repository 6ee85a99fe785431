import Foundation

// MARK: - StratifiedRanking

/// How well predictions rank policies *at the same ratio*, the question a
/// search at one target ratio asks. Pooled metrics flatter a predictor: a
/// policy at r = 0.5 is worse than one at r = 0.1 whatever its allocation,
/// so the ratio alone orders most pairs. Here only pairs within one stratum
/// (a ratio bucket, labelled by the caller) count.
public struct StratifiedRanking: Sendable, Hashable {
    /// Kendall's τ over the pairs that share a stratum (concordant minus
    /// discordant over the untied ones): NaN when no stratum has an untied pair.
    public let kendallTauWithin: Double
    /// Pairs that share a stratum and are untied in both sequences.
    public let pairs: Int
    /// Strata with at least two policies.
    public let strata: Int
    /// Mean over strata of the top-k regret, by k (1 and 3): the measured
    /// perplexity of the best of the k policies predicted best, over the best
    /// measured one, minus 1 (0 = the predictor picks the true best among its
    /// top k). Strata with at most k policies are left out; NaN when none is left.
    public let topKRegret: [Int: Double]

    /// The ranking of predicted against measured log-perplexities within the
    /// strata labelled by `strata` (one label per policy).
    /// - Throws: `lengthMismatch` when the three lengths differ; `nonFiniteValue` for a NaN or infinity.
    public init(predictedLogPerplexity predicted: [Double], measuredLogPerplexity measured: [Double], strata labels: [Int],
                regretDepths: [Int] = [1, 3]) throws(PredictorError) {
        guard predicted.count == measured.count, labels.count == measured.count else {
            throw PredictorError(.lengthMismatch,
                                 "\(predicted.count) predictions, \(measured.count) measurements and \(labels.count) strata must pair up")
        }
        guard predicted.allSatisfy(\.isFinite), measured.allSatisfy(\.isFinite) else {
            throw PredictorError(.nonFiniteValue, "every predicted and measured log-perplexity must be finite")
        }
        let groups = Dictionary(grouping: labels.indices, by: { labels[$0] }).values.filter { $0.count >= 2 }
        var score = 0, untied = 0
        for group in groups {
            for (position, i) in group.enumerated() {
                for j in group[(position + 1)...] {
                    let product = (predicted[i] - predicted[j]).sign == (measured[i] - measured[j]).sign ? 1 : -1
                    guard predicted[i] != predicted[j], measured[i] != measured[j] else { continue }
                    score += product
                    untied += 1
                }
            }
        }
        kendallTauWithin = untied > 0 ? Double(score) / Double(untied) : .nan
        pairs = untied
        strata = groups.count
        var regrets: [Int: Double] = [:]
        for depth in regretDepths {
            let values = groups.filter { $0.count > depth }.map { group -> Double in
                let best = group.map { measured[$0] }.min() ?? 0
                let picked = group.sorted { predicted[$0] < predicted[$1] }.prefix(depth).map { measured[$0] }.min() ?? best
                return Foundation.exp(picked - best) - 1
            }
            regrets[depth] = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
        }
        topKRegret = regrets
    }

    /// The stratum of a ratio: its bucket of `width` (0.05 by default: the
    /// bootstrap's baselines sit at tenths, its samples in between).
    public static func stratum(ofRatio ratio: Double, width: Double = 0.05) -> Int {
        Int((ratio / width).rounded())
    }
}
