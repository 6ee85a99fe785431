// MARK: - Comparing results that went through different BLAS kernels

/// Machine epsilon of IEEE binary32, 2⁻²³ ≈ 1.19e-7: the relative spacing of
/// `Float` values near 1, and so the relative rounding of one fp32 operation.
///
/// OpenBLAS picks its `sgemm` kernel (and so the order it sums in) by CPU
/// (AMD EPYC, Intel AVX-512, …), by shape (a batch of one is a different
/// product than a batch of two) and by thread count. Reordering a sum of `n`
/// fp32 terms changes it by at most about `n · ε · Σ|terms|`, so results of the
/// same network computed through different shapes agree only to a tolerance
/// derived from this, never bit for bit. Compare them with `isClose(_:_:relative:absolute:)`;
/// keep `==` for the same computation repeated (same shapes, same order, same
/// kernels, same thread count), and say so next to it.
public let fp32Epsilon: Double = 0x1p-23

/// Whether `a` and `b` agree within `relative` (a fraction of the larger of
/// `|a|` and `|b|`) or within `absolute`, whichever is looser:
/// `|a − b| ≤ max(absolute, relative · max(|a|, |b|))`.
///
/// Equal values (infinities included) are close; NaN is close to nothing.
/// Use `absolute` where the quantity's error does not scale with the quantity
/// itself, e.g. an ensemble's standard deviation, whose rounding error is that
/// of the members' outputs, not a fraction of the spread.
public func isClose<T: BinaryFloatingPoint>(_ a: T, _ b: T, relative: T, absolute: T = 0) -> Bool {
    if a == b { return true }
    guard a.isFinite, b.isFinite else { return false }
    return abs(a - b) <= max(absolute, relative * max(abs(a), abs(b)))
}

/// Whether `a` and `b` have the same length and every pair of elements is
/// close in the sense of `isClose(_:_:relative:absolute:)`.
public func isClose<T: BinaryFloatingPoint>(_ a: [T], _ b: [T], relative: T, absolute: T = 0) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { isClose($0, $1, relative: relative, absolute: absolute) }
}
