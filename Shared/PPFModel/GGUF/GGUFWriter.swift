#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - GGUFWriter

/// Builds a GGUF v3 file: metadata of every kind, then tensors (F32, F16,
/// BF16 and Q8_0 from `Float`s, or any type from already-encoded bytes),
/// each aligned to `general.alignment` (default 32).
///
/// ``write(to:)`` is atomic: it writes a temporary file next to the target,
/// flushes it, and renames it into place; on any error the temporary file is
/// removed and the target is untouched.
///
/// ```swift
/// var writer = GGUFWriter(metadata: source.metadata)
/// writer.metadata["llama.attention.head_count"] = .array(.int32(heads))
/// try writer.addTensor(name: "blk.0.attn_q.weight", shape: [576, 576], values: q, as: .f16)
/// try writer.write(to: url)
/// ```
public struct GGUFWriter: Sendable {
    /// One tensor waiting to be written.
    struct PendingTensor: Sendable {
        var name: String
        var dimensions: [Int]
        var type: GGMLType
        var bytes: [UInt8]
    }

    /// The metadata to write, in order. `general.alignment`, if set, must be
    /// a uint32 power of two; it decides the padding.
    public var metadata: GGUFMetadata
    private var pending: [PendingTensor] = []
    private var names = Set<String>()

    /// Starts a file with `metadata` (for example a source file's metadata to modify).
    public init(metadata: GGUFMetadata = GGUFMetadata()) {
        self.metadata = metadata
    }

    /// Names of the tensors added so far, in order.
    public var tensorNames: [String] { pending.map(\.name) }

    // MARK: - Adding tensors

    /// Adds a tensor from row-major `values` with `shape` given outermost
    /// first (`[rows, columns]`, as the values are laid out), encoded as `type`.
    public mutating func addTensor(name: String, shape: [Int], values: [Float], as type: GGMLType = .f32) throws {
        let dimensions = Array(shape.reversed())
        try checkNew(name: name, dimensions: dimensions, type: type)
        let elements = dimensions.reduce(1, *)
        guard values.count == elements else {
            throw ModelError(.shapeMismatch, "tensor '\(name)' has shape \(shape) (\(elements) elements) but \(values.count) values were given")
        }
        let bytes = try Quantization.encode(values, as: type)
        names.insert(name)
        pending.append(PendingTensor(name: name, dimensions: dimensions, type: type, bytes: bytes))
    }

    /// Adds a tensor whose bytes are already in `type`'s storage format (for
    /// example copied unchanged from another GGUF file), with `dimensions`
    /// innermost first as GGUF stores them.
    public mutating func addTensor(name: String, dimensions: [Int], type: GGMLType, rawBytes: [UInt8]) throws {
        try checkNew(name: name, dimensions: dimensions, type: type)
        let expected = type.byteCount(elementCount: dimensions.reduce(1, *))
        guard rawBytes.count == expected else {
            throw ModelError(.shapeMismatch, "tensor '\(name)' (\(type), dimensions \(dimensions)) needs \(expected.map(String.init) ?? "?") bytes but \(rawBytes.count) were given")
        }
        names.insert(name)
        pending.append(PendingTensor(name: name, dimensions: dimensions, type: type, bytes: rawBytes))
    }

    private func checkNew(name: String, dimensions: [Int], type: GGMLType) throws {
        guard !names.contains(name) else {
            throw ModelError(.invalidTensor, "tensor '\(name)' was already added")
        }
        guard (1...GGUFFile.Header.maximumDimensions).contains(dimensions.count), dimensions.allSatisfy({ $0 > 0 }) else {
            throw ModelError(.shapeMismatch, "tensor '\(name)' has dimensions \(dimensions); GGUF needs 1 to \(GGUFFile.Header.maximumDimensions) positive dimensions")
        }
        guard dimensions[0] % type.blockSize == 0 else {
            throw ModelError(.shapeMismatch, "tensor '\(name)' has rows of \(dimensions[0]) elements, not a multiple of the \(type) block size \(type.blockSize)")
        }
    }

    // MARK: - Writing

    /// The alignment the file will use.
    public func alignment() throws -> Int {
        guard let value = metadata["general.alignment"] else { return GGUFFile.defaultAlignment }
        guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else {
            throw ModelError(.invalidMetadata, "general.alignment must be a uint32 power of two, found \(value)")
        }
        return Int(a)
    }

    /// Everything before the tensor data: header, metadata, tensor descriptions, padding.
    func headerBytes(alignment: Int) -> [UInt8] {
        var out = ByteSink()
        out.u32(GGUFFile.magic)
        out.u32(3)
        out.u64(UInt64(pending.count))
        out.u64(UInt64(metadata.count))
        for entry in metadata.entries {
            out.string(entry.key)
            out.u32(entry.value.type.rawValue)
            out.value(entry.value)
        }
        var offset = 0
        for t in pending {
            out.string(t.name)
            out.u32(UInt32(t.dimensions.count))
            for d in t.dimensions { out.u64(UInt64(d)) }
            out.u32(t.type.rawValue)
            out.u64(UInt64(offset))
            offset = Self.alignUp(offset + t.bytes.count, alignment)
        }
        out.pad(to: alignment)
        return out.bytes
    }

    static func alignUp(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Writes the file atomically to `url` (replacing any existing file).
    public func write(to url: URL) throws {
        let alignment = try alignment()
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw ModelError(.io, "cannot create '\(temporary.path)': \(String(cString: strerror(errno)))")
        }
        var closed = false
        do {
            defer { if !closed { close(fd) } }
            try headerBytes(alignment: alignment).withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary.path) }
            let zeros = [UInt8](repeating: 0, count: alignment)
            for t in pending {
                try t.bytes.withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary.path) }
                let padding = Self.alignUp(t.bytes.count, alignment) - t.bytes.count
                try zeros.withUnsafeBytes {
                    try Self.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<padding]), path: temporary.path)
                }
            }
            guard fsync(fd) == 0 else {
                throw ModelError(.io, "cannot flush '\(temporary.path)': \(String(cString: strerror(errno)))")
            }
            closed = true
            guard close(fd) == 0 else {
                throw ModelError(.io, "cannot close '\(temporary.path)': \(String(cString: strerror(errno)))")
            }
            guard rename(temporary.path, url.path) == 0 else {
                throw ModelError(.io, "cannot move the written file to '\(url.path)': \(String(cString: strerror(errno)))")
            }
        } catch {
            unlink(temporary.path)
            throw error
        }
    }

    /// Writes all of `raw`, retrying short writes and interrupted calls.
    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws {
        guard let base = raw.baseAddress else { return }
        var done = 0
        while done < raw.count {
            let n = systemWrite(fd, base + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelError(.io, "cannot write '\(path)': \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}

/// `write(2)`, named so it does not clash with ``GGUFWriter/write(to:)``.
@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}

// MARK: - ByteSink

/// Little-endian serialisation of GGUF header fields.
struct ByteSink {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func pad(to alignment: Int) {
        let target = GGUFWriter.alignUp(bytes.count, alignment)
        bytes.append(contentsOf: repeatElement(0, count: target - bytes.count))
    }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): u8(x)
        case .int8(let x): u8(UInt8(bitPattern: x))
        case .uint16(let x): u16(x)
        case .int16(let x): u16(UInt16(bitPattern: x))
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .float64(let x): u64(x.bitPattern)
        case .bool(let x): u8(x ? 1 : 0)
        case .string(let x): string(x)
        case .array(let a): array(a)
        }
    }

    mutating func array(_ a: GGUFArray) {
        u32(a.elementType.rawValue)
        u64(UInt64(a.count))
        switch a {
        case .uint8(let xs): bytes.append(contentsOf: xs)
        case .int8(let xs): for x in xs { u8(UInt8(bitPattern: x)) }
        case .uint16(let xs): for x in xs { u16(x) }
        case .int16(let xs): for x in xs { u16(UInt16(bitPattern: x)) }
        case .uint32(let xs): for x in xs { u32(x) }
        case .int32(let xs): for x in xs { u32(UInt32(bitPattern: x)) }
        case .uint64(let xs): for x in xs { u64(x) }
        case .int64(let xs): for x in xs { u64(UInt64(bitPattern: x)) }
        case .float32(let xs): for x in xs { u32(x.bitPattern) }
        case .float64(let xs): for x in xs { u64(x.bitPattern) }
        case .bool(let xs): for x in xs { u8(x ? 1 : 0) }
        case .string(let xs): for x in xs { string(x) }
        case .array(let xs): for x in xs { array(x) }
        }
    }
}
