import Foundation

/// How values map onto an axis.
public enum AxisScale: Sendable, Hashable {
    /// Evenly spaced values, ticks at 1, 2 or 5 × 10^k steps.
    case linear
    /// Evenly spaced decades, ticks at powers of ten; values ≤ 0 cannot be shown.
    case log10

    /// The axis coordinate of `value`, or nil when this scale cannot show it.
    func transform(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        switch self {
        case .linear: return value
        case .log10: return value > 0 ? Foundation.log10(value) : nil
        }
    }

    /// The value at axis coordinate `t` (inverse of `transform`).
    func value(at t: Double) -> Double {
        self == .linear ? t : pow(10, t)
    }

    /// Tick values covering `lower…upper` (data values), ends rounded outwards to a tick.
    /// Log ticks are exact powers of ten.
    public func ticks(lower: Double, upper: Double) -> [Double] {
        let (low, high, step) = tickSpan(lower: lower, upper: upper)
        let count = Int(((high - low) / step).rounded())
        return (0...count).map { value(at: low + Double($0) * step) }.map { self == .log10 ? pow(10, Foundation.log10($0).rounded()) : $0 }
    }

    /// The axis span in transformed coordinates, widened to whole ticks, and the tick step.
    func tickSpan(lower: Double, upper: Double) -> (low: Double, high: Double, step: Double) {
        var low = transform(lower) ?? 0, high = transform(upper) ?? 1
        if low > high { swap(&low, &high) }
        switch self {
        case .log10:
            var first = floor(low), last = ceil(high)
            if first == last { first -= 1; last += 1 }
            // At most about eight labelled decades, so labels do not collide.
            let step = max(1, ceil((last - first) / 8))
            last = first + ceil((last - first) / step) * step
            return (first, last, step)
        case .linear:
            if high - low < 1e-12 { let pad = max(abs(low) * 0.1, 1); low -= pad; high += pad }
            let rough = (high - low) / 5
            let magnitude = pow(10, floor(Foundation.log10(rough)))
            let n = rough / magnitude
            let step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * magnitude
            return (floor(low / step + 1e-9) * step, ceil(high / step - 1e-9) * step, step)
        }
    }
}
