// MARK: - IndexBuffer

/// Zero-initialised scratch `Int32`s owned by one network pass (the argmax
/// layer of each max-pooled channel), the index counterpart of PPFTensor's
/// `FloatBuffer`. The pointer is valid for the buffer's lifetime only and
/// never leaves the pass that created it.
final class IndexBuffer {
    /// Number of indices.
    let count: Int
    /// The storage.
    let pointer: UnsafeMutablePointer<Int32>

    /// Allocates `count` zeros (at least one, so the pointer is always usable).
    init(count: Int) {
        self.count = max(1, count)
        pointer = UnsafeMutablePointer<Int32>.allocate(capacity: self.count)
        pointer.initialize(repeating: 0, count: self.count)
    }

    deinit {
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }
}
