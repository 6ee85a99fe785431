// MARK: - Quantization

/// Encoders from `Float` to the ggml storage types the writer produces.
/// Q8_0 follows ggml's reference quantizer (`quantize_row_q8_0_ref`):
/// d = max|x| / 127, q = round(x / d), so dequantizing gives x to within d/2.
public enum Quantization {
    /// The storage types ``encode(_:as:)`` can produce.
    public static let encodableTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0]

    /// Encodes `values` as `type`. `values.count` must be a multiple of the
    /// type's block size.
    public static func encode(_ values: [Float], as type: GGMLType) throws -> [UInt8] {
        guard values.count % type.blockSize == 0 else {
            throw ModelError(.shapeMismatch, "\(values.count) values is not a whole number of \(type) blocks of \(type.blockSize)")
        }
        let byteCount = values.count / type.blockSize * type.bytesPerBlock
        return try values.withUnsafeBufferPointer { input in
            try [UInt8](unsafeUninitializedCapacity: byteCount) { output, initialized in
                let out = UnsafeMutableRawBufferPointer(output)
                switch type {
                case .f32:
                    for (i, v) in input.enumerated() { out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                case .f16:
                    for (i, v) in input.enumerated() { out.storeBytes(of: HalfPrecision.half(from: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                case .bf16:
                    for (i, v) in input.enumerated() { out.storeBytes(of: bfloat16(from: v).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                case .q8_0:
                    for b in 0..<(input.count / 32) { encodeQ8_0Block(input, b * 32, out, b * 34) }
                default:
                    throw ModelError(.unsupportedType, "cannot encode \(type) tensors; the writer supports \(encodableTypes.map(\.description).joined(separator: ", "))")
                }
                initialized = byteCount
            }
        }
    }

    /// bfloat16 by round-to-nearest-even on the upper 16 bits (NaN stays NaN).
    static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    private static func encodeQ8_0Block(_ x: UnsafeBufferPointer<Float>, _ start: Int,
                                        _ out: UnsafeMutableRawBufferPointer, _ at: Int) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[start + j])) }
        let d = amax / 127
        let inverse: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: HalfPrecision.half(from: d).littleEndian, toByteOffset: at, as: UInt16.self)
        for j in 0..<32 {
            // Float.rounded() rounds half away from zero, like C's roundf.
            let q = (x[start + j] * inverse).rounded()
            out.storeBytes(of: Int8(max(-127, min(127, q))), toByteOffset: at + 2 + j, as: Int8.self)
        }
    }
}
