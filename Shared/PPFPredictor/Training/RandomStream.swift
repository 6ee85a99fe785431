import Foundation
import PPFTensor

// MARK: - RandomStream

/// The predictor's reproducible randomness: SplitMix64 (PPFTensor's
/// `SeededGenerator`) plus the few draws training needs, written out here so
/// the stream does not depend on how the standard library maps random bits to
/// `Double`s or shuffles (neither is guaranteed stable across Swift releases).
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

    /// Uniform in [0, 1), from the top 53 bits.
    mutating func uniform() -> Double {
        Double(nextBits() >> 11) * 0x1.0p-53
    }

    /// Uniform in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * uniform()
    }

    /// Uniform integer in 0..<bound (bound > 0), by multiply-shift (Lemire); the
    /// tiny bias is irrelevant at training-set sizes.
    mutating func index(below bound: Int) -> Int {
        precondition(bound > 0, "index(below:) needs a positive bound")
        return Int(nextBits().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// Standard normal, by the Box–Muller transform.
    mutating func normal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        // 1 − u lies in (0, 1], so the logarithm is finite.
        let radius = (-2 * Foundation.log(1 - uniform())).squareRoot()
        let angle = 2 * Double.pi * uniform()
        spareNormal = radius * sin(angle)
        return radius * cos(angle)
    }

    /// Fisher–Yates shuffle in place.
    mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, index(below: i + 1))
        }
    }

    /// A permutation of 0..<count.
    mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        shuffle(&order)
        return order
    }
}
