import COpenBLAS

// MARK: - BLAS

/// The one door to OpenBLAS: every matrix product in PPF goes through `gemm`.
///
/// All matrices are row-major. `gemm` computes
/// `C = alpha · op(A) · op(B) + beta · C` with `op(A)` of shape (m, k),
/// `op(B)` of shape (k, n) and `C` of shape (m, n). Leading dimensions are
/// row strides, which lets callers multiply sub-blocks in place (one attention
/// head is the column block `h·hd ..< (h+1)·hd` of the (T, heads·hd) matrix).
///
/// `gemm` blocks the calling thread for as long as the product takes; run large
/// products off the Swift cooperative pool (design habit 3).
public enum BLAS {
    /// Whether an operand is used as stored or transposed.
    public enum Transpose: Sendable {
        /// `op(X) = X`.
        case none
        /// `op(X) = Xᵀ`.
        case transposed

        fileprivate var cValue: PPF_CBLAS_TRANSPOSE { self == .none ? PPFCblasNoTrans : PPFCblasTrans }
    }

    // MARK: - Threads

    /// Sets how many threads OpenBLAS uses for every later call, process-wide.
    ///
    /// Several services on two cores oversubscribe the CPU with OpenBLAS's
    /// default of one thread per core, so each service sets this from its
    /// configuration. Values below 1 are raised to 1.
    public static func setThreadCount(_ count: Int) {
        scipy_openblas_set_num_threads(Int32(clamping: max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threadCount: Int { Int(scipy_openblas_get_num_threads()) }

    /// The number of processors OpenBLAS detected (its default thread count).
    public static var processorCount: Int { Int(scipy_openblas_get_num_procs()) }

    /// OpenBLAS's build description (version, kernel, threading), for benchmark reports.
    public static var configuration: String {
        guard let text = scipy_openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// The kernel family OpenBLAS chose for this CPU at load time (`SkylakeX`,
    /// `Cooperlake`, `Zen`, `Haswell`, … or `Prescott`, the SSE3 fallback that
    /// means the library did not recognise the CPU). Honours `OPENBLAS_CORETYPE`.
    public static var kernel: String {
        guard let text = scipy_openblas_get_corename() else { return "unknown" }
        return String(cString: text)
    }

    /// One line naming the BLAS, its kernel and its thread count, for start-up
    /// logs, `ppf status` and every benchmark table.
    public static var summary: String {
        let version = configuration.split(separator: " ").prefix(2).joined(separator: " ")
        return "\(version), kernel \(kernel), \(threadCount) thread(s)"
    }

    // MARK: - Matrix multiply

    /// `C = alpha · op(A) · op(B) + beta · C` on raw row-major storage (`cblas_sgemm`).
    ///
    /// - Parameters:
    ///   - m: rows of `op(A)` and `C`.
    ///   - n: columns of `op(B)` and `C`.
    ///   - k: columns of `op(A)`, rows of `op(B)`.
    ///   - lda: row stride of `A` as stored (≥ k when not transposed, ≥ m when transposed).
    ///   - ldb: row stride of `B` as stored (≥ n when not transposed, ≥ k when transposed).
    ///   - ldc: row stride of `C` (≥ n).
    /// The pointers are only read (`a`, `b`) or written (`c`) during the call.
    @inlinable
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "gemm dimensions must be non-negative")
        precondition(lda >= max(1, transA == .none ? k : m), "gemm: lda too small")
        precondition(ldb >= max(1, transB == .none ? n : k), "gemm: ldb too small")
        precondition(ldc >= max(1, n), "gemm: ldc too small")
        if m == 0 || n == 0 { return }
        callSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @usableFromInline
    static func callSgemm(
        _ transA: Transpose, _ transB: Transpose,
        _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
        _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) {
        BLASWorkerPool.install
        scipy_cblas_sgemm(PPFCblasRowMajor, transA.cValue, transB.cValue,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `C = alpha · op(A) · op(B) + beta · C` on `Matrix` values, with shapes checked.
    public static func gemm(
        _ a: Matrix, _ transA: Transpose = .none,
        _ b: Matrix, _ transB: Transpose = .none,
        alpha: Float = 1, beta: Float = 0,
        into c: inout Matrix
    ) throws(TensorError) {
        let (m, k) = transA == .none ? (a.rows, a.cols) : (a.cols, a.rows)
        let (kb, n) = transB == .none ? (b.rows, b.cols) : (b.cols, b.rows)
        guard k == kb else {
            throw TensorError(.shapeMismatch, "gemm inner dimensions differ: op(A) is (\(m), \(k)), op(B) is (\(kb), \(n))")
        }
        guard c.rows == m, c.cols == n else {
            throw TensorError(.shapeMismatch, "gemm output is (\(c.rows), \(c.cols)) but op(A)·op(B) is (\(m), \(n))")
        }
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C scaled by beta when k == 0; keep that meaning without a call.
            c.withUnsafeMutableBufferPointer { buffer in for i in buffer.indices { buffer[i] *= beta } }
            return
        }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    gemm(transA, transB, m: m, n: n, k: k, alpha: alpha,
                         a: pa.baseAddress!, lda: a.cols,
                         b: pb.baseAddress!, ldb: b.cols,
                         beta: beta, c: pc.baseAddress!, ldc: n)
                }
            }
        }
    }

    /// `op(A) · op(B)` as a new matrix.
    public static func product(
        _ a: Matrix, _ transA: Transpose = .none,
        _ b: Matrix, _ transB: Transpose = .none
    ) throws(TensorError) -> Matrix {
        let m = transA == .none ? a.rows : a.cols
        let n = transB == .none ? b.cols : b.rows
        var c = Matrix(rows: m, cols: n)
        try gemm(a, transA, b, transB, into: &c)
        return c
    }
}
