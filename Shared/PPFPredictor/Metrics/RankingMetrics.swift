import Foundation

// MARK: - RankingMetrics

/// How well predicted log-perplexities match measured ones: the NAS-style
/// ranking metrics (a search only needs the order right) and the absolute
/// errors (a user reads the perplexity itself).
///
/// Every function is pure. Perplexity errors compare `exp` of the log values.
public struct RankingMetrics: Codable, Sendable, Hashable {
    /// Number of policies compared.
    public let count: Int
    /// Kendall's τ-b between predicted and measured (ties handled).
    public let kendallTau: Double
    /// Spearman's ρ (Pearson correlation of average ranks).
    public let spearmanRho: Double
    /// Mean absolute error of perplexity, in perplexity units.
    public let perplexityMAE: Double
    /// Mean absolute percentage error of perplexity, as a fraction (0.02 = 2 %).
    public let perplexityMAPE: Double
    /// Root mean squared error of natural-log perplexity.
    public let logPerplexityRMSE: Double
    /// Coefficient of determination of log-perplexity, `1 − SS_res / SS_tot`.
    public let rSquared: Double

    /// Every metric for paired predicted / measured natural-log perplexities.
    /// - Throws: `lengthMismatch`, `nonFiniteValue`, or `degenerateInput` when
    ///   there are fewer than two values or either side is constant.
    public init(predictedLogPerplexity predicted: [Double], measuredLogPerplexity measured: [Double]) throws(PredictorError) {
        try Self.checkPaired(predicted, measured)
        let predictedPerplexity = predicted.map { Foundation.exp($0) }
        let measuredPerplexity = measured.map { Foundation.exp($0) }
        count = predicted.count
        kendallTau = try Self.kendallTau(predicted, measured)
        spearmanRho = try Self.spearmanRho(predicted, measured)
        perplexityMAE = try Self.meanAbsoluteError(predicted: predictedPerplexity, measured: measuredPerplexity)
        perplexityMAPE = try Self.meanAbsolutePercentageError(predicted: predictedPerplexity, measured: measuredPerplexity)
        logPerplexityRMSE = try Self.rootMeanSquaredError(predicted: predicted, measured: measured)
        rSquared = try Self.rSquared(predicted: predicted, measured: measured)
    }

    // MARK: Rank correlations

    /// Kendall's τ-b: `(n_c − n_d) / √((n₀ − n₁)(n₀ − n₂))`, where a pair tied in
    /// one sequence counts as neither concordant nor discordant and `n₁`, `n₂`
    /// count the pairs tied in each sequence (Kendall 1945). O(n²).
    public static func kendallTau(_ x: [Double], _ y: [Double]) throws(PredictorError) -> Double {
        try checkPaired(x, y)
        let n = x.count
        var score = 0, tiedX = 0, tiedY = 0
        for i in 0..<n {
            for j in (i + 1)..<n {
                let dx = sign(x[i] - x[j]), dy = sign(y[i] - y[j])
                score += dx * dy
                if dx == 0 { tiedX += 1 }
                if dy == 0 { tiedY += 1 }
            }
        }
        let pairs = n * (n - 1) / 2
        let denominator = (Double(pairs - tiedX) * Double(pairs - tiedY)).squareRoot()
        guard denominator > 0 else {
            throw PredictorError(.degenerateInput, "Kendall's τ is undefined when a sequence is constant")
        }
        return Double(score) / denominator
    }

    /// Spearman's ρ: the Pearson correlation of the two sequences' average ranks
    /// (tied values share the mean of the ranks they span).
    public static func spearmanRho(_ x: [Double], _ y: [Double]) throws(PredictorError) -> Double {
        try checkPaired(x, y)
        return try pearson(averageRanks(x), averageRanks(y))
    }

    /// 1-based ranks, ties sharing the average of the ranks they occupy
    /// (`[10, 20, 20, 5]` → `[2, 3.5, 3.5, 1]`).
    public static func averageRanks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let shared = Double(start + end) / 2 + 1
            for position in start...end { ranks[order[position]] = shared }
            start = end + 1
        }
        return ranks
    }

    /// Pearson's correlation coefficient.
    public static func pearson(_ x: [Double], _ y: [Double]) throws(PredictorError) -> Double {
        try checkPaired(x, y)
        let mx = mean(x), my = mean(y)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else {
            throw PredictorError(.degenerateInput, "a correlation is undefined when a sequence is constant")
        }
        return sxy / (sxx * syy).squareRoot()
    }

    // MARK: Errors

    /// `mean |predicted − measured|`.
    public static func meanAbsoluteError(predicted: [Double], measured: [Double]) throws(PredictorError) -> Double {
        try checkPaired(predicted, measured)
        return mean(zip(predicted, measured).map { abs($0 - $1) })
    }

    /// `mean |predicted − measured| / |measured|`, as a fraction.
    /// - Throws: `degenerateInput` if a measured value is 0.
    public static func meanAbsolutePercentageError(predicted: [Double], measured: [Double]) throws(PredictorError) -> Double {
        try checkPaired(predicted, measured)
        guard !measured.contains(0) else {
            throw PredictorError(.degenerateInput, "a percentage error is undefined for a measured value of 0")
        }
        return mean(zip(predicted, measured).map { abs($0 - $1) / abs($1) })
    }

    /// `√(mean (predicted − measured)²)`.
    public static func rootMeanSquaredError(predicted: [Double], measured: [Double]) throws(PredictorError) -> Double {
        try checkPaired(predicted, measured)
        return mean(zip(predicted, measured).map { ($0 - $1) * ($0 - $1) }).squareRoot()
    }

    /// `1 − Σ (measured − predicted)² / Σ (measured − mean(measured))²`.
    public static func rSquared(predicted: [Double], measured: [Double]) throws(PredictorError) -> Double {
        try checkPaired(predicted, measured)
        let m = mean(measured)
        let residual = zip(predicted, measured).reduce(0) { $0 + ($1.1 - $1.0) * ($1.1 - $1.0) }
        let total = measured.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        guard total > 0 else {
            throw PredictorError(.degenerateInput, "R² is undefined when the measured values are constant")
        }
        return 1 - residual / total
    }

    // MARK: Helpers

    private static func checkPaired(_ x: [Double], _ y: [Double]) throws(PredictorError) {
        guard x.count == y.count else {
            throw PredictorError(.lengthMismatch, "got \(x.count) predicted and \(y.count) measured values; they must pair up")
        }
        guard x.count >= 2 else {
            throw PredictorError(.degenerateInput, "metrics need at least 2 pairs, got \(x.count)")
        }
        guard x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else {
            throw PredictorError(.nonFiniteValue, "metric inputs include NaN or infinity")
        }
    }

    private static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    private static func sign(_ value: Double) -> Int { value > 0 ? 1 : (value < 0 ? -1 : 0) }
}
