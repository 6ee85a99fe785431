import Foundation
import PPFContracts
import PPFTensor

// MARK: - SeparableQuadraticObjective

/// A synthetic predictor whose budget-constrained optimum is known: the
/// predicted increase in log-perplexity is
/// `(1/L) Σ_l c_l · (w_A·attn_l² + w_M·mlp_l²)` (a dropped block counts as
/// `attn = mlp = 1`).
///
/// It exists to *prove* the agent (tests) and to *measure* it (the
/// benchmark) without a trained predictor: the constrained minimum of this
/// separable convex problem follows from KKT (see ``optimum(ratio:)``), so
/// the agent's gap to it is exact.
public struct SeparableQuadraticObjective: Sendable, Codable, Hashable {
    /// The budget the policies are scored against.
    public let budget: ParameterBudget
    /// Per-block sensitivity `c_l > 0`.
    public let layerWeights: [Double]
    /// Weight `w_A` of the attention term.
    public let attentionWeight: Double
    /// Weight `w_M` of the MLP term.
    public let mlpWeight: Double

    /// Creates an objective.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` when the weights are
    ///   not positive or their count differs from the budget's blocks.
    public init(budget: ParameterBudget, layerWeights: [Double], attentionWeight: Double = 2, mlpWeight: Double = 1) throws(AgentError) {
        guard layerWeights.count == budget.blockCount,
              layerWeights.allSatisfy({ $0.isFinite && $0 > 0 }), attentionWeight > 0, mlpWeight > 0 else {
            throw AgentError(.invalidConfiguration, "objective weights must be positive, one per block (\(budget.blockCount))")
        }
        self.budget = budget
        self.layerWeights = layerWeights
        self.attentionWeight = attentionWeight
        self.mlpWeight = mlpWeight
    }

    /// An objective with `c_l = exp(u_l)`, `u_l` uniform in `[−spread, spread]`, from a seed.
    public static func random(budget: ParameterBudget, spread: Double = 1.2, seed: UInt64) throws(AgentError) -> SeparableQuadraticObjective {
        var generator = SeededGenerator(seed: seed)
        let weights = (0..<budget.blockCount).map { _ in exp(Double.random(in: -spread...spread, using: &generator)) }
        return try SeparableQuadraticObjective(budget: budget, layerWeights: weights)
    }

    // MARK: - Loss

    /// The predicted log-perplexity increase of `policy` (the policy's ratios as given).
    public func loss(_ policy: PruningPolicy) -> Double {
        var sum = 0.0
        for (layer, weight) in zip(policy.layers, layerWeights) {
            let (attention, mlp) = layer.dropped ? (1.0, 1.0) : (layer.attentionRatio, layer.mlpRatio)
            sum += weight * (attentionWeight * attention * attention + mlpWeight * mlp * mlp)
        }
        return sum / Double(layerWeights.count)
    }

    /// This objective as a reward model with zero uncertainty.
    public var rewardModel: RewardModel {
        { policies, _ in policies.map { Prediction(mean: loss($0), std: 0) } }
    }

    // MARK: - Optimum (KKT)

    /// The constrained optimum with continuous ratios and no drops.
    public struct Optimum: Sendable, Hashable {
        /// The minimal loss: a lower bound for every budget-exact policy.
        public let loss: Double
        /// Optimal attention removal per block.
        public let attention: [Double]
        /// Optimal MLP removal per block.
        public let mlp: [Double]
    }

    /// Minimises the loss subject to `Σ(A_l·attn_l + M_l·mlp_l) = r·total`,
    /// `0 ≤ attn_l ≤ maxLevel_l`, `0 ≤ mlp_l ≤ maxMLP_l`, with continuous ratios.
    ///
    /// Stationarity of the Lagrangian gives `attn_l = clip(μ·A_l·L / (2·c_l·w_A))`
    /// and `mlp_l = clip(μ·M_l·L / (2·c_l·w_M))`; the removal is monotone in
    /// `μ`, found by bisection to machine precision. Because the budget's
    /// levels and channels are discrete, this is a lower bound for what any
    /// real policy achieves.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` above the no-drop maximum.
    public func optimum(ratio: Double) throws(AgentError) -> Optimum {
        let layers = budget.layers
        let total = Double(budget.totalParameters)
        let capacity = layers.reduce(0.0) { $0 + $1.attentionCapacity + $1.mlpCapacity }
        guard ratio.isFinite, ratio >= 0, ratio * total <= capacity * (1 + 1e-12) else {
            throw AgentError(.ratioOutOfRange, "ratio \(ratio) is outside 0...\(capacity / total) without block drops")
        }
        let count = Double(layers.count)
        func solution(_ mu: Double) -> (attention: [Double], mlp: [Double], removed: Double) {
            var attention: [Double] = [], mlp: [Double] = [], removed = 0.0
            for (layer, weight) in zip(layers, layerWeights) {
                let a = min(max(mu * Double(layer.attentionParameters) * count / (2 * weight * attentionWeight), 0),
                            layer.maxAttentionLevel)
                let m = min(max(mu * Double(layer.mlpParameters) * count / (2 * weight * mlpWeight), 0),
                            Double(layer.maxRemovedMLPChannels) / Double(layer.mlpChannels))
                attention.append(a)
                mlp.append(m)
                removed += a * Double(layer.attentionParameters) + m * Double(layer.mlpParameters)
            }
            return (attention, mlp, removed)
        }
        var low = 0.0, high = 1e-12
        while solution(high).removed < ratio * total, high < 1e12 { high *= 2 }
        for _ in 0..<300 {
            let middle = (low + high) / 2
            if solution(middle).removed < ratio * total { low = middle } else { high = middle }
        }
        let best = solution((low + high) / 2)
        let policy = PruningPolicy(layers: zip(best.attention, best.mlp).map { LayerPolicy(attentionRatio: $0, mlpRatio: $1) })
        return Optimum(loss: loss(policy), attention: best.attention, mlp: best.mlp)
    }
}
