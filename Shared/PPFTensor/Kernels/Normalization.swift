// MARK: - RMSNorm

extension Kernels {
    /// Root-mean-square normalisation of each row, scaled by `weight`
    /// (Zhang & Sennrich 2019, as used by LLaMA):
    /// `y[r, c] = x[r, c] / sqrt(mean_c(x[r, :]²) + epsilon) · weight[c]`.
    ///
    /// `input` and `output` are (rows, cols) with row stride `cols`; they may be
    /// the same buffer.
    public static func rmsNorm(
        _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        into output: UnsafeMutablePointer<Float>,
        rows: Int, cols: Int, epsilon: Float
    ) {
        for r in 0..<rows {
            let x = input + r * cols
            let y = output + r * cols
            let meanSquare = sumOfSquares(x, count: cols) / Float(cols)
            let scale = 1 / (meanSquare + epsilon).squareRoot()
            for c in 0..<cols { y[c] = x[c] * scale * weight[c] }
        }
    }

    /// Σ x², with four independent accumulators so that release builds vectorise
    /// and the rounding error stays small for long rows.
    @inlinable
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        while i + 4 <= count {
            s0 += x[i] * x[i]
            s1 += x[i + 1] * x[i + 1]
            s2 += x[i + 2] * x[i + 2]
            s3 += x[i + 3] * x[i + 3]
            i += 4
        }
        while i < count { s0 += x[i] * x[i]; i += 1 }
        return (s0 + s1) + (s2 + s3)
    }
}
