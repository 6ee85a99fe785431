import Foundation
import PPFTensor

// MARK: - UncertaintyCalibration

/// How far the ensemble's spread understates its errors on policies it did
/// not train on, and the uncertainty penalty `κ` that follows.
///
/// The agent maximises `−mean − κ·std`: a pessimistic bound on the
/// log-perplexity. With `κ = 1` that bound is only as honest as the members'
/// disagreement, and an ensemble trained on one data set disagrees far less
/// than it errs away from that data (the agent's policies measured 27–50 %
/// worse than predicted before, issue #13). Calibrating on held-out policies
/// makes the bound hold for a chosen share of them: `κ` is the smallest value
/// with `measured ≤ mean + κ·std` for at least ``coverage`` of the held-out
/// policies, so a policy the members disagree on costs the agent in proportion
/// to how badly such disagreement has gone before.
///
/// Only under-predictions raise `κ` (an over-prediction is a safe error for
/// an agent that minimises perplexity), and `κ` is clamped to
/// ``penaltyRange``: never below 1, the uncalibrated default (policies held
/// out at random understate the error where the agent goes: in the demo of
/// 2026-12-04 the bound with κ = 1 covered 80 % of 10 held-out policies but
/// 38 % once the agent's 12 spot-checks joined them, so a held-out sample
/// that asks for less is no reason to trust the predictor more), and not so
/// high that the spread swamps the prediction itself.
public struct UncertaintyCalibration: Codable, Sendable, Hashable {
    /// The share of held-out policies the bound `mean + κ·std` covers. Default 0.8.
    public static let defaultCoverage = 0.8
    /// The values `κ` is clamped to.
    public static let penaltyRange: ClosedRange<Double> = 1...10
    /// Fewest held-out policies a calibration is made from; with fewer, the
    /// quantile is mostly noise and the caller keeps its default `κ`.
    public static let minimumCount = 5
    /// The smallest standard deviation divided by, so a member-identical
    /// prediction gives a large but finite z-score.
    static let smallestStd = 1e-6

    /// The calibrated penalty `κ`, within ``penaltyRange``.
    public let uncertaintyPenalty: Double
    /// The coverage it was calibrated for.
    public let coverage: Double
    /// How many residuals it was calibrated on.
    public let count: Int
    /// Of those, how many were the agent's spot-checked policies (the rest held-out policies).
    public let spotCheckCount: Int
    /// Share of the residuals the uncalibrated bound `mean + 1·std` covered.
    public let coverageAtOne: Double
    /// Median ensemble std of log-perplexity.
    public let medianStd: Double
    /// Median absolute error of log-perplexity.
    public let medianAbsoluteError: Double

    /// A prediction (mean and ensemble std of log-perplexity) and the measured log-perplexity.
    public struct Residual: Sendable, Hashable {
        public let predicted: Double
        public let std: Double
        public let measured: Double

        /// A prediction and its measurement, in natural-log perplexity.
        public init(predicted: Double, std: Double, measured: Double) {
            self.predicted = predicted
            self.std = std
            self.measured = measured
        }

        var isUsable: Bool { predicted.isFinite && std.isFinite && std >= 0 && measured.isFinite }
    }

    /// Calibrates `κ` on held-out residuals and on the agent's spot-checks
    /// (policies the agent chose, predicted when it published them: the
    /// agent picks where the predictor is optimistic, so these err more than
    /// policies held out at random, and the bound must hold for them too).
    /// - Returns: nil when fewer than ``minimumCount`` residuals are usable.
    public static func calibrate(heldOut: [Residual], spotChecks: [Residual] = [],
                                 coverage: Double = defaultCoverage) -> UncertaintyCalibration? {
        guard coverage > 0, coverage <= 1 else { return nil }
        let usableSpotChecks = spotChecks.filter(\.isUsable)
        let residuals = heldOut.filter(\.isUsable) + usableSpotChecks
        guard residuals.count >= minimumCount else { return nil }
        // z > 0: the policy measured worse than predicted, by z ensemble spreads.
        let scores = residuals.map { ($0.measured - $0.predicted) / max($0.std, smallestStd) }.sorted()
        // The smallest κ with ⌈coverage·n⌉ scores at or below it.
        let needed = Int((coverage * Double(scores.count)).rounded(.up))
        let kappa = min(max(scores[max(0, needed - 1)], penaltyRange.lowerBound), penaltyRange.upperBound)
        return UncertaintyCalibration(
            uncertaintyPenalty: kappa, coverage: coverage, count: scores.count, spotCheckCount: usableSpotChecks.count,
            coverageAtOne: Double(scores.filter { $0 <= 1 }.count) / Double(scores.count),
            medianStd: Statistics.median(residuals.map(\.std)),
            medianAbsoluteError: Statistics.median(residuals.map { abs($0.measured - $0.predicted) }))
    }

    /// Calibrates `κ` on paired arrays (see ``calibrate(heldOut:spotChecks:coverage:)``);
    /// nil also when the lengths differ.
    public static func calibrate(predictedLogPerplexity mean: [Double], std: [Double], measuredLogPerplexity measured: [Double],
                                 coverage: Double = defaultCoverage) -> UncertaintyCalibration? {
        guard mean.count == std.count, mean.count == measured.count else { return nil }
        return calibrate(heldOut: mean.indices.map { Residual(predicted: mean[$0], std: std[$0], measured: measured[$0]) },
                         coverage: coverage)
    }

    /// `predictor`'s residuals on `samples`.
    /// - Throws: what prediction throws for a sample of another feature spec.
    public static func residuals(of predictor: PerformancePredictor, on samples: [TrainingSample]) throws(PredictorError) -> [Residual] {
        guard !samples.isEmpty else { return [] }
        let predictions = try predictor.predict(samples.map(\.features))
        return zip(predictions, samples).map {
            Residual(predicted: $0.logPerplexity, std: $0.logPerplexityStd, measured: $1.logPerplexity)
        }
    }

    /// One line for logs and reports.
    public var summary: String {
        String(format: "κ = %.2f (covers %.0f %% of %d residuals, %d of them the agent's spot-checks; κ = 1 covered %.0f %%; median std %.3f vs median |error| %.3f in log-ppl)",
               uncertaintyPenalty, 100 * coverage, count, spotCheckCount, 100 * coverageAtOne, medianStd, medianAbsoluteError)
    }
}
