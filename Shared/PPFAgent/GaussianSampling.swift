import Foundation

// MARK: - Gaussian sampling

extension RandomNumberGenerator {
    /// A standard normal draw (Box–Muller), reproducible with a seeded generator.
    mutating func nextGaussian() -> Double {
        // u1 in (0, 1] so the logarithm is finite.
        let u1 = 1 - Double.random(in: 0..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
