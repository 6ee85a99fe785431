import Foundation
import PPFContracts
import PPFPredictor
import PPFStore

// MARK: - PredictorValidation

/// The predictor's honest accuracy, the one way `ppf predictor cv` and
/// `ppf predictor report` measure it (issue #13 §3): grouped k-fold
/// cross-validation (a hand-made rule at every ratio and its perturbations
/// share a fold), with the spread across folds, Kendall τ within a ratio as
/// well as pooled, top-k regret within a ratio, and the same by kind of
/// policy (the agent's own policies are the number that matters).
public struct PredictorValidation: Sendable {
    /// How samples are grouped into folds.
    public enum Grouping: String, Sendable, CaseIterable {
        /// A hand-made rule, its versions at other ratios and its perturbations in one fold.
        case family
        /// Every policy on its own (plain k-fold: flatters the predictor on perturbations).
        case none
    }

    /// One row of the table: a set of policies and its out-of-fold metrics.
    public struct Row: Sendable {
        /// `all`, or a kind of policy (`baseline`, `random`, `perturbation`, `block-drop`, `agent`, …).
        public let name: String
        /// Pooled out-of-fold metrics.
        public let summary: CrossValidation.Summary
        /// Per-fold MAPE and τ, mean ± std (nil: the set lies in fewer than 2 scorable folds).
        public let spread: FoldSpread?
        /// τ within a ratio and top-k regret (nil: no policy with a known ratio).
        public let withinRatio: StratifiedRanking?
    }

    /// The out-of-fold predictions.
    public let validation: CrossValidation
    /// How the folds were grouped.
    public let grouping: Grouping
    /// How many fold groups there were.
    public let groupCount: Int
    /// `all` first, then each kind with at least 3 policies, by name.
    public let rows: [Row]
    /// The additive estimate of the sensitivity profile alone on every sample
    /// (no training: the floor the learned residual must beat), pooled and
    /// within a ratio; nil without a profile.
    public let additiveAlone: (pooled: RankingMetrics, withinRatio: StratifiedRanking?)?

    /// Cross-validates `hyperparameters` on `samples`.
    /// - Parameters:
    ///   - provenance: each policy's source and ratio, by sample id (a policy id).
    ///   - policies: each sample's policy, by sample id (places legacy perturbations in their family).
    ///   - sensitivity: the profile the samples were featurised with, if any.
    ///   - seed: the fold assignment's seed.
    ///   - progress: told after each fold (1-based).
    /// - Throws: ``PredictorError`` for fewer groups than folds; what training throws.
    public static func run(samples: [TrainingSample], provenance: [String: PolicyRepository.Provenance],
                           policies: [String: PruningPolicy], sensitivity: SensitivityProfile?, folds: Int,
                           grouping: Grouping, hyperparameters: PredictorHyperparameters, seed: UInt64 = 17,
                           progress: (Int) -> Void = { _ in }) throws -> PredictorValidation {
        let ids = samples.map(\.id)
        let groups: [String]? = grouping == .family
            ? PolicySources.foldGroups(ids: ids, sources: provenance.mapValues(\.source), policies: policies) : nil
        let validation = try CrossValidation.run(samples, groups: groups, folds: folds, hyperparameters: hyperparameters,
                                                 seed: seed, progress: progress)
        // Policies without a known ratio get strata of their own (no pair, no regret).
        let strata = ids.enumerated().map { index, id in
            provenance[id]?.ratio.map { StratifiedRanking.stratum(ofRatio: $0) } ?? Int.min + index
        }
        let known = samples.indices.filter { provenance[ids[$0]]?.ratio != nil }
        let isKnown = Set(known)
        func row(_ name: String, _ indices: [Int]) throws -> Row? {
            guard let summary = try validation.summary(of: indices) else { return nil }
            let rated = indices.filter { isKnown.contains($0) }
            return Row(name: name, summary: summary, spread: try validation.foldSpread(of: indices),
                       withinRatio: rated.isEmpty ? nil : try validation.stratifiedRanking(of: rated, strata: strata))
        }
        var rows: [Row] = []
        if let all = try row("all", Array(samples.indices)) { rows.append(all) }
        let kinds = Dictionary(grouping: samples.indices) { PolicySources.kind(of: provenance[ids[$0]]?.source ?? "other") }
        for kind in kinds.keys.sorted() { if let kindRow = try row(kind, kinds[kind] ?? []) { rows.append(kindRow) } }

        var additive: (RankingMetrics, StratifiedRanking?)?
        if let sensitivity, samples.count >= 2, samples.allSatisfy({ $0.features.spec.usesSensitivity }) {
            let estimate = try sensitivity.additiveEstimates(of: samples)
            let measured = samples.map(\.logPerplexity)
            additive = (try sensitivity.evaluate(on: samples),
                        known.isEmpty ? nil : try StratifiedRanking(predictedLogPerplexity: known.map { estimate[$0] },
                                                                    measuredLogPerplexity: known.map { measured[$0] },
                                                                    strata: known.map { strata[$0] }))
        }
        return PredictorValidation(validation: validation, grouping: grouping, groupCount: Set(groups ?? ids).count,
                                   rows: rows, additiveAlone: additive)
    }

    /// The table as Markdown lines: one row per set, pooled and within-ratio
    /// metrics, the spread across folds, then the additive estimate alone.
    public func markdownTable() -> [String] {
        var lines = [
            "| policies | n | MAPE | ± across folds | median APE | Kendall τ | ± across folds | τ within a ratio (pairs) | top-1 regret | top-3 regret |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        func percent(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "–" }
            return String(format: "%.1f %%", 100 * value)
        }
        func within(_ ranking: StratifiedRanking?) -> [String] {
            guard let ranking else { return ["–", "–", "–"] }
            let tau = ranking.kendallTauWithin.isFinite ? String(format: "%.3f (%d)", ranking.kendallTauWithin, ranking.pairs) : "–"
            return [tau, percent(ranking.topKRegret[1]), percent(ranking.topKRegret[3])]
        }
        for row in rows {
            let m = row.summary.metrics
            let cells = [row.name, String(m.count), percent(m.perplexityMAPE),
                         row.spread.map { String(format: "%.1f", 100 * $0.mape.standardDeviation) } ?? "–",
                         percent(row.summary.medianAPE), String(format: "%.3f", m.kendallTau),
                         row.spread.map { String(format: "%.3f", $0.kendallTau.standardDeviation) } ?? "–"]
                + within(row.withinRatio)
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        if let (pooled, ranking) = additiveAlone {
            let cells = ["all, additive estimate alone (no training)", String(pooled.count), percent(pooled.perplexityMAPE), "–",
                         "–", String(format: "%.3f", pooled.kendallTau), "–"] + within(ranking)
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines
    }

    /// One line on how the folds were made.
    public var foldDescription: String {
        let how = grouping == .family
            ? "grouped: each hand-made rule at every ratio, with its perturbations, in one fold"
            : "ungrouped: every policy on its own"
        return String(format: "%d folds over %d groups (%@); trained in %.1f s; ratios bucketed by 0.05 for τ within a ratio and regret",
                      validation.foldCount, groupCount, how, validation.seconds)
    }
}
