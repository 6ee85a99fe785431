// MARK: - ScratchBuffer

/// A scratch buffer owned by one network pass.
///
/// The forward and backward passes hand raw pointers straight to
/// `BLAS.gemm`; owning the memory in a class keeps those pointers valid for
/// the pass's lifetime without nesting a `withUnsafe…` closure per buffer.
/// The buffer never leaves the pass that created it.
final class ScratchBuffer<Element> {
    /// Number of elements.
    let count: Int
    /// The storage; valid until the buffer is deallocated.
    let pointer: UnsafeMutablePointer<Element>

    /// Allocates `count` copies of `initial` (at least one element, so the pointer is always usable).
    init(count: Int, initial: Element) {
        self.count = max(1, count)
        pointer = UnsafeMutablePointer<Element>.allocate(capacity: self.count)
        pointer.initialize(repeating: initial, count: self.count)
    }

    deinit {
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }
}

/// Scratch `Float`s, zero-initialised.
typealias FloatBuffer = ScratchBuffer<Float>

extension ScratchBuffer where Element == Float {
    /// Allocates `count` zeros.
    convenience init(count: Int) { self.init(count: count, initial: 0) }
}
