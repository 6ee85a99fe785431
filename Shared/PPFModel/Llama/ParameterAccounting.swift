import PPFContracts

// MARK: - Error codes of the accounting

extension ModelError.Code {
    /// A policy has a different number of blocks than the model.
    public static var policyShapeMismatch: Self { Self("policyShapeMismatch") }
    /// A policy ratio is outside [0, 1] or not finite.
    public static var invalidRatio: Self { Self("invalidRatio") }
    /// A block would lose every attention head without being dropped whole.
    public static var removesEveryHead: Self { Self("removesEveryHead") }
    /// A block would lose every MLP channel without being dropped whole.
    public static var removesEveryChannel: Self { Self("removesEveryChannel") }
    /// Every block would be dropped: nothing would be left to run.
    public static var dropsEveryBlock: Self { Self("dropsEveryBlock") }
}

// MARK: - AttentionShape

/// A GQA attention layout that keeps `keptGroups` KV groups and
/// `headsPerGroup` query heads in each of them (n_head = g·m, n_head_kv = g),
/// a shape llama.cpp loads as is.
public struct AttentionShape: Codable, Sendable, Hashable, CustomStringConvertible {
    /// KV groups kept, `g`.
    public let keptGroups: Int
    /// Query heads kept in every kept group, `m`.
    public let headsPerGroup: Int

    /// Creates a layout.
    public init(keptGroups: Int, headsPerGroup: Int) {
        self.keptGroups = keptGroups
        self.headsPerGroup = headsPerGroup
    }

    /// Query heads kept, `g·m`.
    public var queryHeads: Int { keptGroups * headsPerGroup }

    /// `g×m`.
    public var description: String { "\(keptGroups)×\(headsPerGroup)" }
}

// MARK: - AttentionLevel

/// One attention removal fraction a block can have, with every (g, m)
/// layout that reaches it (SmolLM2: 2/3 from 1×3 or 2×1, 1/2 from 2×2 or 3×1).
public struct AttentionLevel: Sendable, Hashable {
    /// Fraction of the block's attention parameters removed, `1 − g(m+1)/(Q+G)`.
    public let removal: Double
    /// Attention parameters kept, `d·hd·(2gm + 2g)`.
    public let keptParameters: Int
    /// The layouts of this level; empty for the level 1 (no attention left).
    public let shapes: [AttentionShape]
}

// MARK: - LayerAccounting

/// Prunable parameter counts of one block, computed exactly from its shapes,
/// and the structured removals its layout allows.
///
/// Attention keeps `g` of `G` KV groups and `m` of the `Q/G` query heads in
/// each kept group, so q and o scale with `g·m`, k and v with `g`, and a block
/// keeps `d·hd·(2gm + 2g)` of its `d·hd·(2Q + 2G)` attention parameters; the
/// MLP is `3·d·F` parameters in `F` channels of `3·d` each. The pruning
/// engine plans with these levels and the agent's `ParameterBudget` is built
/// from them, so both see the same numbers.
public struct LayerAccounting: PrunableBlockCounts, Sendable, Hashable {
    /// Model width `d`.
    public let embeddingLength: Int
    /// Head size `hd` (from the configuration, never a literal).
    public let headDimension: Int
    /// Query heads `Q`.
    public let queryHeads: Int
    /// KV groups `G`.
    public let keyValueGroups: Int
    /// MLP channels `F`.
    public let feedForwardLength: Int

    /// The accounting of block `layer` of `configuration` (already validated,
    /// so this cannot fail).
    public init(configuration c: LlamaConfiguration, layer: Int) {
        let block = c.block(layer)
        embeddingLength = c.embeddingLength
        headDimension = c.headDimension
        queryHeads = block.queryHeads
        keyValueGroups = block.keyValueHeads
        feedForwardLength = block.feedForwardLength
    }

    /// The accounting of a block given by its shapes alone, for callers that
    /// describe a model without a full configuration (the agent's budgets).
    ///
    /// - Throws: ``ModelError/Code/invalidConfiguration`` unless `d` and `hd`
    ///   are positive, the counts non-negative, query heads and KV groups zero
    ///   together, and the query heads a multiple of the groups: the same
    ///   rules `LlamaConfiguration` applies to a block.
    public init(embeddingLength: Int, headDimension: Int, queryHeads: Int, keyValueGroups: Int,
                feedForwardLength: Int) throws(ModelError) {
        guard embeddingLength > 0, headDimension > 0, queryHeads >= 0, keyValueGroups >= 0, feedForwardLength >= 0,
              (queryHeads == 0) == (keyValueGroups == 0), keyValueGroups == 0 || queryHeads % keyValueGroups == 0 else {
            throw ModelError(.invalidConfiguration,
                             "a block of width \(embeddingLength), head size \(headDimension), \(queryHeads) query heads in \(keyValueGroups) KV groups and \(feedForwardLength) MLP channels is not a GQA block; sizes must be positive and query heads a multiple of KV groups")
        }
        self.embeddingLength = embeddingLength
        self.headDimension = headDimension
        self.queryHeads = queryHeads
        self.keyValueGroups = keyValueGroups
        self.feedForwardLength = feedForwardLength
    }

    /// Query heads per KV group, `Q/G`.
    public var headsPerGroup: Int { keyValueGroups > 0 ? queryHeads / keyValueGroups : 0 }

    /// Attention parameters of a layout: q and o have `g·m·hd` rows/columns of
    /// width `d`, k and v `g·hd` rows of width `d`.
    public func attentionParameters(_ shape: AttentionShape) -> Int {
        embeddingLength * headDimension * (2 * shape.queryHeads + 2 * shape.keptGroups)
    }

    /// `A_l`: the dense block's q, k, v, o parameters.
    public var attentionParameters: Int {
        attentionParameters(AttentionShape(keptGroups: keyValueGroups, headsPerGroup: headsPerGroup))
    }

    /// Parameters of one MLP channel (a gate row, an up row and a down column): `3·d`.
    public var parametersPerChannel: Int { 3 * embeddingLength }

    /// `M_l`: the dense block's gate, up, down parameters.
    public var mlpParameters: Int { parametersPerChannel * feedForwardLength }

    /// `F`, under the name ``PrunableBlockCounts`` uses.
    public var mlpChannels: Int { feedForwardLength }

    /// `A_l + M_l`: what dropping the block removes.
    public var blockParameters: Int { attentionParameters + mlpParameters }

    /// Every removal level, ascending from 0 (the dense layout) to 1 (no head
    /// left, which only dropping the block may do).
    public var attentionLevels: [AttentionLevel] {
        guard keyValueGroups > 0 else { return [AttentionLevel(removal: 0, keptParameters: 0, shapes: [])] }
        var byKept: [Int: [AttentionShape]] = [:]
        for g in 1...keyValueGroups {
            for m in 1...headsPerGroup {
                let shape = AttentionShape(keptGroups: g, headsPerGroup: m)
                byKept[attentionParameters(shape), default: []].append(shape)
            }
        }
        let total = Double(attentionParameters)
        var levels = byKept.keys.sorted(by: >).map { kept in
            AttentionLevel(removal: 1 - Double(kept) / total, keptParameters: kept,
                           shapes: byKept[kept, default: []].sorted { ($0.keptGroups, $0.headsPerGroup) > ($1.keptGroups, $1.headsPerGroup) })
        }
        levels.append(AttentionLevel(removal: 1, keptParameters: 0, shapes: []))
        return levels
    }

    /// The level nearest to `ratio` (ties go to the smaller removal, i.e. keep more).
    ///
    /// This is how a policy's continuous `attentionRatio` becomes a layout;
    /// the level 1 is returned for ratios nearer 1 than to the largest
    /// partial level, and is only valid when the block is dropped.
    public func nearestAttentionLevel(to ratio: Double) -> AttentionLevel {
        let levels = attentionLevels
        var best = levels[0]
        for level in levels.dropFirst() where abs(level.removal - ratio) < abs(best.removal - ratio) - 1e-12 {
            best = level
        }
        return best
    }

    /// MLP channels a policy's `mlpRatio` removes: `round(ratio·F)`, halves away from zero.
    public func removedChannels(for ratio: Double) -> Int {
        min(feedForwardLength, max(0, Int((ratio * Double(feedForwardLength)).rounded())))
    }
}

// MARK: - ParameterAccounting

/// Exact prunable parameter counts of a model and of any policy on it,
/// from the configuration's shapes alone (design.md: "a policy achieves a ratio,
/// computed exactly from the model's shapes").
///
/// Prunable = q, k, v, o and gate, up, down of every block; embeddings, norms,
/// the head and biases are not.
public struct ParameterAccounting: Sendable, Hashable {
    /// One entry per block.
    public let layers: [LayerAccounting]

    /// The accounting of `configuration`.
    public init(configuration: LlamaConfiguration) {
        layers = (0..<configuration.blockCount).map { LayerAccounting(configuration: configuration, layer: $0) }
    }

    /// `Σ (A_l + M_l)`: the denominator of every ratio.
    public var prunableParameters: Int { layers.reduce(0) { $0 + $1.blockParameters } }

    /// How `policy` prunes each block once its ratios are mapped to what the
    /// layout allows: the nearest attention level
    /// (``LayerAccounting/nearestAttentionLevel(to:)``) and `round(ratio·F)`
    /// channels (``LayerAccounting/removedChannels(for:)``).
    ///
    /// - Throws: see ``validate(_:)``.
    public func removals(_ policy: PruningPolicy) throws(ModelError) -> [BlockRemoval] {
        try validate(policy)
        return zip(layers, policy.layers).map { accounting, layer in
            guard !layer.dropped else { return .dropped }
            let level = accounting.nearestAttentionLevel(to: layer.attentionRatio)
            return .pruned(attentionParameters: Double(accounting.attentionParameters - level.keptParameters),
                           channels: accounting.removedChannels(for: layer.mlpRatio))
        }
    }

    /// Prunable parameters `policy` keeps, after mapping each block's ratios to
    /// what its layout allows (see ``removals(_:)``).
    ///
    /// Exact: every term of ``removedParameters(by:in:)`` is a whole number
    /// far below 2⁵³ here, so the `Double` sum is the integer count.
    ///
    /// - Throws: see ``validate(_:)``.
    public func keptParameters(_ policy: PruningPolicy) throws(ModelError) -> Int {
        prunableParameters - Int(Self.removedParameters(by: try removals(policy), in: layers))
    }

    /// The fraction of prunable parameters `policy` removes, exactly
    /// (``achievedRatio(of:in:)`` of ``removals(_:)``).
    ///
    /// - Throws: see ``validate(_:)``.
    public func achievedRatio(_ policy: PruningPolicy) throws(ModelError) -> Double {
        // A model with nothing to prune achieves 0 whatever the policy says.
        guard prunableParameters > 0 else { return 0 }
        return Self.achievedRatio(of: try removals(policy), in: layers)
    }

    /// Checks that `policy` can be planned on this model.
    ///
    /// - Throws: `policyShapeMismatch` for another block count; `invalidRatio`
    ///   for a ratio outside [0, 1] or not finite; `removesEveryHead` /
    ///   `removesEveryChannel` when a block that is not dropped would keep no
    ///   head / channel; `dropsEveryBlock` when no block is kept.
    public func validate(_ policy: PruningPolicy) throws(ModelError) {
        guard policy.layers.count == layers.count else {
            throw ModelError(.policyShapeMismatch,
                               "the policy has \(policy.layers.count) blocks but the model has \(layers.count); write one entry per block")
        }
        for (index, (accounting, layer)) in zip(layers, policy.layers).enumerated() {
            for (name, ratio) in [("attention", layer.attentionRatio), ("MLP", layer.mlpRatio)] {
                guard ratio.isFinite, (0...1).contains(ratio) else {
                    throw ModelError(.invalidRatio, "block \(index): the \(name) ratio \(ratio) is outside [0, 1]")
                }
            }
            guard !layer.dropped else { continue }
            if accounting.queryHeads > 0, accounting.nearestAttentionLevel(to: layer.attentionRatio).shapes.isEmpty {
                throw ModelError(.removesEveryHead,
                                   "block \(index): attention ratio \(layer.attentionRatio) would remove every head; drop the block instead or use a ratio ≤ \(accounting.attentionLevels.dropLast().last?.removal ?? 0)")
            }
            if accounting.feedForwardLength > 0, accounting.removedChannels(for: layer.mlpRatio) == accounting.feedForwardLength {
                throw ModelError(.removesEveryChannel,
                                   "block \(index): MLP ratio \(layer.mlpRatio) would remove all \(accounting.feedForwardLength) channels; drop the block instead")
            }
        }
        guard policy.layers.contains(where: { !$0.dropped }) else {
            throw ModelError(.dropsEveryBlock, "the policy drops all \(layers.count) blocks; keep at least one")
        }
    }
}

// MARK: - Achieved ratio

/// What every ratio computation needs to know about one block: its prunable
/// attention and MLP parameter counts and its MLP channel count.
///
/// ``LayerAccounting`` (a block's real shapes) and the agent's `LayerBudget`
/// (a block as the agent stores it) both conform, so the achieved ratio has
/// one definition, ``ParameterAccounting/achievedRatio(of:in:)``.
public protocol PrunableBlockCounts {
    /// `A_l`: prunable attention parameters (q, k, v, o).
    var attentionParameters: Int { get }
    /// `M_l`: prunable MLP parameters (gate, up, down).
    var mlpParameters: Int { get }
    /// `F`: MLP channels, each holding `M_l / F` parameters.
    var mlpChannels: Int { get }
}

/// How a policy prunes one block, after its ratios were mapped to the block's
/// layout (by ``ParameterAccounting/removals(_:)`` or by the agent's budget).
public enum BlockRemoval: Sendable, Hashable {
    /// The whole block goes: `A_l + M_l` parameters.
    case dropped
    /// The block stays, losing `attentionParameters` of its attention
    /// parameters (the chosen level's share of `A_l`) and `channels` MLP channels.
    case pruned(attentionParameters: Double, channels: Int)
}

extension ParameterAccounting {
    /// The prunable parameters `removals` take out of `blocks`, in block order:
    /// `A_l + M_l` for a dropped block, the attention removed plus
    /// `channels · M_l / F` for a pruned one.
    ///
    /// - Precondition: one removal per block.
    public static func removedParameters<Block: PrunableBlockCounts>(by removals: [BlockRemoval], in blocks: [Block]) -> Double {
        precondition(removals.count == blocks.count, "\(removals.count) removals for \(blocks.count) blocks")
        var removed = 0.0
        for (removal, block) in zip(removals, blocks) {
            switch removal {
            case .dropped:
                removed += Double(block.attentionParameters + block.mlpParameters)
            case .pruned(let attention, let channels):
                // A block without an MLP (F = 0) loses no channels; skip its 0/0 share.
                let perChannel = block.mlpChannels > 0 ? Double(block.mlpParameters) / Double(block.mlpChannels) : 0
                removed += attention + Double(channels) * perChannel
            }
        }
        return removed
    }

    /// The achieved ratio of `removals`: ``removedParameters(by:in:)`` over
    /// `Σ (A_l + M_l)`, the one definition of a ratio in PPF (0 for a model
    /// with nothing to prune).
    ///
    /// - Precondition: one removal per block.
    public static func achievedRatio<Block: PrunableBlockCounts>(of removals: [BlockRemoval], in blocks: [Block]) -> Double {
        let total = blocks.reduce(0) { $0 + $1.attentionParameters + $1.mlpParameters }
        guard total > 0 else { return 0 }
        return removedParameters(by: removals, in: blocks) / Double(total)
    }
}
