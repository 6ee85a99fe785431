import Foundation
import Synchronization
import Testing
@testable import PPFTensor

private func randomVector(_ count: Int, seed: UInt64, scale: Float = 3) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale..<scale, using: &generator) }
}

private func close(_ x: [Float], _ y: [Float], tolerance: Float = 1e-5) -> Bool {
    x.count == y.count && zip(x, y).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

@Test func rmsNormMatchesTheDefinitionRowByRow() {
    let (rows, cols) = (3, 10)
    let x = randomVector(rows * cols, seed: 1)
    let w = randomVector(cols, seed: 2)
    var y = [Float](repeating: 0, count: rows * cols)
    x.withUnsafeBufferPointer { px in
        w.withUnsafeBufferPointer { pw in
            y.withUnsafeMutableBufferPointer { py in
                Kernels.rmsNorm(px.baseAddress!, weight: pw.baseAddress!, into: py.baseAddress!,
                                rows: rows, cols: cols, epsilon: 1e-5)
            }
        }
    }
    var expected = [Float]()
    for r in 0..<rows {
        let row = x[r * cols ..< (r + 1) * cols]
        let rms = (row.map { Double($0) * Double($0) }.reduce(0, +) / Double(cols) + 1e-5).squareRoot()
        expected += row.enumerated().map { Float(Double($0.element) / rms) * w[$0.offset] }
    }
    #expect(close(y, expected))
}

@Test func siluMultiplyMatchesTheDefinition() {
    let gate = randomVector(37, seed: 3)
    let up = randomVector(37, seed: 4)
    var out = gate
    up.withUnsafeBufferPointer { u in
        out.withUnsafeMutableBufferPointer { Kernels.siluMultiply($0.baseAddress!, by: u.baseAddress!, count: 37) }
    }
    let expected = zip(gate, up).map { g, u in Float(Double(g) / (1 + Foundation.exp(-Double(g)))) * u }
    #expect(close(out, expected))
}

@Test func softmaxSumsToOneAndMatchesTheDefinition() {
    var x = randomVector(23, seed: 5, scale: 20)
    let original = x
    x.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, count: 23) }
    let m = original.max()!
    let exps = original.map { Foundation.exp(Double($0 - m)) }
    let total = exps.reduce(0, +)
    #expect(close(x, exps.map { Float($0 / total) }, tolerance: 1e-6))
    #expect(abs(x.reduce(0, +) - 1) < 1e-5)
}

@Test func logSumExpIsStableForLargeLogits() {
    let x: [Float] = [1000, 1000, 999]
    let value = x.withUnsafeBufferPointer { Kernels.logSumExp($0.baseAddress!, count: 3) }
    let expected = 1000 + Foundation.log(2 + Foundation.exp(-1.0))
    #expect(abs(Double(value) - expected) < 1e-3)
}

@Test func logSoftmaxMatchesLogOfSoftmax() {
    let x = randomVector(50_000, seed: 6, scale: 15)
    var out = [Float](repeating: 0, count: x.count)
    x.withUnsafeBufferPointer { px in
        out.withUnsafeMutableBufferPointer { Kernels.logSoftmax(px.baseAddress!, into: $0.baseAddress!, count: x.count) }
    }
    let m = Double(x.max()!)
    let normaliser = m + Foundation.log(x.map { Foundation.exp(Double($0) - m) }.reduce(0, +))
    #expect(close(out, x.map { Float(Double($0) - normaliser) }, tolerance: 1e-5))
}

@Test func addAndAddBiasMatchTheDefinition() {
    var x = randomVector(12, seed: 7)
    let y = randomVector(12, seed: 8)
    let bias = randomVector(4, seed: 9)
    let original = x
    x.withUnsafeMutableBufferPointer { px in
        y.withUnsafeBufferPointer { Kernels.add($0.baseAddress!, into: px.baseAddress!, count: 12) }
        bias.withUnsafeBufferPointer { Kernels.addBias($0.baseAddress!, into: px.baseAddress!, rows: 3, cols: 4) }
    }
    let expected = (0..<12).map { original[$0] + y[$0] + bias[$0 % 4] }
    #expect(close(x, expected))
}

@Test func ropeRotatesAdjacentPairsByPositionTimesFrequency() throws {
    let (heads, hd, rows, base): (Int, Int, Int, Float) = (2, 8, 3, 10_000)
    let table = try RoPETable(headDimension: hd, positions: 16, base: base)
    var x = randomVector(rows * heads * hd, seed: 10)
    let original = x
    let firstPosition = 5
    x.withUnsafeMutableBufferPointer {
        Kernels.applyRoPE($0.baseAddress!, rows: rows, rowStride: heads * hd, heads: heads,
                          firstPosition: firstPosition, table: table)
    }
    var expected = original
    for t in 0..<rows {
        for h in 0..<heads {
            for i in 0..<(hd / 2) {
                let theta = Double(firstPosition + t) * Foundation.pow(Double(base), -2 * Double(i) / Double(hd))
                let index = t * heads * hd + h * hd + 2 * i
                let (x0, x1) = (Double(original[index]), Double(original[index + 1]))
                expected[index] = Float(x0 * Foundation.cos(theta) - x1 * Foundation.sin(theta))
                expected[index + 1] = Float(x0 * Foundation.sin(theta) + x1 * Foundation.cos(theta))
            }
        }
    }
    #expect(close(x, expected))
}

@Test func ropeTableRejectsAnOddHeadDimension() {
    #expect(throws: TensorError.self) { try RoPETable(headDimension: 7, positions: 4, base: 10_000) }
}

@Test func seededGeneratorRepeatsItsStream() {
    var a = SeededGenerator(seed: 99)
    var b = SeededGenerator(seed: 99)
    var c = SeededGenerator(seed: 100)
    let sa = (0..<4).map { _ in a.next() }
    #expect(sa == (0..<4).map { _ in b.next() })
    #expect(sa != (0..<4).map { _ in c.next() })
}

@Test func fastExponentialIsWithinTwoTenthsOfAMillionthRelative() {
    var worst: Double = 0
    var x: Float = -87
    while x < 88 {
        let exact = Foundation.exp(Double(x))
        worst = max(worst, abs(Double(Kernels.exp(x)) - exact) / exact)
        x += 0.0137
    }
    #expect(worst < 3e-7)
    #expect(Kernels.exp(0) == 1)
    #expect(Kernels.exp(-1000) < 1e-37)
    #expect(Kernels.exp(-.infinity) < 1e-37)
}

@Test(arguments: [(0, 1, 4), (1, 1, 4), (7, 1, 2), (1000, 16, 2), (1000, 16, 3), (1000, 400, 4), (1001, 1, 8)])
func slicesCoverEveryIndexExactlyOnce(count: Int, minimumPerSlice: Int, threads: Int) {
    let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, count))
    defer { seen.deallocate() }
    seen.initialize(repeating: 0)
    nonisolated(unsafe) let marks = seen
    let sliceCount = Mutex(0)
    Kernels.forEachSlice(of: count, minimumPerSlice: minimumPerSlice, threads: threads) { slice in
        sliceCount.withLock { $0 += 1 }
        for index in slice { marks[index] += 1 }
    }
    #expect(seen.prefix(count).allSatisfy { $0 == 1 })
    // No more slices than threads, none smaller than asked (bar the inline case), none for no work.
    let expected = count == 0 ? 0 : max(1, min(threads, count / minimumPerSlice))
    #expect(sliceCount.withLock { $0 } == expected)
}
