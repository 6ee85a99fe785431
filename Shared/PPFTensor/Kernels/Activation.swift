// MARK: - SwiGLU

extension Kernels {
    /// The SwiGLU gate of a LLaMA MLP (Shazeer 2020), in place:
    /// `gate = silu(gate) ⊙ up`, with `silu(x) = x / (1 + e^(−x))`.
    ///
    /// In place on purpose: with a separate output that aliases `gate`, the
    /// compiler's runtime overlap check would route every call to the scalar loop.
    public static func siluMultiply(_ gate: UnsafeMutablePointer<Float>, by up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i]
            gate[i] = g / (1 + Kernels.exp(-g)) * up[i]
        }
    }

    /// `silu(x) = x / (1 + e^(−x))` for one value (reference for tests and scalar paths).
    @inlinable
    public static func silu(_ x: Float) -> Float { x / (1 + Kernels.exp(-x)) }
}

// MARK: - Adds

extension Kernels {
    /// `x += y` element-wise (the residual connection).
    public static func add(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }

    /// Adds `bias` (length `cols`) to every row of the (rows, cols) matrix `x`.
    public static func addBias(_ bias: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = x + r * cols
            for c in 0..<cols { row[c] += bias[c] }
        }
    }
}
