import Foundation
import PPFContracts
import PPFTensor

// MARK: - SeparableQuadraticObjective

/// A synthetic predictor whose budget-constrained optimum is known: the
/// predicted increase in log-perplexity is
/// `(1/L) Σ_l c_l · (w_A·attn_l² + w_M·mlp_l²)`, where a dropped block costs
/// its drop loss instead (default `c_l·(w_A + w_M)`, as if fully removed).
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
    /// What dropping each block costs (before the `1/L` factor).
    public let dropLosses: [Double]

    /// Creates an objective.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` when the weights are
    ///   not positive or their count differs from the budget's blocks.
    ///   `dropLosses` defaults to `c_l·(w_A + w_M)` per block when empty.
    public init(budget: ParameterBudget, layerWeights: [Double], attentionWeight: Double = 2, mlpWeight: Double = 1,
                dropLosses: [Double] = []) throws(AgentError) {
        guard layerWeights.count == budget.blockCount,
              layerWeights.allSatisfy({ $0.isFinite && $0 > 0 }), attentionWeight > 0, mlpWeight > 0 else {
            throw AgentError(.invalidConfiguration, "objective weights must be positive, one per block (\(budget.blockCount))")
        }
        guard dropLosses.isEmpty || (dropLosses.count == budget.blockCount && dropLosses.allSatisfy { $0.isFinite && $0 >= 0 }) else {
            throw AgentError(.invalidConfiguration, "drop losses must be ≥ 0, one per block (\(budget.blockCount))")
        }
        self.budget = budget
        self.layerWeights = layerWeights
        self.attentionWeight = attentionWeight
        self.mlpWeight = mlpWeight
        self.dropLosses = dropLosses.isEmpty ? layerWeights.map { $0 * (attentionWeight + mlpWeight) } : dropLosses
    }

    /// An objective with `c_l = exp(u_l)`, `u_l` uniform in `[−spread, spread]`, from a seed.
    public static func random(budget: ParameterBudget, spread: Double = 1.2, seed: UInt64) throws(AgentError) -> SeparableQuadraticObjective {
        var generator = SeededGenerator(seed: seed)
        let weights = (0..<budget.blockCount).map { _ in exp(generator.nextUniform(in: -spread...spread)) }
        return try SeparableQuadraticObjective(budget: budget, layerWeights: weights)
    }

    // MARK: - Loss

    /// The predicted log-perplexity increase of `policy` (the policy's ratios as given).
    public func loss(_ policy: PruningPolicy) -> Double {
        var sum = 0.0
        for (index, layer) in policy.layers.enumerated() where index < layerWeights.count {
            sum += layer.dropped
                ? dropLosses[index]
                : layerWeights[index] * (attentionWeight * layer.attentionRatio * layer.attentionRatio
                    + mlpWeight * layer.mlpRatio * layer.mlpRatio)
        }
        return sum / Double(layerWeights.count)
    }

    /// This objective as a reward model with zero uncertainty.
    public var rewardModel: RewardModel {
        { policies, _ in policies.map { Prediction(mean: loss($0), std: 0) } }
    }

    // MARK: - Optimum (KKT)

    /// The constrained optimum with continuous ratios.
    public struct Optimum: Sendable, Hashable {
        /// The minimal loss: a lower bound for every budget-exact policy.
        public let loss: Double
        /// Optimal attention removal per block (1 for dropped blocks).
        public let attention: [Double]
        /// Optimal MLP removal per block (1 for dropped blocks).
        public let mlp: [Double]
        /// Blocks the optimum drops.
        public let dropped: [Bool]
    }

    /// Minimises the loss subject to `Σ(A_l·attn_l + M_l·mlp_l) = r·total`,
    /// `0 ≤ attn_l ≤ maxLevel_l`, `0 ≤ mlp_l ≤ maxMLP_l`, with continuous ratios.
    ///
    /// Stationarity of the Lagrangian gives `attn_l = clip(μ·A_l·L / (2·c_l·w_A))`
    /// and `mlp_l = clip(μ·M_l·L / (2·c_l·w_M))`; the removal is monotone in
    /// `μ`, found by bisection to machine precision. With `allowingDrops`,
    /// every set of dropped blocks that fits is enumerated (at most 16 blocks)
    /// and the survivors solved by KKT. Because the budget's levels and
    /// channels are discrete, this is a lower bound for any real policy.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` when no policy reaches
    ///   `ratio`; ``AgentError/Code/invalidConfiguration`` when enumerating
    ///   drops over more than 16 blocks.
    public func optimum(ratio: Double, allowingDrops: Bool = false) throws(AgentError) -> Optimum {
        let layers = budget.layers
        let total = Double(budget.totalParameters)
        guard ratio.isFinite, ratio >= 0 else {
            throw AgentError(.ratioOutOfRange, "ratio \(ratio) must be ≥ 0")
        }
        guard allowingDrops else {
            guard let best = solve(survivors: Array(layers.indices), removal: ratio * total) else {
                throw AgentError(.ratioOutOfRange, "ratio \(ratio) is out of reach without block drops")
            }
            return best
        }
        guard layers.count <= 16 else {
            throw AgentError(.invalidConfiguration, "enumerating drops over \(layers.count) blocks is too expensive (≤ 16)")
        }
        var best: Optimum?
        for mask in 0..<(1 << layers.count) where mask != (1 << layers.count) - 1 {
            let dropped = layers.indices.filter { mask & (1 << $0) != 0 }
            let removedByDrops = dropped.reduce(0.0) { $0 + Double(layers[$1].blockParameters) }
            guard removedByDrops <= ratio * total * (1 + 1e-12),
                  let candidate = solve(survivors: layers.indices.filter { mask & (1 << $0) == 0 },
                                        removal: ratio * total - removedByDrops) else { continue }
            if candidate.loss < best?.loss ?? .infinity { best = candidate }
        }
        guard let best else { throw AgentError(.ratioOutOfRange, "no set of drops reaches ratio \(ratio)") }
        return best
    }

    /// A lower bound on the loss of every no-drop policy that uses the
    /// budget's *discrete* attention levels, from Lagrangian duality:
    /// `max_μ μ·R + Σ_l min_{x ∈ levels_l}(c_l·w_A·x²/L − μ·A_l·x)
    ///  + Σ_l min_{y ∈ [0, maxMLP_l]}(c_l·w_M·y²/L − μ·M_l·y)`.
    ///
    /// Tighter than ``optimum(ratio:allowingDrops:)`` when levels are coarse
    /// (SmolLM2 has seven), so the agent's gap against it is meaningful there.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` when no policy reaches `ratio`.
    public func discreteLowerBound(ratio: Double) throws(AgentError) -> Double {
        let continuous = try optimum(ratio: ratio)
        let layers = budget.layers
        let count = Double(layers.count)
        let removal = ratio * Double(budget.totalParameters)
        func dual(_ mu: Double) -> Double {
            var value = mu * removal
            for (layer, weight) in zip(layers, layerWeights) {
                let a = Double(layer.attentionParameters), m = Double(layer.mlpParameters)
                value += layer.attentionLevels.map { weight * attentionWeight * $0 * $0 / count - mu * a * $0 }.min() ?? 0
                let maxMLP = Double(layer.maxRemovedMLPChannels) / Double(layer.mlpChannels)
                let y = min(max(mu * m * count / (2 * weight * mlpWeight), 0), maxMLP)
                value += weight * mlpWeight * y * y / count - mu * m * y
            }
            return value
        }
        // The dual is concave in μ; bracket generously around the continuous
        // multiplier's scale and golden-section search.
        let scale = layers.indices.map {
            2 * layerWeights[$0] * mlpWeight * continuous.mlp[$0] / (Double(layers[$0].mlpParameters) * count)
        }.max() ?? 1
        var low = 0.0, high = max(scale, 1e-12) * 8
        let golden = (5.0.squareRoot() - 1) / 2
        for _ in 0..<200 {
            let left = high - golden * (high - low), right = low + golden * (high - low)
            if dual(left) < dual(right) { low = left } else { high = right }
        }
        // Both are valid lower bounds (the discrete dual is the continuous
        // problem with costs interpolated between levels, never below them).
        return max(dual((low + high) / 2), continuous.loss)
    }

    /// KKT on the surviving blocks (the rest dropped); nil when `removal` is out of their reach.
    private func solve(survivors: [Int], removal: Double) -> Optimum? {
        let layers = budget.layers
        let capacity = survivors.reduce(0.0) { $0 + layers[$1].attentionCapacity + layers[$1].mlpCapacity }
        guard removal >= -1e-9 * Double(budget.totalParameters), removal <= capacity * (1 + 1e-12) + 1e-9 else { return nil }
        let count = Double(layers.count)
        var attention = [Double](repeating: 1, count: layers.count)
        var mlp = [Double](repeating: 1, count: layers.count)
        func fill(_ mu: Double) -> Double {
            var removed = 0.0
            for block in survivors {
                let layer = layers[block], weight = layerWeights[block]
                attention[block] = min(max(mu * Double(layer.attentionParameters) * count / (2 * weight * attentionWeight), 0),
                                       layer.maxAttentionLevel)
                mlp[block] = min(max(mu * Double(layer.mlpParameters) * count / (2 * weight * mlpWeight), 0),
                                 Double(layer.maxRemovedMLPChannels) / Double(layer.mlpChannels))
                removed += attention[block] * Double(layer.attentionParameters) + mlp[block] * Double(layer.mlpParameters)
            }
            return removed
        }
        var low = 0.0, high = 1e-12
        while fill(high) < removal, high < 1e12 { high *= 2 }
        for _ in 0..<300 {
            let middle = (low + high) / 2
            if fill(middle) < removal { low = middle } else { high = middle }
        }
        _ = fill((low + high) / 2)
        let survivorSet = Set(survivors)
        let dropped = layers.indices.map { !survivorSet.contains($0) }
        let policy = PruningPolicy(layers: layers.indices.map {
            LayerPolicy(attentionRatio: attention[$0], mlpRatio: mlp[$0], dropped: dropped[$0])
        })
        return Optimum(loss: loss(policy), attention: attention, mlp: mlp, dropped: dropped)
    }
}
