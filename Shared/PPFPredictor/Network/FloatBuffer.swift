// MARK: - FloatBuffer

/// A zero-initialised scratch buffer of `Float`s owned by one network pass.
///
/// The forward and backward passes hand raw pointers straight to
/// `BLAS.gemm`; owning the memory in a class keeps those pointers valid for
/// the pass's lifetime without nesting a `withUnsafe…` closure per buffer.
/// The buffer never leaves the pass that created it.
final class FloatBuffer {
    /// Number of floats.
    let count: Int
    /// The storage; valid until the buffer is deallocated.
    let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` zeros.
    init(count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit {
        pointer.deinitialize(count: max(1, count))
        pointer.deallocate()
    }

    /// Sets the first `count` floats to zero.
    func zero(_ count: Int) {
        pointer.update(repeating: 0, count: count)
    }
}
