// MARK: - Exponential

extension Kernels {
    /// `e^x` in single precision without a libm call, so loops over it vectorise.
    ///
    /// Range reduction `x = n·ln2 + r` with `|r| ≤ ln2/2`, then a degree-6
    /// minimax polynomial for `e^r` (the Cephes `expf` coefficients) and a
    /// scale by `2^n` built in the exponent bits. Relative error ≤ 2e-7 on the
    /// clamped range `[−87.3, 88.7]`; smaller inputs give ~1e-38 (≈ 0), larger
    /// ones saturate at ~3e38. Softmax and log-sum-exp inputs are ≤ 0 after the
    /// max shift, and SiLU needs `e^(−x)` for activations far inside the range.
    @inlinable @inline(__always)
    public static func exp(_ value: Float) -> Float {
        let x = min(max(value, -87.3), 88.7)
        // Round x·log2(e) to the nearest integer n by adding 1.5·2^23: the sum's
        // low mantissa bits then hold n in two's complement. No rintf call and
        // no trapping Int conversion, so the loop around this stays vectorised.
        let shifted = x * 1.442_695_04 + 12_582_912
        let n = shifted - 12_582_912
        let nBits = Int32(bitPattern: shifted.bitPattern &- 0x4B40_0000)
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4   // ln2 split in two for exactness
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = p * r * r + r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: (nBits &+ 127) &<< 23))
        return p * scale
    }
}
