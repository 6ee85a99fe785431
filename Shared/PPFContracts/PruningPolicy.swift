/// A pruning policy: for each block, how much of it to remove.
///
/// This is the vocabulary's *policy* (design.md): per-layer ratios, no
/// concrete indices. A pruning engine turns it into a *plan* by applying an
/// importance metric; the achieved ratio of prunable parameters is computed
/// exactly from the model's shapes by that engine, not here.
public struct PruningPolicy: Codable, Sendable, Hashable {
    /// One entry per block, in block order.
    public var layers: [LayerPolicy]

    /// Creates a policy from per-block entries.
    public init(layers: [LayerPolicy]) {
        self.layers = layers
    }

    /// The same ratios in every block (the "uniform" baseline's shape).
    public static func uniform(blocks: Int, attention: Double, mlp: Double) -> PruningPolicy {
        PruningPolicy(layers: Array(repeating: LayerPolicy(attentionRatio: attention, mlpRatio: mlp),
                                    count: blocks))
    }
}

/// What one block loses under a policy.
public struct LayerPolicy: Codable, Sendable, Hashable {
    /// Fraction of the block's attention parameters to remove, in [0, 1]
    /// (removed in whole heads / KV groups; the engine rounds to what the
    /// head layout allows).
    public var attentionRatio: Double
    /// Fraction of the block's MLP intermediate channels to remove, in [0, 1].
    public var mlpRatio: Double
    /// The whole block is removed (its ratios are then irrelevant).
    public var dropped: Bool

    /// Creates a block entry.
    public init(attentionRatio: Double, mlpRatio: Double, dropped: Bool = false) {
        self.attentionRatio = attentionRatio
        self.mlpRatio = mlpRatio
        self.dropped = dropped
    }
}
