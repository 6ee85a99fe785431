import Foundation

// MARK: - SeededGenerator

/// A small, fast, reproducible random number generator (SplitMix64).
///
/// `SystemRandomNumberGenerator` cannot be seeded; tests, random tiny models,
/// temperature sampling, the agent's exploration and the predictor's training
/// need the same stream from the same seed on every machine, so they use this.
///
/// **Use the draws below, not the standard library's.** `Double.random(in:using:)`,
/// `Int.random(in:using:)`, `Bool.random(using:)`, `shuffle(using:)` and
/// `randomElement(using:)` consume the generator's bits in ways the standard
/// library does not promise to keep across Swift releases (which bits, how
/// many draws, how bias is rejected). The methods here are defined by the bits
/// alone, so a seed names the same stream on every release; the only outside
/// code they rely on is the C library's `log`, `cos` and `sin` for Gaussians,
/// which are accurate to an ulp or so everywhere.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose stream is fully determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits (SplitMix64, Steele et al. 2014).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Uniform draws

extension SeededGenerator {
    /// Uniform in [0, 1): the top 53 bits of one ``next()``, times 2⁻⁵³.
    ///
    /// Every value is a multiple of 2⁻⁵³, so all 2⁵³ outcomes are equally
    /// likely and exactly representable (the top bits because SplitMix64's
    /// high bits are its best mixed).
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in `range`: `low + (high − low)·u` with `u` from ``nextUniform()``.
    ///
    /// Rounding can carry the sum onto `high`; such a value is returned as
    /// the largest `Double` below `high`, so the result always lies in the range.
    ///
    /// - Precondition: the range is not empty.
    public mutating func nextUniform(in range: Range<Double>) -> Double {
        precondition(!range.isEmpty, "nextUniform(in:) needs a non-empty range")
        let value = range.lowerBound + (range.upperBound - range.lowerBound) * nextUniform()
        return value < range.upperBound ? value : range.upperBound.nextDown
    }

    /// Uniform in `range`, by the same formula as the half-open variant
    /// (the upper bound is reached only through rounding, which for a
    /// continuous draw is the difference between `<` and `≤` anyway).
    public mutating func nextUniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextUniform()
    }

    /// Uniform `Float` in [0, 1): the top 24 bits of one ``next()``, times 2⁻²⁴
    /// (a `Float`'s full significand, so no value rounds up to 1).
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }

    /// Uniform `Float` in `range`: `low + (high − low)·u` with `u` from
    /// ``nextFloat()``; a sum rounded onto `high` becomes the largest
    /// `Float` below it.
    ///
    /// - Precondition: the range is not empty.
    public mutating func nextFloat(in range: Range<Float>) -> Float {
        precondition(!range.isEmpty, "nextFloat(in:) needs a non-empty range")
        let value = range.lowerBound + (range.upperBound - range.lowerBound) * nextFloat()
        return value < range.upperBound ? value : range.upperBound.nextDown
    }

    /// Uniform `Float` in `range`, by the same formula as the half-open variant.
    public mutating func nextFloat(in range: ClosedRange<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextFloat()
    }

    /// A fair coin: the top bit of one ``next()``.
    public mutating func nextBool() -> Bool {
        next() >> 63 == 1
    }
}

// MARK: - Integer draws

extension SeededGenerator {
    /// Uniform integer in `0..<bound`, without bias (Lemire 2019, "Fast random
    /// integer generation in an interval"): the high word of `next() · bound`,
    /// redrawn in the rare case (probability below `bound / 2⁶⁴`) that the
    /// low word falls in the short first interval.
    ///
    /// - Precondition: `bound > 0`.
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "next(below:) needs a positive bound, got \(bound)")
        let span = UInt64(bound)
        var product = next().multipliedFullWidth(by: span)
        if product.low < span {
            let threshold = (0 &- span) % span   // 2⁶⁴ mod span
            while product.low < threshold { product = next().multipliedFullWidth(by: span) }
        }
        return Int(product.high)
    }

    /// Uniform integer in `range`, by ``next(below:)``.
    ///
    /// - Precondition: the range is not empty.
    public mutating func next(in range: Range<Int>) -> Int {
        precondition(!range.isEmpty, "next(in:) needs a non-empty range")
        return range.lowerBound + next(below: range.upperBound - range.lowerBound)
    }

    /// Uniform integer in `range`, by ``next(below:)``.
    ///
    /// - Precondition: the range has fewer than `Int.max` values.
    public mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + next(below: range.upperBound - range.lowerBound + 1)
    }
}

// MARK: - Gaussian draws

extension SeededGenerator {
    /// Two independent standard normal draws from two uniforms `u₁`, `u₂`
    /// (Box–Muller): `r = √(−2 ln(1 − u₁))`, `θ = 2π·u₂`, giving `(r cos θ, r sin θ)`.
    ///
    /// `1 − u₁` lies in (0, 1], so the logarithm is finite. Callers that
    /// want one value at a time and every draw keep the second themselves.
    public mutating func nextGaussianPair() -> (Double, Double) {
        let radius = (-2 * Foundation.log(1 - nextUniform())).squareRoot()
        let angle = 2 * Double.pi * nextUniform()
        return (radius * Foundation.cos(angle), radius * Foundation.sin(angle))
    }

    /// One standard normal draw: the first of ``nextGaussianPair()`` (two
    /// uniforms per call; the second value is discarded so the generator
    /// carries no hidden state and a stream depends on the seed and the
    /// sequence of calls only).
    public mutating func nextGaussian() -> Double {
        nextGaussianPair().0
    }
}

// MARK: - Collections

extension SeededGenerator {
    /// Shuffles `values` in place (Fisher–Yates, from the last index down,
    /// swapping index `i` with ``next(below:)`` `i + 1`).
    public mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            values.swapAt(i, next(below: i + 1))
        }
    }

    /// `values` in a random order (see ``shuffle(_:)``).
    public mutating func shuffled<T>(_ values: some Sequence<T>) -> [T] {
        var array = Array(values)
        shuffle(&array)
        return array
    }

    /// A uniformly chosen element of `values`, or `nil` when it is empty
    /// (one ``next(below:)`` draw otherwise).
    public mutating func element<C: RandomAccessCollection>(of values: C) -> C.Element? {
        guard !values.isEmpty else { return nil }
        return values[values.index(values.startIndex, offsetBy: next(below: values.count))]
    }
}
