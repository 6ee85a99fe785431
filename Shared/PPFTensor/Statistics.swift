// MARK: - Statistics

/// Order statistics the benchmarks and reports quote (latency medians and
/// tails), computed one way everywhere.
public enum Statistics {
    /// The median of `values` (the mean of the two middle ones for an even
    /// count); NaN for none.
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The `q`-quantile of `values` by the nearest-rank method (the smallest
    /// value with at least `q` of the values at or below it), so a p99 is a
    /// value that was observed; NaN for none.
    /// - Precondition: `0 < q ≤ 1`.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        precondition(q > 0 && q <= 1, "quantile \(q) is outside (0, 1]")
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((q * Double(sorted.count)).rounded(.up))
        return sorted[max(0, min(sorted.count, rank) - 1)]
    }
}
