import Foundation

// MARK: - Softmax, log-sum-exp

extension Kernels {
    /// Largest element of a non-empty vector.
    @inlinable
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var m0 = -Float.infinity, m1 = -Float.infinity
        var i = 0
        while i + 2 <= count {
            m0 = max(m0, x[i]); m1 = max(m1, x[i + 1])
            i += 2
        }
        if i < count { m0 = max(m0, x[i]) }
        return max(m0, m1)
    }

    /// Σ x, with four independent accumulators.
    @inlinable
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i + 4 <= count {
            s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3]
            i += 4
        }
        while i < count { s0 += x[i]; i += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// In-place softmax of one vector, shifted by its maximum for stability.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        let m = maximum(x, count: count)
        for i in 0..<count { x[i] = Kernels.exp(x[i] - m) }
        let inverse = 1 / sum(x, count: count)
        for i in 0..<count { x[i] *= inverse }
    }

    /// `log Σ e^x`, shifted by the maximum for stability. Four partial sums keep
    /// the rounding error small over a 49k-token vocabulary (the perplexity
    /// normaliser) and are combined in `Double`.
    public static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Float {
        guard count > 0 else { return -.infinity }
        let m = maximum(x, count: count)
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i + 4 <= count {
            s0 += Kernels.exp(x[i] - m)
            s1 += Kernels.exp(x[i + 1] - m)
            s2 += Kernels.exp(x[i + 2] - m)
            s3 += Kernels.exp(x[i + 3] - m)
            i += 4
        }
        while i < count { s0 += Kernels.exp(x[i] - m); i += 1 }
        let total = (Double(s0) + Double(s1)) + (Double(s2) + Double(s3))
        return m + Float(Foundation.log(total))
    }

    /// `out[i] = x[i] − log Σ e^x`. `out` may alias `x`.
    public static func logSoftmax(_ x: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, count: Int) {
        let normaliser = logSumExp(x, count: count)
        for i in 0..<count { output[i] = x[i] - normaliser }
    }
}
