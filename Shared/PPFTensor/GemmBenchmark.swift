import Foundation

// MARK: - GemmBenchmark

/// Measures the sgemm throughput this machine reaches through `BLAS.gemm`,
/// so a model benchmark can report its forward pass as a fraction of peak.
public enum GemmBenchmark {
    /// One measurement: a product (m, k) · (k, n), repeated.
    public struct Result: Sendable, Codable {
        /// Rows of A and C.
        public let m: Int
        /// Columns of B and C.
        public let n: Int
        /// The shared inner dimension.
        public let k: Int
        /// Timed repetitions (after one warm-up).
        public let repetitions: Int
        /// Best (fastest) single repetition in seconds.
        public let bestSeconds: Double
        /// `2·m·n·k / bestSeconds / 1e9`.
        public let gigaflopsPerSecond: Double
        /// OpenBLAS threads used.
        public let threads: Int
    }

    /// Times `C = A · Bᵀ` with A (m, k) and B (n, k) — the weight layout of a
    /// linear layer — and reports the best of `repetitions` runs.
    ///
    /// The default shape is one SmolLM2-135M MLP projection at window 512:
    /// (512, 576) · (576, 1536).
    public static func measure(m: Int = 512, n: Int = 1536, k: Int = 576, repetitions: Int = 20) -> Result {
        var generator = SeededGenerator(seed: 42)
        let a = Matrix.random(rows: m, cols: k, scale: 1, using: &generator)
        let b = Matrix.random(rows: n, cols: k, scale: 1, using: &generator)
        var c = Matrix(rows: m, cols: n)
        var best = Double.infinity
        for repetition in 0...max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            // Shapes agree by construction, so this cannot throw.
            try? BLAS.gemm(a, .none, b, .transposed, into: &c)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if repetition > 0 { best = min(best, seconds) }
        }
        let flops = 2 * Double(m) * Double(n) * Double(k)
        return Result(m: m, n: n, k: k, repetitions: max(1, repetitions), bestSeconds: best,
                      gigaflopsPerSecond: flops / best / 1e9, threads: BLAS.threadCount)
    }
}
