// MARK: - Half and bfloat16 conversion

/// IEEE-754 binary16 and bfloat16 conversions done on bit patterns, so they
/// work on every platform (Swift's `Float16` is missing on macOS x86_64).
public enum HalfPrecision {
    /// The `Float` value of the binary16 bit pattern `bits` (exact).
    public static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa · 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
        }
    }

    /// The binary16 bit pattern nearest to `value` (round half to even;
    /// overflow gives infinity, NaN stays NaN).
    public static func half(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        var mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            return sign | 0x7C00 | (mantissa != 0 ? 0x200 | UInt16(truncatingIfNeeded: mantissa >> 13) : 0)
        }
        let e = exponent - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {
            // Subnormal in binary16 (or zero): shift the full 24-bit significand.
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            var half = mantissa >> shift
            let remainder = mantissa & ((1 << shift) - 1)
            let halfway: UInt32 = 1 << (shift - 1)
            if remainder > halfway || (remainder == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(truncatingIfNeeded: half)
        }
        var half = (UInt32(e) << 10) | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        // A carry out of the mantissa correctly bumps the exponent (up to infinity).
        if remainder > 0x1000 || (remainder == 0x1000 && half & 1 == 1) { half += 1 }
        return sign | UInt16(truncatingIfNeeded: half)
    }

    /// The `Float` value of the bfloat16 bit pattern `bits` (exact).
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// All 65 536 binary16 values, so hot loops convert with one load.
    static let halfTable: [Float] = (0...UInt16.max).map { float(fromHalf: $0) }
}
