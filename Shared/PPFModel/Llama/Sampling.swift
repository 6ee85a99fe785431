import Foundation
import PPFTensor

// MARK: - Sampling

/// How the next token is chosen from a logit vector.
public struct Sampling: Sendable, Codable, Equatable {
    /// Softmax temperature; 0 picks the most likely token (greedy decoding).
    public var temperature: Float
    /// Seed of the random stream; the same seed and prompt give the same text.
    public var seed: UInt64

    /// Greedy decoding (argmax), deterministic.
    public static let greedy = Sampling(temperature: 0, seed: 0)

    /// Samples from `softmax(logits / temperature)` with a seeded generator.
    public init(temperature: Float, seed: UInt64) {
        self.temperature = max(0, temperature)
        self.seed = seed
    }
}

/// Draws tokens according to a `Sampling`, keeping its random stream between draws.
struct TokenSampler {
    let sampling: Sampling
    var generator: SeededGenerator

    init(_ sampling: Sampling) {
        self.sampling = sampling
        generator = SeededGenerator(seed: sampling.seed)
    }

    /// Picks a token from `count` logits (overwritten with probabilities when sampling).
    mutating func next(_ logits: UnsafeMutablePointer<Float>, count: Int) -> Int {
        if sampling.temperature == 0 {
            var best = 0
            for i in 1..<count where logits[i] > logits[best] { best = i }
            return best
        }
        let inverse = 1 / sampling.temperature
        for i in 0..<count { logits[i] *= inverse }
        Kernels.softmax(logits, count: count)
        let threshold = generator.nextFloat()
        var cumulative: Float = 0
        for i in 0..<count {
            cumulative += logits[i]
            if cumulative > threshold { return i }
        }
        return count - 1 // rounding left the cumulative sum just under the threshold
    }
}
