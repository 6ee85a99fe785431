import Foundation

// MARK: - TrainingConfiguration

/// Every hyper-parameter of agent training. Each default is documented and
/// is what docs/agent.md measured.
public struct TrainingConfiguration: Codable, Sendable, Hashable {
    /// Seeds network initialisation, ratio sampling and exploration noise (default 1).
    public var seed: UInt64 = 1
    /// Smallest training ratio (default 0.05).
    public var minimumRatio: Double = 0.05
    /// Largest training ratio (default 0.6).
    public var maximumRatio: Double = 0.6
    /// Gradient steps (default 300).
    public var iterations: Int = 300
    /// Target ratios per step, drawn stratified from the range (default 16).
    public var ratiosPerIteration: Int = 16
    /// Sampled actions per ratio, the RLOO group size (default 8; at least 2).
    public var samplesPerRatio: Int = 8
    /// Hidden layer widths of the tanh MLP (default [64, 64]).
    public var hiddenWidths: [Int] = [64, 64]
    /// Adam step size at the start (default 0.01); decays by cosine.
    public var learningRate: Double = 1e-2
    /// The step size at the end, as a fraction of ``learningRate`` (default 0.1).
    public var finalLearningRateFraction: Double = 0.1
    /// Exploration log-std of the attention and MLP logits at the start, in
    /// logit units (default ln 0.5). Drops are Bernoulli and need no std.
    public var initialLogStd: Double = log(0.5)
    /// The ceiling the exploration log-std anneals down to (default ln 0.05).
    public var finalLogStd: Double = log(0.05)
    /// Share of training after which the ceiling has reached ``finalLogStd`` (default 0.8).
    public var annealingFraction: Double = 0.8
    /// How far below the annealed ceiling the learned log-std may fall
    /// (default ln 4): a floor against premature collapse.
    public var logStdBand: Double = log(4)
    /// Initial drop logit of every block when the budget allows drops
    /// (default −3: each block is dropped in σ(−3) ≈ 5% of early samples).
    /// Drops start rare because a near-uniform early policy makes dropping
    /// insensitive blocks look better than it is (docs/agent.md).
    public var initialDropLogit: Double = -3
    /// `κ` in the reward `−mean − κ·std` (default 1).
    public var uncertaintyPenalty: Double = 1
    /// Projection tolerance as a fraction of prunable parameters (default 1e-3).
    public var tolerance: Double = 1e-3

    /// The defaults above.
    public init() {}

    /// The training ratio range.
    public var ratioRange: ClosedRange<Double> { minimumRatio...maximumRatio }

    /// Checks every setting against its valid range and the budget.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` naming the setting,
    ///   or ``AgentError/Code/ratioOutOfRange`` when the training range leaves
    ///   the budget's feasible range.
    public func validate(for budget: ParameterBudget) throws(AgentError) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(AgentError) {
            if !condition { throw AgentError(.invalidConfiguration, message()) }
        }
        try check(minimumRatio.isFinite && maximumRatio.isFinite && minimumRatio < maximumRatio,
                  "training ratio range \(minimumRatio)...\(maximumRatio) must be a non-empty finite range")
        let feasible = budget.feasibleRatios
        guard feasible.contains(minimumRatio), feasible.contains(maximumRatio) else {
            throw AgentError(.ratioOutOfRange,
                             "training ratio range \(minimumRatio)...\(maximumRatio) leaves the budget's feasible range \(feasible.lowerBound)...\(feasible.upperBound)")
        }
        try check(iterations > 0, "iterations \(iterations) must be positive")
        try check(ratiosPerIteration > 0, "ratiosPerIteration \(ratiosPerIteration) must be positive")
        try check(samplesPerRatio >= 2, "samplesPerRatio \(samplesPerRatio) must be at least 2 (leave-one-out baseline)")
        try check(!hiddenWidths.isEmpty && hiddenWidths.allSatisfy { $0 > 0 }, "hiddenWidths \(hiddenWidths) must be positive")
        try check(learningRate.isFinite && learningRate > 0, "learningRate \(learningRate) must be positive")
        try check((0...1).contains(finalLearningRateFraction), "finalLearningRateFraction must be in [0, 1]")
        try check(initialLogStd.isFinite && finalLogStd.isFinite && finalLogStd <= initialLogStd,
                  "finalLogStd \(finalLogStd) must not exceed initialLogStd \(initialLogStd)")
        try check(annealingFraction > 0 && annealingFraction <= 1, "annealingFraction must be in (0, 1]")
        try check(logStdBand.isFinite && logStdBand >= 0, "logStdBand must be ≥ 0")
        try check(uncertaintyPenalty.isFinite && uncertaintyPenalty >= 0, "uncertaintyPenalty must be ≥ 0")
        try check(initialDropLogit.isFinite, "initialDropLogit must be finite")
    }

    // MARK: - Schedules

    /// The band the learned log-std is kept in at training progress `p` in
    /// [0, 1]: the ceiling falls linearly in log space from ``initialLogStd``
    /// to ``finalLogStd``; the floor is ``logStdBand`` below it.
    func logStdBounds(progress p: Double) -> ClosedRange<Double> {
        let t = min(1, max(0, p) / annealingFraction)
        let ceiling = initialLogStd + (finalLogStd - initialLogStd) * t
        return (ceiling - logStdBand)...ceiling
    }

    /// Cosine-decayed step size at progress `p`.
    func learningRate(progress p: Double) -> Double {
        let low = learningRate * finalLearningRateFraction
        return low + (learningRate - low) * (1 + cos(Double.pi * min(1, p))) / 2
    }
}
