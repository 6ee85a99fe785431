// MARK: - Dequantization

/// Block decoders from ggml storage types to `Float`.
///
/// Each supported ``GGMLType`` is one case in ``dequantize(_:from:count:into:)``
/// and one kernel here, written over raw pointers with no allocation. Block
/// layouts follow ggml (`ggml-common.h` for the structs, `ggml-quants.c`
/// `dequantize_row_*` for the formulas); the code is our own.
public enum Dequantization {
    /// Decodes `count` elements of `type` stored at `source` into `destination`.
    /// `count` must be a multiple of the type's block size; the caller
    /// guarantees `source` holds the corresponding number of bytes.
    public static func dequantize(_ type: GGMLType, from source: UnsafeRawPointer, count: Int,
                                  into destination: UnsafeMutablePointer<Float>) throws {
        guard count % type.blockSize == 0 else {
            throw ModelError(.shapeMismatch, "\(count) elements is not a whole number of \(type) blocks of \(type.blockSize)")
        }
        let blocks = count / type.blockSize
        switch type {
        case .f32: UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .f16: f16(source, count, destination)
        case .bf16: bf16(source, count, destination)
        case .q8_0: q8_0(source, blocks, destination)
        case .q4_0: q4_0(source, blocks, destination)
        case .q4_1: q4_1(source, blocks, destination)
        case .q4_K: q4_K(source, blocks, destination)
        case .q5_K: q5_K(source, blocks, destination)
        case .q6_K: q6_K(source, blocks, destination)
        default:
            throw ModelError(.unsupportedType, "cannot dequantize \(type) tensors; supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K")
        }
    }

    /// Decodes a byte array holding whole blocks of `type` (convenience for tests and small data).
    public static func dequantize(_ type: GGMLType, bytes: [UInt8]) throws -> [Float] {
        guard bytes.count % type.bytesPerBlock == 0 else {
            throw ModelError(.truncated, "\(bytes.count) bytes is not a whole number of \(type) blocks of \(type.bytesPerBlock) bytes")
        }
        let count = bytes.count / type.bytesPerBlock * type.blockSize
        return try bytes.withUnsafeBytes { raw in
            try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                if let src = raw.baseAddress, let dst = buffer.baseAddress {
                    try dequantize(type, from: src, count: count, into: dst)
                }
                initialized = count
            }
        }
    }

    // MARK: - Plain types

    @inline(__always)
    private static func half(_ p: UnsafeRawPointer, _ offset: Int, _ table: UnsafePointer<Float>) -> Float {
        table[Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))]
    }

    private static func f16(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for i in 0..<count { dst[i] = half(src, 2 * i, t) }
        }
    }

    private static func bf16(_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }

    // MARK: - Legacy 32-element blocks

    /// Q8_0: `{ f16 d; int8 q[32] }`, x = d·q.
    private static func q8_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for b in 0..<blocks {
                let block = src + b * 34
                let d = half(block, 0, t)
                let q = (block + 2).assumingMemoryBound(to: Int8.self)
                let y = dst + b * 32
                for j in 0..<32 { y[j] = d * Float(q[j]) }
            }
        }
    }

    /// Q4_0: `{ f16 d; uint8 qs[16] }`; element j is the low nibble of qs[j],
    /// element j+16 the high nibble; x = d·(nibble − 8).
    private static func q4_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for b in 0..<blocks {
                let block = src + b * 18
                let d = half(block, 0, t)
                let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
                let y = dst + b * 32
                for j in 0..<16 {
                    y[j] = d * Float(Int32(qs[j] & 0x0F) - 8)
                    y[j + 16] = d * Float(Int32(qs[j] >> 4) - 8)
                }
            }
        }
    }

    /// Q4_1: `{ f16 d; f16 m; uint8 qs[16] }`; nibbles as Q4_0; x = d·nibble + m.
    private static func q4_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for b in 0..<blocks {
                let block = src + b * 20
                let d = half(block, 0, t)
                let m = half(block, 2, t)
                let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
                let y = dst + b * 32
                for j in 0..<16 {
                    y[j] = d * Float(qs[j] & 0x0F) + m
                    y[j + 16] = d * Float(qs[j] >> 4) + m
                }
            }
        }
    }

    // MARK: - K-quants (256-element super-blocks)

    /// The 6-bit scale and min of sub-block `j` (0…7) packed in 12 bytes, as
    /// ggml's `get_scale_min_k4`: sub-blocks 0–3 use the low 6 bits of bytes
    /// j and j+4; sub-blocks 4–7 combine a nibble of byte j+4 with the top two
    /// bits of bytes j−4 and j.
    @inline(__always)
    private static func scaleMin(_ j: Int, _ s: UnsafePointer<UInt8>) -> (scale: Float, min: Float) {
        if j < 4 {
            return (Float(s[j] & 63), Float(s[j + 4] & 63))
        }
        let scale = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)
        let min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
        return (Float(scale), Float(min))
    }

    /// Q4_K: `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qs[128] }`. Eight
    /// sub-blocks of 32; each 64-element chunk takes 32 bytes of qs, low
    /// nibbles first; x = d·scale·q − dmin·min.
    private static func q4_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for b in 0..<blocks {
                let block = src + b * 144
                let d = half(block, 0, t)
                let dmin = half(block, 2, t)
                let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
                var q = (block + 16).assumingMemoryBound(to: UInt8.self)
                var y = dst + b * 256
                for chunk in 0..<4 {
                    let (s1, m1) = scaleMin(2 * chunk, scales)
                    let (s2, m2) = scaleMin(2 * chunk + 1, scales)
                    let d1 = d * s1, min1 = dmin * m1
                    let d2 = d * s2, min2 = dmin * m2
                    for l in 0..<32 {
                        y[l] = d1 * Float(q[l] & 0x0F) - min1
                        y[l + 32] = d2 * Float(q[l] >> 4) - min2
                    }
                    q += 32
                    y += 64
                }
            }
        }
    }

    /// Q5_K: `{ f16 d; f16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128] }`.
    /// As Q4_K, with a fifth bit per element from qh: chunk c uses bits 2c
    /// (low nibbles) and 2c+1 (high nibbles) of qh[l].
    private static func q5_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for b in 0..<blocks {
                let block = src + b * 176
                let d = half(block, 0, t)
                let dmin = half(block, 2, t)
                let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
                let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
                var ql = (block + 48).assumingMemoryBound(to: UInt8.self)
                var y = dst + b * 256
                for chunk in 0..<4 {
                    let (s1, m1) = scaleMin(2 * chunk, scales)
                    let (s2, m2) = scaleMin(2 * chunk + 1, scales)
                    let d1 = d * s1, min1 = dmin * m1
                    let d2 = d * s2, min2 = dmin * m2
                    let lowBit = UInt8(1) << (2 * chunk)
                    let highBit = UInt8(2) << (2 * chunk)
                    for l in 0..<32 {
                        let lo = (ql[l] & 0x0F) | (qh[l] & lowBit != 0 ? 16 : 0)
                        let hi = (ql[l] >> 4) | (qh[l] & highBit != 0 ? 16 : 0)
                        y[l] = d1 * Float(lo) - min1
                        y[l + 32] = d2 * Float(hi) - min2
                    }
                    ql += 32
                    y += 64
                }
            }
        }
    }

    /// Q6_K: `{ uint8 ql[128]; uint8 qh[64]; int8 scales[16]; f16 d }`. Two
    /// halves of 128; in each, element l+32k (k = 0…3) takes a nibble of ql
    /// and two bits of qh, minus 32, times d·scales[l/16 + 2k].
    private static func q6_K(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>) {
        HalfPrecision.halfTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress else { return }
            for b in 0..<blocks {
                let block = src + b * 210
                let d = half(block, 208, t)
                var ql = block.assumingMemoryBound(to: UInt8.self)
                var qh = (block + 128).assumingMemoryBound(to: UInt8.self)
                var sc = (block + 192).assumingMemoryBound(to: Int8.self)
                var y = dst + b * 256
                for _ in 0..<2 {
                    for l in 0..<32 {
                        let s = l / 16
                        let q1 = Int32((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32
                        let q2 = Int32((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32
                        let q3 = Int32((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                        let q4 = Int32((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                        y[l] = d * Float(sc[s]) * Float(q1)
                        y[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                        y[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                        y[l + 96] = d * Float(sc[s + 6]) * Float(q4)
                    }
                    ql += 64
                    qh += 32
                    sc += 8
                    y += 128
                }
            }
        }
    }
}
