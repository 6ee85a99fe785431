import Foundation
import PPFTensor
import Testing

// MARK: - SeededGenerator streams

// The pinned values below were printed by this implementation and checked
// against an independent Python computation (SplitMix64 on Python integers,
// then `(x >> 11) * 2**-53` and Box–Muller with `math.log`/`math.cos`).
// They fail if the bits, the bit-to-double mapping or the Gaussian formula
// change, which would silently change every seeded model, policy and
// training run.

@Test func splitMix64ForSeed42StartsWithTheReferenceWords() {
    var generator = SeededGenerator(seed: 42)
    #expect((0..<3).map { _ in generator.next() } == [0xBDD7_3226_2FEB_6E95, 0x28EF_E333_B266_F103, 0x4752_6757_130F_9F52])
}

@Test func theUniformStreamForSeed42IsPinned() {
    var generator = SeededGenerator(seed: 42)
    let expected = [0.7415648787718233, 0.1599103928769201, 0.27860113025513866, 0.34419071652363753, 0.03803016854024621]
    for value in expected { #expect(abs(generator.nextUniform() - value) < 1e-12) }
}

@Test func theGaussianStreamForSeed42IsPinned() {
    var generator = SeededGenerator(seed: 42)
    let expected = [0.8822489062222688, -0.4508498757188601, 0.1883526341159315, 0.219586379190761]
    for value in expected { #expect(abs(generator.nextGaussian() - value) < 1e-12) }
    // The pair's first value is the single draw; both consume two uniforms.
    var single = SeededGenerator(seed: 42), paired = SeededGenerator(seed: 42)
    #expect(single.nextGaussian() == paired.nextGaussianPair().0)
    #expect(single.next() == paired.next())
}

@Test func boundedIntegersForSeed42ArePinnedAndStayInRange() {
    var generator = SeededGenerator(seed: 42)
    #expect((0..<8).map { _ in generator.next(below: 10) } == [7, 1, 2, 3, 0, 8, 2, 8])
    var counts = [Int](repeating: 0, count: 7)
    for _ in 0..<70_000 { counts[generator.next(below: 7)] += 1 }
    // Each count is Binomial(70 000, 1/7): mean 10 000, std ≈ 93; 6 std is a loose bound.
    #expect(counts.allSatisfy { abs($0 - 10_000) < 560 }, "\(counts)")
    for _ in 0..<1000 {
        #expect((-3...4).contains(generator.next(in: -3...4)))
        #expect((5..<6).contains(generator.next(in: 5..<6)))
    }
}

@Test func uniformDrawsStayInTheirRanges() {
    var generator = SeededGenerator(seed: 3)
    for _ in 0..<10_000 {
        #expect((0..<1).contains(generator.nextUniform()))
        #expect((-2..<5).contains(generator.nextUniform(in: -2.0..<5)))
        #expect((0.8..<1.2).contains(generator.nextFloat(in: 0.8..<1.2)))
        #expect((0..<1).contains(generator.nextFloat()))
    }
    // An interval one ulp wide has one value, and the sum that rounds onto its top is kept below it.
    let low = 1.0
    for _ in 0..<100 { #expect(generator.nextUniform(in: low..<low.nextUp) == low) }
}

@Test func aHundredThousandGaussiansHaveStandardNormalMoments() {
    var generator = SeededGenerator(seed: 42)
    let n = 100_000
    let draws = (0..<n).map { _ in generator.nextGaussian() }
    let mean = draws.reduce(0, +) / Double(n)
    let variance = draws.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
    let skew = draws.reduce(0) { $0 + pow(($1 - mean), 3) } / Double(n) / pow(variance, 1.5)
    let kurtosis = draws.reduce(0) { $0 + pow(($1 - mean), 4) } / Double(n) / (variance * variance)
    // Standard errors at n = 1e5: mean 0.0032, variance 0.0045, skew 0.0077, kurtosis 0.015; bounds are ~4 of them.
    #expect(abs(mean) < 0.013)
    #expect(abs(variance - 1) < 0.018)
    #expect(abs(skew) < 0.031)
    #expect(abs(kurtosis - 3) < 0.06)
    #expect(Double(draws.filter { abs($0) < 1 }.count) / Double(n) > 0.678 && Double(draws.filter { abs($0) < 1 }.count) / Double(n) < 0.687)
}

@Test func shufflingIsAPermutationAndFollowsTheSeed() {
    var a = SeededGenerator(seed: 11), b = SeededGenerator(seed: 11)
    let values = Array(0..<50)
    let first = a.shuffled(values)
    #expect(first.sorted() == values)
    #expect(first != values)
    #expect(b.shuffled(values) == first)
    #expect(a.element(of: [Int]()) == nil)
    #expect(a.element(of: ["only"]) == "only")
    let seen = Set((0..<200).map { _ in a.element(of: [1, 2, 3]) ?? 0 })
    #expect(seen == [1, 2, 3])
}
