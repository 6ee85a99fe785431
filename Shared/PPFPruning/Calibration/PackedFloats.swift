import Foundation

// MARK: - PackedFloats

/// A `[Float]` that encodes as base64 of little-endian IEEE-754 binary32.
///
/// Calibration statistics hold ~300 000 floats for SmolLM2; as JSON numbers
/// they would take ~3 MB, packed ~1.6 MB, and they round-trip bit-exactly
/// (a decimal rendering might not). Stored as is in files and, later, Postgres.
public struct PackedFloats: Codable, Sendable, Equatable {
    /// The values.
    public var values: [Float]

    /// Wraps `values`.
    public init(_ values: [Float]) { self.values = values }

    /// Decodes a base64 string of little-endian floats.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else {
            throw DecodingError.dataCorruptedError(in: container,
                                                   debugDescription: "not base64 of a whole number of 4-byte floats")
        }
        var values = [Float](repeating: 0, count: data.count / 4)
        data.withUnsafeBytes { raw in
            for index in values.indices {
                values[index] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
            }
        }
        self.values = values
    }

    /// Encodes as one base64 string.
    public func encode(to encoder: any Encoder) throws {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for value in values {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        var container = encoder.singleValueContainer()
        try container.encode(Data(bytes).base64EncodedString())
    }
}
