import PPFContracts

// MARK: - SensitivityProbes

/// The policies whose measurements make a model's sensitivity profile
/// (issue 13; read back by PPFPredictor's `SensitivityProfile`): the dense
/// policy, then for every block alone its attention at a few levels, its MLP
/// at a few levels, and the block dropped (when the budget allows drops),
/// every other block dense.
///
/// Each level is a fraction of the block's largest removal, snapped to what
/// the budget can express (the nearest attention level, whole MLP channels),
/// so the probes span the whole range the agent and the search may use.
public struct SensitivityProbes: Sendable, Hashable {
    /// Attention probe levels as fractions of the block's largest attention removal.
    public var attentionFractions: [Double]
    /// MLP probe levels as fractions of the block's largest MLP removal.
    public var mlpFractions: [Double]
    /// Whether to probe dropping each block (only where the budget allows drops).
    public var probesDrops: Bool

    /// The defaults: three attention levels (for SmolLM2-135M 0.33, 0.67 and
    /// 0.83 of the block's attention), three MLP levels (0.3, 0.6 and 0.9 of
    /// its channels) and the drop: 7 probes per block plus the dense policy.
    public init(attentionFractions: [Double] = [0.4, 0.8, 1], mlpFractions: [Double] = [1.0 / 3, 2.0 / 3, 1],
                probesDrops: Bool = true) {
        self.attentionFractions = attentionFractions
        self.mlpFractions = mlpFractions
        self.probesDrops = probesDrops
    }

    /// One probe policy and what it probes.
    public struct Probe: Sendable, Hashable {
        /// The policy: one block pruned (or none), the rest dense.
        public let policy: PruningPolicy
        /// `dense`, `attention`, `mlp` or `drop`.
        public let kind: String
    }

    /// The probes of `budget`, dense first, then block by block; duplicates
    /// (two fractions that snap to one level) appear once.
    /// - Throws: ``AgentError/Code/invalidConfiguration`` for a fraction outside (0, 1].
    public func probes(for budget: ParameterBudget) throws(AgentError) -> [Probe] {
        for fraction in attentionFractions + mlpFractions where !(fraction > 0 && fraction <= 1) {
            throw AgentError(.invalidConfiguration, "a sensitivity probe level \(fraction) must lie in (0, 1]")
        }
        let dense = PruningPolicy.uniform(blocks: budget.blockCount, attention: 0, mlp: 0).layers
        var probes = [Probe(policy: PruningPolicy(layers: dense), kind: "dense")]
        var seen: Set<PruningPolicy> = [probes[0].policy]
        func add(_ block: Int, _ layer: LayerPolicy, _ kind: String) {
            var layers = dense
            layers[block] = layer
            let policy = PruningPolicy(layers: layers)
            if seen.insert(policy).inserted { probes.append(Probe(policy: policy, kind: kind)) }
        }
        for (block, limits) in budget.layers.enumerated() {
            for fraction in attentionFractions {
                let target = fraction * limits.maxAttentionLevel
                if let level = limits.attentionLevels.filter({ $0 > 0 }).min(by: { abs($0 - target) < abs($1 - target) }) {
                    add(block, LayerPolicy(attentionRatio: level, mlpRatio: 0), "attention")
                }
            }
            for fraction in mlpFractions {
                let channels = Int((fraction * Double(limits.maxRemovedMLPChannels)).rounded())
                if channels > 0 {
                    add(block, LayerPolicy(attentionRatio: 0, mlpRatio: Double(channels) / Double(limits.mlpChannels)), "mlp")
                }
            }
            if probesDrops && budget.allowsBlockDrop {
                add(block, LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true), "drop")
            }
        }
        return probes
    }
}
