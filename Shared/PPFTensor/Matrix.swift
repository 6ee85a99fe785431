// MARK: - Matrix

/// A dense row-major matrix of `Float`: element (r, c) lives at `storage[r * cols + c]`.
///
/// Linear-layer weights use the checkpoint's (out × in) convention, so a layer
/// computes `y = x · Wᵀ` with one `BLAS.gemm` call (`transB: .transposed`).
/// The storage is a value-semantic `[Float]`; hot loops borrow it through
/// `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer`.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns (the leading dimension of the row-major storage).
    public let cols: Int
    /// The elements, row after row; always exactly `rows * cols` long.
    public private(set) var storage: [Float]

    /// A matrix filled with `value`.
    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "Matrix dimensions must be non-negative")
        self.rows = rows
        self.cols = cols
        self.storage = [Float](repeating: value, count: rows * cols)
    }

    /// Wraps existing row-major storage, checking that its length matches the shape.
    public init(rows: Int, cols: Int, storage: [Float]) throws(TensorError) {
        guard rows >= 0, cols >= 0 else {
            throw TensorError(.invalidArgument, "negative matrix shape (\(rows), \(cols))")
        }
        guard storage.count == rows * cols else {
            throw TensorError(.shapeMismatch,
                              "storage holds \(storage.count) floats but shape (\(rows), \(cols)) needs \(rows * cols)")
        }
        self.rows = rows
        self.cols = cols
        self.storage = storage
    }

    /// The shape as a (rows, cols) pair, for messages and comparisons.
    public var shape: (rows: Int, cols: Int) { (rows, cols) }

    /// Number of elements.
    public var count: Int { storage.count }

    /// Element access; traps on out-of-range indices like an array does.
    public subscript(row: Int, col: Int) -> Float {
        get { storage[row * cols + col] }
        set { storage[row * cols + col] = newValue }
    }

    /// A copy of one row.
    public func row(_ index: Int) -> [Float] {
        Array(storage[index * cols ..< (index + 1) * cols])
    }

    /// The transpose, as a new matrix.
    public func transposed() -> Matrix {
        var result = Matrix(rows: cols, cols: rows)
        storage.withUnsafeBufferPointer { source in
            result.storage.withUnsafeMutableBufferPointer { target in
                for r in 0..<rows {
                    for c in 0..<cols { target[c * rows + r] = source[r * cols + c] }
                }
            }
        }
        return result
    }

    /// Lends the storage read-only. The pointer must not escape the closure.
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Float>) throws(E) -> R
    ) throws(E) -> R {
        try storage.withUnsafeBufferPointer { buffer throws(E) in try body(buffer) }
    }

    /// Lends the storage for writing. The pointer must not escape the closure.
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws(E) -> R
    ) throws(E) -> R {
        try storage.withUnsafeMutableBufferPointer { buffer throws(E) in try body(buffer) }
    }
}

// MARK: - Random initialisation

extension Matrix {
    /// A matrix of uniform values in `[-scale, scale)` drawn from `generator`;
    /// with a seeded generator the result is reproducible (used by tests that
    /// build tiny random models without any download). Each value takes the
    /// top 24 bits of one draw (``SeededGenerator/nextFloat()``), so
    /// filling a 28M-element embedding is fast.
    public static func random(rows: Int, cols: Int, scale: Float, using generator: inout SeededGenerator) -> Matrix {
        var matrix = Matrix(rows: rows, cols: cols)
        matrix.storage.withUnsafeMutableBufferPointer { values in
            for index in values.indices {
                values[index] = (2 * generator.nextFloat() - 1) * scale
            }
        }
        return matrix
    }
}
