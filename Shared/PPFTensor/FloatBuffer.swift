// MARK: - FloatBuffer

/// A fixed-size, 64-byte-aligned block of `Float`s with a stable address.
///
/// Scratch space of a forward pass and the KV cache live in these, so the
/// layer loop reuses memory without allocation, copy-on-write checks or
/// exclusivity checks. The buffer is zero-filled on creation and freed in
/// `deinit`; `pointer` is valid for the buffer's lifetime only.
public final class FloatBuffer {
    /// Number of floats.
    public let count: Int
    /// The first element; valid until the buffer is deallocated.
    public let pointer: UnsafeMutablePointer<Float>

    /// Allocates `count` zeros.
    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer count must be non-negative")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        pointer.initialize(repeating: 0, count: max(1, count))
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }

    /// A copy of the first `count` elements, for results that leave the hot loop.
    public func array(count taken: Int? = nil) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer, count: taken ?? count))
    }
}
