import PPFTensor

// MARK: - RandomStream

/// The predictor's reproducible randomness: PPFTensor's `SeededGenerator`
/// and its bit-defined draws (stable across Swift releases, unlike the
/// standard library's `random(in:using:)` and `shuffle(using:)`), plus what
/// only training needs: salted sub-streams and normals served one at a time
/// without wasting the second Box–Muller value.
struct RandomStream {
    private var generator: SeededGenerator
    /// The second Box–Muller value, kept for the next `normal()` call.
    private var spareNormal: Double?

    /// A stream fully determined by `seed`.
    init(seed: UInt64) {
        generator = SeededGenerator(seed: seed)
    }

    /// A seed for an independent sub-stream (one ensemble member, one split),
    /// mixed so nearby `(seed, salt)` pairs give unrelated streams.
    static func derivedSeed(_ seed: UInt64, _ salt: UInt64) -> UInt64 {
        var mixer = SeededGenerator(seed: seed ^ (salt &* 0xD1B5_4A32_D192_ED03))
        return mixer.next()
    }

    /// The next 64 random bits.
    mutating func nextBits() -> UInt64 { generator.next() }

    /// Uniform in [0, 1) (`SeededGenerator.nextUniform()`).
    mutating func uniform() -> Double { generator.nextUniform() }

    /// `low + (high − low)·u`: uniform in [low, high), and `low` when the two
    /// are equal (synthetic tasks may pin a ratio range to one value, which
    /// `nextUniform(in:)`'s half-open range could not express).
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * generator.nextUniform()
    }

    /// Uniform integer in 0..<bound (bound > 0), `SeededGenerator.next(below:)`.
    mutating func index(below bound: Int) -> Int { generator.next(below: bound) }

    /// Standard normal: both values of one `SeededGenerator.nextGaussianPair()`,
    /// the cosine one first, the sine one on the next call.
    mutating func normal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        let (first, second) = generator.nextGaussianPair()
        spareNormal = second
        return first
    }

    /// Fisher–Yates shuffle in place (`SeededGenerator.shuffle(_:)`).
    mutating func shuffle<T>(_ values: inout [T]) { generator.shuffle(&values) }

    /// A permutation of 0..<count.
    mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        shuffle(&order)
        return order
    }
}
