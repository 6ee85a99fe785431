import Foundation
import PPFContracts
import PPFModel
import PPFPredictor
import PPFPruning
import PPFRuntime

// MARK: - NoiseFloor

/// The noise floor of the predictor's labels (issue #13 §1): the same
/// policies measured on two disjoint validation token sets of one size.
///
/// A predictor trained on one set's labels cannot agree with a second set
/// better than the two sets agree with each other, so their disagreement is
/// the error the labels allow. Two numbers matter: the raw disagreement,
/// and the disagreement once the common shift of the second text (harder or
/// easier for every policy alike) is taken out, which is the part that is
/// specific to each policy and no predictor can learn. Both are given for
/// perplexity and for the KL divergence from the dense model.
public enum NoiseFloor {
    /// One policy measured on both token sets.
    public struct Pair: Sendable {
        /// The policy's id.
        public let policyId: String
        /// Its kind (``PolicySources/kind(of:)``) and ratio.
        public let kind: String
        public let ratio: Double?
        /// The first set (the regime's own tokens) and the second (the next tokens of the split).
        public let first: DivergenceResult
        public let second: DivergenceResult
    }

    /// How well the two sets agree, on one metric.
    public struct Agreement: Sendable {
        /// Policies compared.
        public let count: Int
        /// Mean |second / first − 1|.
        public let rawAPE: Double
        /// The same once the mean log ratio (the second text's shift for every policy) is removed.
        public let shiftedAPE: Double
        /// The mean log ratio itself.
        public let meanLogShift: Double
        /// Kendall τ between the two sets, pooled and within a ratio.
        public let kendallTau: Double
        public let kendallTauWithinRatio: Double
    }

    /// Measures `policies` (each planned for its own ratio) on `first` and
    /// `second` in windows of `window`: one plan and one pruned model per
    /// policy, scored against each set's dense reference.
    /// - Parameter progress: told after each policy (1-based).
    /// - Throws: ``ModelError`` and pruning errors for a policy that cannot be applied.
    public static func measure(session: PruningSession, policies: [(id: String, policy: PruningPolicy, kind: String, ratio: Double?)],
                               first: [Int], second: [Int], window: Int,
                               progress: (Int) -> Void = { _ in }) throws -> (pairs: [Pair], denseFirst: Double, denseSecond: Double) {
        let model = session.checkpoint.model
        let references = try [first, second].map { try DenseReference(model: model, tokens: $0, windowLength: window) }
        var pairs: [Pair] = []
        for (index, entry) in policies.enumerated() {
            let pruned = try session.apply(try session.plan(entry.policy, targetRatio: nil))
            pairs.append(Pair(policyId: entry.id, kind: entry.kind, ratio: entry.ratio,
                              first: try references[0].divergence(of: pruned), second: try references[1].divergence(of: pruned)))
            progress(index + 1)
        }
        return (pairs, exp(references[0].denseNLL), exp(references[1].denseNLL))
    }

    /// The agreement of `pairs` on perplexity and on KL divergence (nil for
    /// KL when a divergence is 0, e.g. the dense policy).
    /// - Throws: ``PredictorError`` for fewer than two pairs or constant values.
    public static func agreement(_ pairs: [Pair]) throws -> (perplexity: Agreement, divergence: Agreement?) {
        let strata = pairs.enumerated().map { index, pair in
            pair.ratio.map { StratifiedRanking.stratum(ofRatio: $0) } ?? Int.min + index
        }
        func agree(_ first: [Double], _ second: [Double]) throws -> Agreement {
            let logFirst = first.map { Foundation.log($0) }, logSecond = second.map { Foundation.log($0) }
            let shifts = zip(logSecond, logFirst).map { $0 - $1 }
            let meanShift = shifts.reduce(0, +) / Double(max(1, shifts.count))
            let within = try StratifiedRanking(predictedLogPerplexity: logFirst, measuredLogPerplexity: logSecond, strata: strata)
            return Agreement(count: first.count,
                             rawAPE: shifts.map { abs(exp($0) - 1) }.reduce(0, +) / Double(shifts.count),
                             shiftedAPE: shifts.map { abs(exp($0 - meanShift) - 1) }.reduce(0, +) / Double(shifts.count),
                             meanLogShift: meanShift,
                             kendallTau: try RankingMetrics.kendallTau(logFirst, logSecond),
                             kendallTauWithinRatio: within.kendallTauWithin)
        }
        let perplexity = try agree(pairs.map(\.first.perplexity), pairs.map(\.second.perplexity))
        let positive = pairs.filter { $0.first.klDivergence > 0 && $0.second.klDivergence > 0 }
        let divergence = positive.count == pairs.count
            ? try agree(pairs.map(\.first.klDivergence), pairs.map(\.second.klDivergence)) : nil
        return (perplexity, divergence)
    }

    /// `count` policies spread over the measured ones: sorted by ratio
    /// (then id, so the choice is deterministic), every k-th.
    public static func spread<T>(_ items: [T], count: Int, ratio: (T) -> Double?, id: (T) -> String) -> [T] {
        let sorted = items.sorted { (ratio($0) ?? -1, id($0)) < (ratio($1) ?? -1, id($1)) }
        guard sorted.count > count, count > 0 else { return sorted }
        return (0..<count).map { sorted[$0 * sorted.count / count] }
    }
}
