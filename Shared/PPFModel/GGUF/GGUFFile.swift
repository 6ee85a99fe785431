import Foundation

// MARK: - GGUFFile

/// A GGUF (v2/v3) file, memory-mapped read-only: its metadata, its tensor
/// descriptions, and access to each tensor's bytes and dequantized values.
///
/// Opening parses and validates the whole header: every length, count and
/// tensor range is checked against the file size (a cut file throws
/// ``ModelError/Code/truncated``), unknown tensor types throw
/// ``ModelError/Code/unsupportedType``, and tensor offsets must respect the
/// file's alignment (`general.alignment`, default 32). Tensor data stays in
/// the mapping until asked for. Layout: GGUF spec (ggml `docs/gguf.md`).
///
/// Reading is synchronous and touches the disk (page faults on first
/// access); services should open and dequantize on a dedicated queue, not
/// on the cooperative pool.
public final class GGUFFile: Sendable {
    /// Where the file was opened from.
    public let url: URL
    /// GGUF format version (2 or 3).
    public let version: UInt32
    /// All metadata, in file order.
    public let metadata: GGUFMetadata
    /// All tensor descriptions, in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data alignment in bytes (`general.alignment`, default 32).
    public let alignment: Int
    /// Absolute byte offset of the tensor data section.
    public let dataOffset: Int
    /// File size in bytes.
    public let fileSize: Int

    private let mapping: MappedFile
    private let tensorIndex: [String: Int]

    /// The magic number: the bytes `GGUF` read as a little-endian uint32.
    static let magic: UInt32 = 0x4655_4747
    /// The alignment when `general.alignment` is absent.
    public static let defaultAlignment = 32

    private init(url: URL, mapping: MappedFile, header: Header) {
        self.url = url
        self.mapping = mapping
        self.version = header.version
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.alignment = header.alignment
        self.dataOffset = header.dataOffset
        self.fileSize = mapping.count
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        self.tensorIndex = index
    }

    /// Maps and parses the GGUF file at `url`.
    public static func open(_ url: URL) throws -> GGUFFile {
        let mapping = try MappedFile.make(url: url)
        let header = try mapping.withBytes { try Header.parse($0, path: url.path) }
        return GGUFFile(url: url, mapping: mapping, header: header)
    }

    /// Maps and parses the GGUF file at `path`.
    public static func open(path: String) throws -> GGUFFile {
        try open(URL(fileURLWithPath: path))
    }

    // MARK: - Tensors

    /// The description of the tensor called `name`, or `nil`.
    public func tensorInfo(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The description of the tensor called `name`; throws ``ModelError/Code/missingTensor``.
    public func tensor(named name: String, file: String = #fileID, line: Int = #line) throws -> GGUFTensorInfo {
        guard let info = tensorInfo(named: name) else {
            throw ModelError(.missingTensor, "tensor '\(name)' is not in \(url.lastPathComponent) (\(tensors.count) tensors)",
                             file: file, line: line)
        }
        return info
    }

    /// The description of the tensor called `name`, checked against the
    /// shape the caller expects (outermost first, e.g. `[out, in]`); throws
    /// ``ModelError/Code/missingTensor`` or ``ModelError/Code/shapeMismatch``.
    public func tensor(named name: String, shape: [Int], file: String = #fileID, line: Int = #line) throws -> GGUFTensorInfo {
        let info = try tensor(named: name, file: file, line: line)
        guard info.shape == shape else {
            throw ModelError(.shapeMismatch, "tensor '\(name)' has shape \(info.shape) (outer first) but \(shape) was expected; the file does not match its configuration",
                             file: file, line: line)
        }
        return info
    }

    /// Lends the raw stored bytes of `tensor` to `body`. The buffer points into
    /// the mapping and must not escape the closure.
    public func withRawBytes<R>(of tensor: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try mapping.withBytes { all in
            let start = dataOffset + tensor.offset
            return try body(UnsafeRawBufferPointer(rebasing: all[start..<(start + tensor.byteCount)]))
        }
    }

    /// The raw stored bytes of `tensor` (a copy), e.g. to re-export it unchanged.
    public func rawBytes(of tensor: GGUFTensorInfo) -> [UInt8] {
        withRawBytes(of: tensor) { Array($0) }
    }

    // MARK: - Dequantization

    /// The whole tensor as row-major `Float`s: `rowCount` rows of `rowLength`
    /// (for a matrix shown as (in, out) that is `[out][in]`).
    public func dequantize(_ tensor: GGUFTensorInfo) throws -> [Float] {
        try dequantize(tensor, rows: 0..<tensor.rowCount)
    }

    /// The tensor called `name` as row-major `Float`s.
    public func dequantize(named name: String) throws -> [Float] {
        try dequantize(try tensor(named: name))
    }

    /// Rows `rows` of `tensor` as row-major `Float`s (`rows.count * rowLength` values).
    public func dequantize(_ tensor: GGUFTensorInfo, rows: Range<Int>) throws -> [Float] {
        try checkRows(rows, of: tensor)
        let count = rows.count * tensor.rowLength
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try dequantizeUnchecked(tensor, rows: rows, into: buffer)
            initialized = count
        }
    }

    /// Writes rows `rows` of `tensor` into `destination`, which must hold
    /// exactly `rows.count * tensor.rowLength` floats. Allocates nothing.
    public func dequantize(_ tensor: GGUFTensorInfo, rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try checkRows(rows, of: tensor)
        guard destination.count == rows.count * tensor.rowLength else {
            throw ModelError(.shapeMismatch, "destination holds \(destination.count) floats but rows \(rows) of '\(tensor.name)' need \(rows.count * tensor.rowLength)")
        }
        try dequantizeUnchecked(tensor, rows: rows, into: destination)
    }

    private func checkRows(_ rows: Range<Int>, of tensor: GGUFTensorInfo) throws {
        guard rows.lowerBound >= 0, rows.upperBound <= tensor.rowCount else {
            throw ModelError(.shapeMismatch, "rows \(rows) are outside '\(tensor.name)', which has \(tensor.rowCount) rows")
        }
        guard tensorInfo(named: tensor.name) == tensor else {
            throw ModelError(.missingTensor, "tensor '\(tensor.name)' with this description does not belong to \(url.lastPathComponent)")
        }
    }

    private func dequantizeUnchecked(_ tensor: GGUFTensorInfo, rows: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard !rows.isEmpty, let out = destination.baseAddress else { return }
        try withRawBytes(of: tensor) { raw in
            guard let base = raw.baseAddress else { return }
            try Dequantization.dequantize(
                tensor.type,
                from: base + rows.lowerBound * tensor.bytesPerRow,
                count: rows.count * tensor.rowLength,
                into: out
            )
        }
    }
}

// MARK: - Header parsing

extension GGUFFile {
    /// Everything before the tensor data, parsed and validated.
    struct Header {
        var version: UInt32
        var metadata: GGUFMetadata
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int

        /// ggml's limit on tensor rank (`GGML_MAX_DIMS`).
        static let maximumDimensions = 4
        /// Nesting limit for arrays of arrays, so a malicious file cannot recurse without bound.
        static let maximumArrayDepth = 8

        static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
            var r = GGUFByteReader(bytes)
            let magic = try r.read(UInt32.self, "the magic number")
            guard magic == GGUFFile.magic else {
                throw ModelError(.badMagic, "'\(path)' does not start with 'GGUF' (found 0x\(String(magic, radix: 16))); it is not a GGUF model file")
            }
            let version = try r.read(UInt32.self, "the version")
            guard version == 2 || version == 3 else {
                let swapped = version.byteSwapped
                let hint = (swapped == 2 || swapped == 3) ? " (it looks like a big-endian GGUF, which is not supported)" : ""
                throw ModelError(.unsupportedVersion, "'\(path)' is GGUF version \(version)\(hint); only versions 2 and 3 are supported")
            }
            // A tensor description needs at least 8 (name length) + 4 (rank) + 4 (type) + 8 (offset) bytes.
            let tensorCount = try r.readCount(minimumElementSize: 24, "the tensor count")
            // A key/value pair needs at least 8 (key length) + 4 (type) + 1 (smallest value) bytes.
            let kvCount = try r.readCount(minimumElementSize: 13, "the metadata count")

            var metadata = GGUFMetadata()
            for i in 0..<kvCount {
                let key = try r.readString("metadata key #\(i)")
                guard !metadata.contains(key) else {
                    throw ModelError(.invalidMetadata, "metadata key '\(key)' appears twice")
                }
                let typeID = try r.read(UInt32.self, "the type of '\(key)'")
                metadata[key] = try readValue(typeID: typeID, from: &r, key: key, depth: 0)
            }

            var alignment = GGUFFile.defaultAlignment
            if let value = metadata["general.alignment"] {
                guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else {
                    throw ModelError(.invalidMetadata, "general.alignment must be a uint32 power of two, found \(value)")
                }
                alignment = Int(a)
            }

            var tensors: [GGUFTensorInfo] = []
            tensors.reserveCapacity(tensorCount)
            var names = Set<String>()
            for i in 0..<tensorCount {
                let name = try r.readString("the name of tensor #\(i)")
                guard names.insert(name).inserted else {
                    throw ModelError(.invalidTensor, "tensor '\(name)' appears twice")
                }
                let rank = try r.read(UInt32.self, "the rank of '\(name)'")
                guard rank >= 1, rank <= UInt32(maximumDimensions) else {
                    throw ModelError(.invalidTensor, "tensor '\(name)' has \(rank) dimensions; ggml allows 1 to \(maximumDimensions)")
                }
                let rawDims = try r.readArray(UInt64.self, count: Int(rank), "the dimensions of '\(name)'")
                var elements = 1
                var dims: [Int] = []
                for d in rawDims {
                    guard d > 0, d <= UInt64(Int32.max), let di = Int(exactly: d) else {
                        throw ModelError(.invalidTensor, "tensor '\(name)' has dimension \(d), outside 1…\(Int32.max)")
                    }
                    let (product, overflow) = elements.multipliedReportingOverflow(by: di)
                    guard !overflow else { throw ModelError(.invalidTensor, "tensor '\(name)' has too many elements") }
                    elements = product
                    dims.append(di)
                }
                let typeID = try r.read(UInt32.self, "the type of '\(name)'")
                guard let type = GGMLType(rawValue: typeID) else {
                    throw ModelError(.unsupportedType, "tensor '\(name)' has ggml type id \(typeID), which this reader does not know")
                }
                guard dims[0] % type.blockSize == 0 else {
                    throw ModelError(.shapeMismatch, "tensor '\(name)' of type \(type) has rows of \(dims[0]) elements, not a multiple of its block size \(type.blockSize)")
                }
                let rawOffset = try r.read(UInt64.self, "the offset of '\(name)'")
                guard rawOffset <= UInt64(Int.max / 2), rawOffset % UInt64(alignment) == 0 else {
                    throw ModelError(.invalidTensor, "tensor '\(name)' starts at offset \(rawOffset), which is not a multiple of the alignment \(alignment)")
                }
                tensors.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(rawOffset)))
            }

            let dataOffset = (r.offset + alignment - 1) / alignment * alignment
            for t in tensors {
                guard let size = t.type.byteCount(elementCount: t.elementCount) else {
                    throw ModelError(.invalidTensor, "tensor '\(t.name)' is too large")
                }
                let (end, overflow) = (dataOffset + t.offset).addingReportingOverflow(size)
                guard !overflow, end <= bytes.count else {
                    throw ModelError(.truncated, "tensor '\(t.name)' (\(t.type), \(size) bytes at data offset \(t.offset)) ends past the end of the file (\(bytes.count) bytes); the file is cut short — download it again")
                }
            }
            return Header(version: version, metadata: metadata, tensors: tensors, alignment: alignment, dataOffset: dataOffset)
        }

        static func readValue(typeID: UInt32, from r: inout GGUFByteReader, key: String, depth: Int) throws -> GGUFValue {
            guard let type = GGUFValueType(rawValue: typeID) else {
                throw ModelError(.unsupportedType, "metadata key '\(key)' has value type id \(typeID), which GGUF does not define")
            }
            switch type {
            case .uint8: return .uint8(try r.read(UInt8.self, key))
            case .int8: return .int8(try r.read(Int8.self, key))
            case .uint16: return .uint16(try r.read(UInt16.self, key))
            case .int16: return .int16(try r.read(Int16.self, key))
            case .uint32: return .uint32(try r.read(UInt32.self, key))
            case .int32: return .int32(try r.read(Int32.self, key))
            case .uint64: return .uint64(try r.read(UInt64.self, key))
            case .int64: return .int64(try r.read(Int64.self, key))
            case .float32: return .float32(try r.readFloat(key))
            case .float64: return .float64(try r.readDouble(key))
            case .bool: return .bool(try r.readBool(key))
            case .string: return .string(try r.readString(key))
            case .array: return .array(try readArray(from: &r, key: key, depth: depth))
            }
        }

        static func readArray(from r: inout GGUFByteReader, key: String, depth: Int) throws -> GGUFArray {
            guard depth < maximumArrayDepth else {
                throw ModelError(.invalidMetadata, "metadata key '\(key)' nests arrays deeper than \(maximumArrayDepth) levels")
            }
            let typeID = try r.read(UInt32.self, "the element type of '\(key)'")
            guard let type = GGUFValueType(rawValue: typeID) else {
                throw ModelError(.unsupportedType, "metadata array '\(key)' has element type id \(typeID), which GGUF does not define")
            }
            let minimumSize: Int = switch type {
            case .uint8, .int8, .bool: 1
            case .uint16, .int16: 2
            case .uint32, .int32, .float32: 4
            case .uint64, .int64, .float64, .string: 8
            case .array: 12
            }
            let n = try r.readCount(minimumElementSize: minimumSize, "the length of '\(key)'")
            switch type {
            case .uint8: return .uint8(try r.readArray(UInt8.self, count: n, key))
            case .int8: return .int8(try r.readArray(Int8.self, count: n, key))
            case .uint16: return .uint16(try r.readArray(UInt16.self, count: n, key))
            case .int16: return .int16(try r.readArray(Int16.self, count: n, key))
            case .uint32: return .uint32(try r.readArray(UInt32.self, count: n, key))
            case .int32: return .int32(try r.readArray(Int32.self, count: n, key))
            case .uint64: return .uint64(try r.readArray(UInt64.self, count: n, key))
            case .int64: return .int64(try r.readArray(Int64.self, count: n, key))
            case .float32: return .float32(try r.readArray(UInt32.self, count: n, key).map(Float.init(bitPattern:)))
            case .float64: return .float64(try r.readArray(UInt64.self, count: n, key).map(Double.init(bitPattern:)))
            case .bool:
                var values: [Bool] = []
                values.reserveCapacity(n)
                for _ in 0..<n { values.append(try r.readBool(key)) }
                return .bool(values)
            case .string:
                var values: [String] = []
                values.reserveCapacity(n)
                for i in 0..<n { values.append(try r.readString("element \(i) of '\(key)'")) }
                return .string(values)
            case .array:
                var values: [GGUFArray] = []
                values.reserveCapacity(n)
                for _ in 0..<n { values.append(try readArray(from: &r, key: key, depth: depth + 1)) }
                return .array(values)
            }
        }
    }
}
