// MARK: - GGUFByteReader

/// A bounds-checked little-endian cursor over GGUF bytes. Every read checks
/// the remaining length first and throws ``ModelError/Code/truncated``, so a
/// cut or corrupt file produces an error, never an out-of-bounds access.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    private func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw ModelError(.truncated, "file ends at byte \(bytes.count) while reading \(what()) at byte \(offset) (needs \(n) bytes); the file is cut short or corrupt — download it again")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    mutating func readBool(_ what: @autoclosure () -> String) throws -> Bool {
        let b = try read(UInt8.self, what())
        guard b <= 1 else {
            throw ModelError(.invalidMetadata, "\(what()) at byte \(offset - 1) is a bool with value \(b); only 0 and 1 are valid")
        }
        return b == 1
    }

    /// Reads a count (uint64) and checks that `count * minimumElementSize`
    /// bytes can still follow, so a corrupt count cannot trigger a huge allocation.
    mutating func readCount(minimumElementSize: Int, _ what: @autoclosure () -> String) throws -> Int {
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64(Int.max / max(minimumElementSize, 1)) else {
            throw ModelError(.truncated, "\(what()) claims \(raw) elements, more than the file can hold")
        }
        let n = Int(raw)
        try need(n * minimumElementSize, "\(n) elements of \(what())")
        return n
    }

    mutating func readString(_ what: @autoclosure () -> String) throws -> String {
        let n = try readCount(minimumElementSize: 1, what())
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), as: UTF8.self)
        offset += n
        return s
    }

    /// Reads `count` fixed-width integers in one bounds check.
    mutating func readArray<T: FixedWidthInteger>(_: T.Type, count: Int, _ what: @autoclosure () -> String) throws -> [T] {
        let size = MemoryLayout<T>.size
        guard count <= Int.max / size else { throw ModelError(.truncated, "\(what()) is too large") }
        try need(count * size, what())
        let start = offset
        let result = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                buffer[i] = T(littleEndian: bytes.loadUnaligned(fromByteOffset: start + i * size, as: T.self))
            }
            initialized = count
        }
        offset += count * size
        return result
    }
}
