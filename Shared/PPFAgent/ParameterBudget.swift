import PPFContracts
import PPFModel

// MARK: - LayerBudget

/// What one block can lose: its prunable parameter counts and the removal
/// fractions its head and channel layout allows.
///
/// Budgets of real models are built from PPFModel's `LayerAccounting`
/// (``init(accounting:minimumKeptMLPFraction:)``); the memberwise initialiser
/// serves stored budgets and synthetic ones (near-continuous levels) that
/// describe no real layout.
public struct LayerBudget: PrunableBlockCounts, Codable, Sendable, Hashable {
    /// Prunable attention parameters (q, k, v, o projections), `A_l`.
    public let attentionParameters: Int
    /// Prunable MLP parameters (gate, up, down projections), `M_l`.
    public let mlpParameters: Int
    /// The attention removal fractions a valid (GQA) layer can have, ascending,
    /// starting at 0 and all below 1. Removing everything (1.0) is only
    /// possible by dropping the block.
    public let attentionLevels: [Double]
    /// MLP intermediate channels `F`; MLP removal moves in steps of `1/F`.
    public let mlpChannels: Int
    /// The most channels a surviving block may lose (keeps the block alive).
    public let maxRemovedMLPChannels: Int

    /// Creates a block budget; ``ParameterBudget/init(layers:allowsBlockDrop:)`` validates it.
    public init(attentionParameters: Int, mlpParameters: Int, attentionLevels: [Double],
                mlpChannels: Int, maxRemovedMLPChannels: Int) {
        self.attentionParameters = attentionParameters
        self.mlpParameters = mlpParameters
        self.attentionLevels = attentionLevels
        self.mlpChannels = mlpChannels
        self.maxRemovedMLPChannels = maxRemovedMLPChannels
    }

    /// The budget of one block from PPFModel's accounting of its shapes: its
    /// `A_l`, `M_l`, `F`, and the removal fractions of its attention levels
    /// below 1 (full removal is only possible by dropping the block).
    ///
    /// - Parameters:
    ///   - minimumKeptMLPFraction: the share of MLP channels a surviving block
    ///     keeps, rounded up to whole channels and at least one.
    /// - Throws: ``AgentError/Code/invalidBudget`` for a block without attention
    ///   or MLP (the agent prunes both in every block) or a fraction outside [0, 1].
    public init(accounting: LayerAccounting, minimumKeptMLPFraction: Double) throws(AgentError) {
        guard accounting.queryHeads > 0, accounting.feedForwardLength > 0 else {
            throw AgentError(.invalidBudget,
                             "a block with \(accounting.queryHeads) query heads and \(accounting.feedForwardLength) MLP channels cannot be budgeted; the agent needs both")
        }
        guard (0...1).contains(minimumKeptMLPFraction) else {
            throw AgentError(.invalidBudget, "minimum kept MLP fraction \(minimumKeptMLPFraction) must be in [0, 1]")
        }
        let channels = accounting.feedForwardLength
        let keptChannels = max(1, Int((minimumKeptMLPFraction * Double(channels)).rounded(.up)))
        self.init(attentionParameters: accounting.attentionParameters, mlpParameters: accounting.mlpParameters,
                  attentionLevels: accounting.attentionLevels.filter { !$0.shapes.isEmpty }.map(\.removal),
                  mlpChannels: channels, maxRemovedMLPChannels: max(0, channels - keptChannels))
    }

    /// `A_l + M_l`: what dropping the block removes.
    public var blockParameters: Int { attentionParameters + mlpParameters }

    /// The largest attention removal fraction a surviving block can have.
    public var maxAttentionLevel: Double { attentionLevels.last ?? 0 }

    /// Parameters removed by one MLP channel (`M_l / F`).
    public var parametersPerChannel: Double { Double(mlpParameters) / Double(mlpChannels) }

    /// The most MLP parameters a surviving block can lose.
    public var mlpCapacity: Double { Double(maxRemovedMLPChannels) * parametersPerChannel }

    /// The most attention parameters a surviving block can lose.
    public var attentionCapacity: Double { maxAttentionLevel * Double(attentionParameters) }

    /// Parameters a surviving block keeps at the least.
    public var minimumKept: Double { Double(blockParameters) - attentionCapacity - mlpCapacity }

    /// The biggest jump between two neighbouring attention levels, in parameters.
    var largestAttentionStep: Double {
        zip(attentionLevels, attentionLevels.dropFirst())
            .map { ($1 - $0) * Double(attentionParameters) }.max() ?? 0
    }
}

// MARK: - ParameterBudget

/// The prunable parameters of a model and the ways they can be removed.
///
/// The pruning engine builds one from a real model's shapes
/// (``groupedQueryAttention(blocks:hiddenSize:queryHeads:kvHeads:headDimension:ffnChannels:minimumKeptMLPFraction:allowsBlockDrop:)``);
/// the agent and the projection only ever see this value. The initialiser
/// checks the conditions under which ``BudgetProjection`` can hit every ratio
/// in ``feasibleRatios`` by construction.
public struct ParameterBudget: Codable, Sendable, Hashable {
    /// One entry per block, in block order.
    public let layers: [LayerBudget]
    /// Whether a policy may drop whole blocks.
    public let allowsBlockDrop: Bool

    /// Creates and validates a budget.
    ///
    /// - Throws: ``AgentError/Code/invalidBudget`` when counts are not positive,
    ///   levels are not ascending from 0 and below 1, the MLP cannot absorb the
    ///   biggest attention step (then some ratios would be unreachable), or,
    ///   with drops, a block keeps more than another block can give.
    public init(layers: [LayerBudget], allowsBlockDrop: Bool) throws(AgentError) {
        self.layers = layers
        self.allowsBlockDrop = allowsBlockDrop
        try validate()
    }

    /// Decodes and re-validates, so a stored budget is as trustworthy as a built one.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(layers: container.decode([LayerBudget].self, forKey: .layers),
                      allowsBlockDrop: container.decode(Bool.self, forKey: .allowsBlockDrop))
    }

    // MARK: - Derived quantities

    /// Number of blocks `L`.
    public var blockCount: Int { layers.count }

    /// `Σ (A_l + M_l)`: the denominator of every ratio.
    public var totalParameters: Int { layers.reduce(0) { $0 + $1.blockParameters } }

    /// Length of an action vector: attention and MLP logits per block, plus a
    /// drop logit per block when drops are allowed.
    public var actionCount: Int { blockCount * (allowsBlockDrop ? 3 : 2) }

    /// The target ratios every action can be projected onto.
    ///
    /// Without drops the top is `Σ(max attention level·A_l + max MLP removal_l) / total`.
    /// With drops every block but one may go, and the survivor is pruned to
    /// its limits, so the top is `1 − max_l(minimum kept_l) / total`.
    public var feasibleRatios: ClosedRange<Double> {
        let total = Double(totalParameters)
        if allowsBlockDrop {
            let largestKept = layers.map(\.minimumKept).max() ?? total
            return 0...(1 - largestKept / total)
        }
        let removable = layers.reduce(0.0) { $0 + $1.attentionCapacity + $1.mlpCapacity }
        return 0...(removable / total)
    }

    /// The finest ratio step MLP channels allow: half the largest channel's
    /// share of the total. A projection tolerance below this is unreachable.
    public var ratioResolution: Double {
        (layers.map(\.parametersPerChannel).max() ?? 0) / 2 / Double(totalParameters)
    }

    // MARK: - Achieved ratio

    /// How `policy` prunes each block, for a policy the budget can realise as
    /// it stands: unlike the pruning engine, which maps any ratio to the
    /// nearest layout, the agent only ever emits budget-exact policies, so
    /// anything else is an error here.
    ///
    /// - Throws: ``AgentError/Code/policyShapeMismatch`` when the block count
    ///   differs, ``AgentError/Code/policyNotRepresentable`` when an attention
    ///   ratio is not an allowed level, an MLP ratio is not a whole number of
    ///   channels within the block's limit, or a drop is not allowed.
    public func removals(_ policy: PruningPolicy) throws(AgentError) -> [BlockRemoval] {
        guard policy.layers.count == blockCount else {
            throw AgentError(.policyShapeMismatch,
                             "policy has \(policy.layers.count) blocks but the budget has \(blockCount)")
        }
        var removals: [BlockRemoval] = []
        removals.reserveCapacity(blockCount)
        for (index, (layer, budget)) in zip(policy.layers, layers).enumerated() {
            if layer.dropped {
                guard allowsBlockDrop else {
                    throw AgentError(.policyNotRepresentable, "block \(index) is dropped but the budget allows no block drops")
                }
                removals.append(.dropped)
                continue
            }
            guard let level = budget.attentionLevels.first(where: { abs($0 - layer.attentionRatio) <= 1e-9 }) else {
                throw AgentError(.policyNotRepresentable,
                                 "block \(index): attention ratio \(layer.attentionRatio) is not one of \(budget.attentionLevels)")
            }
            let channels = layer.mlpRatio * Double(budget.mlpChannels)
            let whole = channels.rounded()
            guard abs(channels - whole) <= 1e-6, whole >= 0, whole <= Double(budget.maxRemovedMLPChannels) else {
                throw AgentError(.policyNotRepresentable,
                                 "block \(index): MLP ratio \(layer.mlpRatio) is not a whole number of channels in 0...\(budget.maxRemovedMLPChannels) of \(budget.mlpChannels)")
            }
            // The budget stores levels as fractions (its Codable form), so the
            // attention removed is level·A_l: within an ulp or so of the
            // accounting's whole count for a budget built from shapes.
            removals.append(.pruned(attentionParameters: level * Double(budget.attentionParameters), channels: Int(whole)))
        }
        return removals
    }

    /// The prunable parameters `policy` removes: PPFModel's
    /// `ParameterAccounting.removedParameters(by:in:)` of ``removals(_:)``.
    ///
    /// - Throws: see ``removals(_:)``.
    public func removedParameters(_ policy: PruningPolicy) throws(AgentError) -> Double {
        ParameterAccounting.removedParameters(by: try removals(policy), in: layers)
    }

    /// The fraction of prunable parameters `policy` removes: PPFModel's
    /// `ParameterAccounting.achievedRatio(of:in:)` of ``removals(_:)``, the
    /// same definition the pruning engine plans with.
    ///
    /// - Throws: see ``removals(_:)``.
    public func achievedRatio(_ policy: PruningPolicy) throws(AgentError) -> Double {
        ParameterAccounting.achievedRatio(of: try removals(policy), in: layers)
    }

    // MARK: - Validation

    private func validate() throws(AgentError) {
        guard !layers.isEmpty else { throw AgentError(.invalidBudget, "a budget needs at least one block") }
        for (index, layer) in layers.enumerated() {
            guard layer.attentionParameters >= 0, layer.mlpParameters > 0, layer.mlpChannels > 0 else {
                throw AgentError(.invalidBudget,
                                 "block \(index): parameter counts must be non-negative, MLP parameters and channels positive")
            }
            guard (0..<layer.mlpChannels).contains(layer.maxRemovedMLPChannels) else {
                throw AgentError(.invalidBudget,
                                 "block \(index): max removed MLP channels \(layer.maxRemovedMLPChannels) must be in 0..<\(layer.mlpChannels)")
            }
            let levels = layer.attentionLevels
            guard levels.first == 0, levels.allSatisfy({ $0.isFinite && $0 < 1 }),
                  zip(levels, levels.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw AgentError(.invalidBudget,
                                 "block \(index): attention levels must start at 0, ascend strictly and stay below 1 (got \(levels))")
            }
            // Each block's MLP must absorb its own biggest attention step, so
            // any set of surviving blocks can fill the gap between two levels.
            if allowsBlockDrop, layer.largestAttentionStep > layer.mlpCapacity {
                throw AgentError(.invalidBudget,
                                 "block \(index): an attention step of \(layer.largestAttentionStep) parameters exceeds the MLP capacity \(layer.mlpCapacity); allow more MLP removal or finer attention levels")
            }
        }
        let totalMLPCapacity = layers.reduce(0.0) { $0 + $1.mlpCapacity }
        if let step = layers.map(\.largestAttentionStep).max(), step > totalMLPCapacity {
            throw AgentError(.invalidBudget,
                             "an attention step of \(step) parameters exceeds the total MLP capacity \(totalMLPCapacity)")
        }
        if allowsBlockDrop, layers.count > 1 {
            // Greedy forced drops always find a block that fits when no block
            // keeps more than any other block can give (see BudgetProjection).
            let smallestCapacity = layers.map { $0.attentionCapacity + $0.mlpCapacity }.min() ?? 0
            if let kept = layers.map(\.minimumKept).max(), kept > smallestCapacity {
                throw AgentError(.invalidBudget,
                                 "a block keeps \(kept) parameters at the least, more than the smallest block can give (\(smallestCapacity)); block drops cannot be planned")
            }
        }
    }
}

// MARK: - Grouped-query attention budgets

extension ParameterBudget {
    /// The budget of a LLaMA-style model with grouped-query attention and a
    /// SwiGLU MLP, every block alike, from PPFModel's `LayerAccounting` of
    /// those shapes (see ``init(accounting:minimumKeptMLPFraction:allowsBlockDrop:)``).
    ///
    /// Attention is removed by keeping `g` of the `G` KV groups and `m` of the
    /// `Q/G` query heads in each kept group, so a block keeps
    /// `hidden·headDim·(2·g·m + 2·g)` of its `hidden·headDim·(2·Q + 2·G)`
    /// attention parameters. For SmolLM2-135M (Q = 9, G = 3) the removal
    /// levels are `1 − g(m+1)/12`. The MLP is `3·hidden·F` parameters in `F` channels.
    ///
    /// - Parameters:
    ///   - minimumKeptMLPFraction: the share of MLP channels every surviving
    ///     block keeps (default 0.1, rounded up to whole channels, at least one).
    /// - Throws: ``AgentError/Code/invalidBudget`` for non-positive shapes,
    ///   query heads that are not a multiple of the KV heads, or a budget the
    ///   projection cannot serve.
    public static func groupedQueryAttention(
        blocks: Int, hiddenSize: Int, queryHeads: Int, kvHeads: Int, headDimension: Int,
        ffnChannels: Int, minimumKeptMLPFraction: Double = 0.1, allowsBlockDrop: Bool
    ) throws(AgentError) -> ParameterBudget {
        guard blocks > 0 else { throw AgentError(.invalidBudget, "a budget needs at least one block, got \(blocks)") }
        let accounting: LayerAccounting
        do {
            accounting = try LayerAccounting(embeddingLength: hiddenSize, headDimension: headDimension, queryHeads: queryHeads,
                                             keyValueGroups: kvHeads, feedForwardLength: ffnChannels)
        } catch {
            throw AgentError(.invalidBudget, error.message)
        }
        let layer = try LayerBudget(accounting: accounting, minimumKeptMLPFraction: minimumKeptMLPFraction)
        return try ParameterBudget(layers: Array(repeating: layer, count: blocks), allowsBlockDrop: allowsBlockDrop)
    }
}
