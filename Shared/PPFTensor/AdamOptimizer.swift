import Foundation

// MARK: - AdamOptimizer

/// Adam (Kingma & Ba 2015) over one flat parameter vector, with optional
/// decoupled weight decay (AdamW, Loshchilov & Hutter 2019) on a masked subset.
///
/// The one optimiser of the package: the agent's policy network and the
/// predictor's ensemble members both train with it.
///
/// **Formulation.** Each step `t` computes
///
///     m ← β₁·m + (1 − β₁)·g
///     v ← β₂·v + (1 − β₂)·g²
///     p ← p − η·m̂ / (√v̂ + ε) − η·λ·mask·p,   m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
///
/// i.e. Algorithm 1 of the paper, with ε added to the *bias-corrected* √v̂.
/// The paper's "efficient" variant folds both corrections into the step size
/// and adds ε to the uncorrected √v, which amounts to an ε that shrinks by
/// √(1 − β₂ᵗ) (≈ 0.03 at step 1) early on. We keep ε's meaning independent of
/// the step count, as PyTorch's `Adam`/`AdamW` do, so a configured ε is the
/// ε of every step. The loop still only multiplies and divides once per
/// entry: it evaluates `(η / (1 − β₁ᵗ))·m / (√v · (1/√(1 − β₂ᵗ)) + ε)`, which
/// is the same expression algebraically. The corrections are computed in
/// `Double` because `β₂ᵗ` is close to 1 for many steps and `Float` would
/// lose most of `1 − β₂ᵗ`'s digits.
///
/// The decay uses the parameter's value before this step, `p`, not the
/// Adam-updated one, so it is independent of the gradient (decoupled).
public struct AdamOptimizer: Sendable {
    /// Decay rate of the first-moment (mean) estimate, in [0, 1).
    public let beta1: Double
    /// Decay rate of the second-moment (uncentred variance) estimate, in [0, 1).
    public let beta2: Double
    /// Added to `√v̂` so a zero second moment does not divide by zero; positive.
    public let epsilon: Double
    /// Decoupled weight decay `λ`: each step shrinks a decaying parameter by
    /// `learningRate · λ` of itself. Zero turns decay off.
    public let weightDecay: Double
    /// 1 where weight decay applies, 0 elsewhere, as a `Float` so the hot loop
    /// multiplies instead of branching.
    private let decayMask: [Float]
    private var firstMoment: [Float]
    private var secondMoment: [Float]
    /// Updates taken so far (`t` of the last update).
    public private(set) var step = 0

    /// An optimiser for `parameterCount` parameters with zero moments.
    ///
    /// - Parameters:
    ///   - decayMask: which parameters weight decay applies to (typically
    ///     weights, not biases); `nil` applies it to all. Ignored when
    ///     `weightDecay` is 0.
    /// - Precondition: betas in [0, 1), `epsilon` > 0, `weightDecay` ≥ 0 and
    ///   finite, and a mask of `parameterCount` entries. Callers validate user
    ///   settings before they get here, so a violation is a programming error.
    public init(parameterCount: Int, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0, decayMask: [Bool]? = nil) {
        precondition(parameterCount >= 0, "Adam: negative parameter count \(parameterCount)")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas \(beta1), \(beta2) must lie in [0, 1)")
        precondition(epsilon > 0 && epsilon.isFinite, "Adam: epsilon \(epsilon) must be positive")
        precondition(weightDecay >= 0 && weightDecay.isFinite, "Adam: weight decay \(weightDecay) must be ≥ 0")
        precondition(decayMask == nil || decayMask?.count == parameterCount,
                     "Adam: the decay mask has \(decayMask?.count ?? 0) entries for \(parameterCount) parameters")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decayMask = decayMask.map { $0.map { $0 ? 1 : 0 } } ?? [Float](repeating: 1, count: parameterCount)
        firstMoment = [Float](repeating: 0, count: parameterCount)
        secondMoment = [Float](repeating: 0, count: parameterCount)
    }

    /// Number of parameters this optimiser updates.
    public var parameterCount: Int { firstMoment.count }

    /// Moves `parameters` against `gradient` (a loss gradient) with step size `learningRate`.
    public mutating func update(_ parameters: inout [Float], gradient: [Float], learningRate: Double) {
        gradient.withUnsafeBufferPointer { g in update(&parameters, gradient: g, learningRate: learningRate) }
    }

    /// The same update with the gradient in a buffer, for callers whose
    /// backward pass writes into preallocated memory (the predictor's hot path).
    public mutating func update(_ parameters: inout [Float], gradient: UnsafeBufferPointer<Float>, learningRate: Double) {
        parameters.withUnsafeMutableBufferPointer { p in update(p, gradient: gradient, learningRate: learningRate) }
    }

    /// One update of the parameters in `parameters`, in place; the variant the
    /// others call, so all of them compute bit-identical results.
    public mutating func update(_ parameters: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>,
                                learningRate: Double) {
        let count = firstMoment.count
        precondition(parameters.count == count && gradient.count == count,
                     "Adam: \(parameters.count) parameters and \(gradient.count) gradient entries for an optimiser of \(count)")
        step += 1
        let b1 = Float(beta1), b2 = Float(beta2), eps = Float(epsilon)
        let stepSize = Float(learningRate / (1 - pow(beta1, Double(step))))
        let inverseRootCorrection2 = Float(1 / (1 - pow(beta2, Double(step))).squareRoot())
        let decay = Float(learningRate * weightDecay)
        firstMoment.withUnsafeMutableBufferPointer { m in
            secondMoment.withUnsafeMutableBufferPointer { v in
                decayMask.withUnsafeBufferPointer { mask in
                    for i in 0..<count {
                        let g = gradient[i]
                        m[i] = b1 * m[i] + (1 - b1) * g
                        v[i] = b2 * v[i] + (1 - b2) * g * g
                        parameters[i] -= stepSize * m[i] / (v[i].squareRoot() * inverseRootCorrection2 + eps)
                            + decay * mask[i] * parameters[i]
                    }
                }
            }
        }
    }
}
