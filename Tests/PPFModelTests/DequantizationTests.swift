import Foundation
import Testing
@testable import PPFModel

// MARK: - Half precision

@Test func everyHalfBitPatternSurvivesARoundTripThroughFloat() {
    for bits in UInt16.min...UInt16.max {
        let f = HalfPrecision.float(fromHalf: bits)
        if f.isNaN {
            #expect(HalfPrecision.half(from: f) & 0x7C00 == 0x7C00 && HalfPrecision.half(from: f) & 0x3FF != 0)
        } else {
            #expect(HalfPrecision.half(from: f) == bits, "bits 0x\(String(bits, radix: 16))")
        }
    }
}

@Test func halfConversionMatchesKnownValues() {
    #expect(HalfPrecision.float(fromHalf: 0x3C00) == 1)
    #expect(HalfPrecision.float(fromHalf: 0xC000) == -2)
    #expect(HalfPrecision.float(fromHalf: 0x7BFF) == 65504)
    #expect(HalfPrecision.float(fromHalf: 0x0001) == 0x1p-24)
    #expect(HalfPrecision.float(fromHalf: 0x7C00) == .infinity)
    #expect(HalfPrecision.half(from: 1 + 0x1p-11) == 0x3C00)        // tie rounds to even (down)
    #expect(HalfPrecision.half(from: 1 + 3 * 0x1p-11) == 0x3C02)    // tie rounds to even (up)
    #expect(HalfPrecision.half(from: 65520) == 0x7C00)              // rounds up to infinity
    #expect(HalfPrecision.half(from: 0x1p-25) == 0x0000)            // tie at the smallest subnormal → 0
    #expect(HalfPrecision.half(from: 0x1.8p-25) == 0x0001)
    #if !(os(macOS) && arch(x86_64))
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<100_000 {
        let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
        guard !f.isNaN else { continue }
        #expect(HalfPrecision.half(from: f) == Float16(f).bitPattern, "\(f)")
    }
    #endif
}

// MARK: - Plain types

@Test func f32F16AndBF16DecodeHandWrittenBytes() throws {
    var f32 = Bytes()
    f32.u32(Float(1.5).bitPattern); f32.u32(Float(-0.25).bitPattern)
    #expect(try Dequantization.dequantize(.f32, bytes: f32.data) == [1.5, -0.25])

    var f16 = Bytes()
    f16.u16(0x3C00); f16.u16(0xC000); f16.u16(0x3555); f16.u16(0x0001)
    #expect(try Dequantization.dequantize(.f16, bytes: f16.data) == [1, -2, 0.333251953125, 0x1p-24])

    var bf16 = Bytes()
    bf16.u16(0x3FC0); bf16.u16(0xC000); bf16.u16(0x7F80); bf16.u16(0x3E80)
    #expect(try Dequantization.dequantize(.bf16, bytes: bf16.data) == [1.5, -2, .infinity, 0.25])
}

// MARK: - Legacy blocks

@Test func q8_0BlockIsScaleTimesSignedBytes() throws {
    var b = Bytes()
    b.f16(0.5)
    for j in 0..<32 { b.i8(Int8(j * 8 - 128)) }           // −128 … 120
    let expected = (0..<32).map { Float($0 * 8 - 128) * 0.5 }
    #expect(try Dequantization.dequantize(.q8_0, bytes: b.data) == expected)
}

@Test func q4_0BlockIsScaleTimesNibbleMinusEight() throws {
    var b = Bytes()
    b.f16(0.25)
    for j in 0..<16 { b.u8(UInt8(j) | UInt8(15 - j) << 4) }
    // Low nibbles are elements 0–15, high nibbles elements 16–31.
    let low: [Float] = (0..<16).map { j in 0.25 * Float(j - 8) }
    let high: [Float] = (0..<16).map { j in 0.25 * Float(7 - j) }
    let expected = low + high
    #expect(try Dequantization.dequantize(.q4_0, bytes: b.data) == expected)
}

@Test func q4_1BlockIsScaleTimesNibblePlusMinimum() throws {
    var b = Bytes()
    b.f16(0.5)
    b.f16(-2)
    for j in 0..<16 { b.u8(UInt8(j) | UInt8(15 - j) << 4) }
    let low: [Float] = (0..<16).map { j in 0.5 * Float(j) - 2 }
    let high: [Float] = (0..<16).map { j in 0.5 * Float(15 - j) - 2 }
    let expected = low + high
    #expect(try Dequantization.dequantize(.q4_1, bytes: b.data) == expected)
    // Two blocks decode independently.
    var two = b
    two.f16(1)
    two.f16(0)
    for _ in 0..<16 { two.u8(0x21) }
    let both = try Dequantization.dequantize(.q4_1, bytes: two.data)
    #expect(Array(both[32...]) == [Float](repeating: 1, count: 16) + [Float](repeating: 2, count: 16))
}

// MARK: - K-quants

/// Packs eight 6-bit (scale, min) pairs the way ggml's Q4_K/Q5_K quantizers do.
func packScalesK4(_ scales: [UInt8], _ mins: [UInt8]) -> [UInt8] {
    var s = [UInt8](repeating: 0, count: 12)
    for j in 0..<8 {
        if j < 4 {
            s[j] = scales[j]
            s[j + 4] = mins[j]
        } else {
            s[j + 4] = (scales[j] & 0xF) | ((mins[j] & 0xF) << 4)
            s[j - 4] |= (scales[j] >> 4) << 6
            s[j] |= (mins[j] >> 4) << 6
        }
    }
    return s
}

let kScales: [UInt8] = [1, 7, 15, 16, 33, 47, 62, 63]
let kMins: [UInt8] = [0, 2, 31, 63, 45, 17, 1, 50]

@Test func q4_KBlockUsesSixBitScalesAndMins() throws {
    let q = (0..<256).map { UInt8(($0 * 7 + 3) % 16) }
    var b = Bytes()
    b.f16(0.5)
    b.f16(0.25)
    b.data += packScalesK4(kScales, kMins)
    for chunk in 0..<4 {
        for l in 0..<32 { b.u8(q[64 * chunk + l] | q[64 * chunk + 32 + l] << 4) }
    }
    #expect(b.data.count == GGMLType.q4_K.bytesPerBlock)
    let expected = (0..<256).map { i in 0.5 * Float(kScales[i / 32]) * Float(q[i]) - 0.25 * Float(kMins[i / 32]) }
    #expect(try Dequantization.dequantize(.q4_K, bytes: b.data) == expected)
}

@Test func q5_KBlockAddsAFifthBitFromQh() throws {
    let q = (0..<256).map { UInt8(($0 * 13 + 5) % 32) }
    var qh = [UInt8](repeating: 0, count: 32)
    var ql = [UInt8](repeating: 0, count: 128)
    for chunk in 0..<4 {
        for l in 0..<32 {
            let lo = q[64 * chunk + l], hi = q[64 * chunk + 32 + l]
            if lo > 15 { qh[l] |= 1 << (2 * chunk) }
            if hi > 15 { qh[l] |= 2 << (2 * chunk) }
            ql[32 * chunk + l] = (lo & 15) | (hi & 15) << 4
        }
    }
    var b = Bytes()
    b.f16(0.125)
    b.f16(2)
    b.data += packScalesK4(kScales, kMins) + qh + ql
    #expect(b.data.count == GGMLType.q5_K.bytesPerBlock)
    let expected = (0..<256).map { i in 0.125 * Float(kScales[i / 32]) * Float(q[i]) - 2 * Float(kMins[i / 32]) }
    #expect(try Dequantization.dequantize(.q5_K, bytes: b.data) == expected)
}

@Test func q6_KBlockUsesSignedSixBitValuesAndSixteenScales() throws {
    let L = (0..<256).map { UInt8(($0 * 29 + 11) % 64) }      // stored value = q + 32
    let scales: [Int8] = [1, -1, 2, -2, 3, -3, 127, -128, 10, 20, 30, 40, -50, -60, 5, 0]
    var ql = [UInt8](repeating: 0, count: 128)
    var qh = [UInt8](repeating: 0, count: 64)
    for half in 0..<2 {
        let j = 128 * half
        for l in 0..<32 {
            ql[64 * half + l] = (L[j + l] & 0xF) | (L[j + l + 64] & 0xF) << 4
            ql[64 * half + l + 32] = (L[j + l + 32] & 0xF) | (L[j + l + 96] & 0xF) << 4
            let h0: UInt8 = L[j + l] >> 4
            let h1: UInt8 = (L[j + l + 32] >> 4) << 2
            let h2: UInt8 = (L[j + l + 64] >> 4) << 4
            let h3: UInt8 = (L[j + l + 96] >> 4) << 6
            qh[32 * half + l] = h0 | h1 | h2 | h3
        }
    }
    var b = Bytes()
    b.data += ql + qh
    for s in scales { b.i8(s) }
    b.f16(0.0625)
    #expect(b.data.count == GGMLType.q6_K.bytesPerBlock)
    let expected = (0..<256).map { i in 0.0625 * Float(scales[i / 16]) * Float(Int(L[i]) - 32) }
    #expect(try Dequantization.dequantize(.q6_K, bytes: b.data) == expected)
}

// MARK: - API behaviour

@Test func undecodableTypesAndPartialBlocksAreNamedErrors() throws {
    expectModelError(.unsupportedType) { _ = try Dequantization.dequantize(.q5_0, bytes: [UInt8](repeating: 0, count: 22)) }
    expectModelError(.truncated) { _ = try Dequantization.dequantize(.q8_0, bytes: [UInt8](repeating: 0, count: 33)) }
}

@Test func rowRangesMatchTheSameRowsOfTheWholeTensor() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("rows.gguf")
        let values: [Float] = (0..<(6 * 64)).map { i in Float((i * 37) % 101) / 10 - 5 }
        var writer = GGUFWriter()
        try writer.addTensor(name: "w", shape: [6, 64], values: values, as: .q8_0)
        try writer.addTensor(name: "h", shape: [6, 64], values: values, as: .f16)
        try writer.write(to: url)
        let file = try GGUFFile.open(url)
        for name in ["w", "h"] {
            let t = try file.tensor(named: name)
            let whole = try file.dequantize(t)
            #expect(try file.dequantize(t, rows: 2..<5) == Array(whole[(2 * 64)..<(5 * 64)]))
            #expect(try file.dequantize(t, rows: 5..<6) == Array(whole[(5 * 64)...]))
            #expect(try file.dequantize(t, rows: 3..<3) == [])
            var buffer = [Float](repeating: .nan, count: 64)
            try buffer.withUnsafeMutableBufferPointer { try file.dequantize(t, rows: 1..<2, into: $0) }
            #expect(buffer == Array(whole[64..<128]))
            expectModelError(.shapeMismatch) { _ = try file.dequantize(t, rows: 4..<7) }
        }
    }
}
