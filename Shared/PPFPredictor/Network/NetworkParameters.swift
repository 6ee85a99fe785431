import Foundation

// MARK: - NetworkParameters

/// The weights of one network: a flat `Float` vector laid out as
/// `shape.tensors` says.
///
/// JSON carries the values as base64 of their little-endian IEEE-754 bits, so
/// a decoded network predicts bit-identically (a decimal round trip through
/// `Double` could move a `Float` by one ulp) and the artifact stays compact.
public struct NetworkParameters: Codable, Sendable, Hashable {
    /// Shapes and layout.
    public let shape: NetworkShape
    /// Every parameter, tensor after tensor.
    public internal(set) var values: [Float]

    /// Deterministic initialisation from `seed`, as `NetworkShape.tensors` documents.
    init(shape: NetworkShape, seed: UInt64) {
        self.shape = shape
        var random = RandomStream(seed: seed)
        var values = [Float](repeating: 0, count: shape.parameterCount)
        for tensor in shape.tensors {
            for index in tensor.offset..<(tensor.offset + tensor.count) {
                switch tensor.initialization {
                case .normal(let std): values[index] = Float(random.normal() * std)
                case .constant(let value): values[index] = Float(value)
                }
            }
        }
        self.values = values
    }

    /// The values of one named tensor, row-major (nil for an unknown name).
    public func tensor(_ name: String) -> [Float]? {
        guard let slot = shape.tensors.first(where: { $0.name == name }) else { return nil }
        return Array(values[slot.offset..<(slot.offset + slot.count)])
    }

    // MARK: Codable

    private enum CodingKeys: String, CodingKey { case shape, values }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        shape = try container.decode(NetworkShape.self, forKey: .shape)
        let encoded = try container.decode(String.self, forKey: .values)
        guard let data = Data(base64Encoded: encoded), data.count == shape.parameterCount * 4 else {
            throw PredictorError(.invalidArtifact,
                                 "network values are not base64 of \(shape.parameterCount) little-endian floats")
        }
        var values = [Float](repeating: 0, count: shape.parameterCount)
        data.withUnsafeBytes { raw in
            for index in values.indices {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self))
                values[index] = Float(bitPattern: bits)
            }
        }
        guard values.allSatisfy(\.isFinite) else {
            throw PredictorError(.invalidArtifact, "network values include NaN or infinity")
        }
        self.values = values
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(shape, forKey: .shape)
        var data = Data(capacity: values.count * 4)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        try container.encode(data.base64EncodedString(), forKey: .values)
    }
}
