import Foundation
import PPFModel

// MARK: - SafetensorsDType

/// The element types PPF writes in safetensors files (the format's names).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    /// IEEE binary32.
    case f32 = "F32"
    /// IEEE binary16.
    case f16 = "F16"
    /// bfloat16.
    case bf16 = "BF16"

    /// The dtype of an export precision.
    public init(_ precision: ExportPrecision) {
        switch precision {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        }
    }

    /// Bytes per element.
    public var byteCount: Int { self == .f32 ? 4 : 2 }

    /// The GGML type with the same little-endian element encoding.
    var ggmlType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        }
    }
}

// MARK: - SafetensorsWriter

/// Builds a `.safetensors` file (huggingface/safetensors): an 8-byte
/// little-endian header length N, N bytes of JSON mapping each tensor name
/// to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets relative to
/// the data section, contiguous, in insertion order) plus an optional
/// `"__metadata__"` string map, padded with spaces to a multiple of 8, then
/// the raw little-endian tensor bytes, row-major.
public struct SafetensorsWriter: Sendable {
    /// One tensor waiting to be written.
    struct PendingTensor: Sendable {
        let name: String
        let dtype: SafetensorsDType
        let shape: [Int]
        let bytes: [UInt8]
    }

    /// Free-form string metadata (`__metadata__`; HF expects `"format": "pt"`).
    public var metadata: [String: String]
    private(set) var pending: [PendingTensor] = []
    private var names: Set<String> = []

    /// Starts an empty file.
    public init(metadata: [String: String] = ["format": "pt"]) {
        self.metadata = metadata
    }

    /// Names of the tensors added so far, in order.
    public var tensorNames: [String] { pending.map(\.name) }

    /// Adds a tensor from row-major `values` with `shape` outermost first.
    public mutating func addTensor(name: String, shape: [Int], values: [Float], as dtype: SafetensorsDType) throws(ExportError) {
        guard !names.contains(name), name != "__metadata__" else {
            throw ExportError(.invalidOptions, "tensor name '\(name)' is already used or reserved")
        }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw ExportError(.invalidModel, "tensor '\(name)' has shape \(shape) but \(values.count) values")
        }
        let bytes: [UInt8]
        do {
            bytes = try Quantization.encode(values, as: dtype.ggmlType)
        } catch {
            throw ExportError(.invalidModel, "cannot encode tensor '\(name)' as \(dtype.rawValue): \(error)")
        }
        names.insert(name)
        pending.append(PendingTensor(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// The header: length prefix and padded JSON.
    public func headerBytes() throws(ExportError) -> [UInt8] {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in pending {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.bytes.count]] as [String: Any]
            offset += t.bytes.count
        }
        var json: [UInt8]
        do {
            json = try [UInt8](JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes]))
        } catch {
            throw ExportError(.invalidModel, "cannot encode the safetensors header: \(error)")
        }
        // Pad with spaces so the data section starts 8-byte aligned (as the reference writer does).
        json += repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json
    }

    /// Header then data, as chunks to write in order.
    func chunks() throws(ExportError) -> [[UInt8]] {
        try [headerBytes()] + pending.map(\.bytes)
    }

    /// Writes the file atomically (temporary file, flush, rename); on error nothing is left.
    public func write(to url: URL) throws(ExportError) {
        var files = StagedFiles(directory: url.deletingLastPathComponent())
        do {
            try files.stage(url.lastPathComponent, chunks())
            try files.commit()
        } catch {
            files.discard()
            throw error
        }
    }
}

// MARK: - SafetensorsFile

/// A parsed `.safetensors` file, checked as strictly as the reference
/// implementation: known dtypes, shapes matching the byte ranges, and data
/// offsets that tile the data section exactly.
public struct SafetensorsFile: Sendable {
    /// One tensor's entry in the header.
    public struct TensorInfo: Sendable, Equatable {
        /// The tensor's name.
        public let name: String
        /// Its element type.
        public let dtype: SafetensorsDType
        /// Its shape, outermost first.
        public let shape: [Int]
        /// Its bytes, relative to the start of the data section.
        public let dataOffsets: Range<Int>
    }

    /// The tensors by name.
    public let tensors: [String: TensorInfo]
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    /// Length of the JSON header (after the 8-byte prefix).
    public let headerLength: Int
    private let data: Data

    /// Reads and checks the file at `url`.
    public init(contentsOf url: URL) throws(ExportError) {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw ExportError(.io, "cannot read '\(url.path)': \(error.localizedDescription)")
        }
        try self.init(bytes: bytes, name: url.lastPathComponent)
    }

    /// Parses and checks `bytes` (`name` is for messages).
    public init(bytes: Data, name: String = "safetensors") throws(ExportError) {
        func malformed(_ why: String) -> ExportError { ExportError(.malformedFile, "\(name): \(why)") }
        guard bytes.count >= 8 else { throw malformed("shorter than the 8-byte header length") }
        let length = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(bytes.count - 8) else { throw malformed("header length \(length) runs past the end (\(bytes.count) bytes)") }
        let headerEnd = 8 + Int(length)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<headerEnd))
        } catch {
            throw malformed("the header is not JSON: \(error.localizedDescription)")
        }
        guard let header = object as? [String: Any] else { throw malformed("the header is not a JSON object") }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                guard let map = value as? [String: String] else { throw malformed("__metadata__ must map strings to strings") }
                metadata = map
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2 else {
                throw malformed("tensor '\(key)' needs dtype, shape and two data_offsets")
            }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw malformed("tensor '\(key)' has dtype \(dtypeName); PPF reads F32, F16 and BF16")
            }
            // The byte count multiplies sizes from the file: an overflow is a malformed header, not a trap.
            let byteCount = (shape + [dtype.byteCount]).reduce(Optional(1)) { product, size in
                product.flatMap { product in
                    let (result, overflow) = product.multipliedReportingOverflow(by: size)
                    return overflow ? nil : result
                }
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], shape.allSatisfy({ $0 >= 0 }), let byteCount,
                  offsets[1] - offsets[0] == byteCount else {
                throw malformed("tensor '\(key)' with shape \(shape) (\(dtypeName)) does not match its byte range \(offsets)")
            }
            tensors[key] = TensorInfo(name: key, dtype: dtype, shape: shape, dataOffsets: offsets[0]..<offsets[1])
        }
        // The reference reader insists the ranges tile the data section with no gap or overlap.
        var end = 0
        for info in tensors.values.sorted(by: { $0.dataOffsets.lowerBound < $1.dataOffsets.lowerBound }) {
            guard info.dataOffsets.lowerBound == end else {
                throw malformed("tensor '\(info.name)' starts at \(info.dataOffsets.lowerBound), expected \(end): data ranges must be contiguous")
            }
            end = info.dataOffsets.upperBound
        }
        guard headerEnd + end == bytes.count else {
            throw malformed("the data section holds \(bytes.count - headerEnd) bytes but the tensors cover \(end)")
        }
        self.tensors = tensors
        self.metadata = metadata
        self.headerLength = Int(length)
        self.data = bytes.subdata(in: headerEnd..<bytes.count)
    }

    /// The values of tensor `name`, row-major, converted to `Float`.
    public func values(of name: String) throws(ExportError) -> [Float] {
        guard let info = tensors[name] else {
            throw ExportError(.malformedFile, "no tensor '\(name)' in the file")
        }
        let slice = data.subdata(in: info.dataOffsets)
        let count = info.shape.reduce(1, *)
        return slice.withUnsafeBytes { raw in
            (0..<count).map { i -> Float in
                switch info.dtype {
                case .f32: Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case .f16: HalfPrecision.float(fromHalf: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                case .bf16: HalfPrecision.float(fromBFloat16: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
        }
    }
}
