import PPFModel

// MARK: - Budgets of real checkpoints

extension ParameterBudget {
    /// The budget of a LLaMA checkpoint, block by block from its configuration
    /// (blocks may differ, e.g. a model that was pruned before).
    ///
    /// This is the same accounting the pruning engine plans with
    /// (`LayerAccounting`: keep `g` KV groups and `m` query heads per group;
    /// `3·d` parameters per MLP channel), so a policy the agent calls budget-exact
    /// achieves the same ratio when it is planned.
    ///
    /// - Parameters:
    ///   - minimumKeptMLPFraction: share of MLP channels every surviving block keeps (default 0.1,
    ///     the pruning engine's `maximumMLPRatio` 0.9).
    ///   - allowsBlockDrop: whether policies may drop whole blocks.
    /// - Throws: ``AgentError/Code/invalidBudget`` for a block without attention or MLP (it cannot
    ///   be pruned further by this budget), or shapes the projection cannot serve.
    public init(configuration: LlamaConfiguration, minimumKeptMLPFraction: Double = 0.1,
                allowsBlockDrop: Bool) throws(AgentError) {
        try self.init(accounting: ParameterAccounting(configuration: configuration),
                      minimumKeptMLPFraction: minimumKeptMLPFraction, allowsBlockDrop: allowsBlockDrop)
    }

    /// The budget of a model from PPFModel's accounting of its shapes, one
    /// ``LayerBudget/init(accounting:minimumKeptMLPFraction:)`` per block, so
    /// the agent's counts and levels are the pruning engine's.
    ///
    /// - Throws: ``AgentError/Code/invalidBudget`` naming the first block
    ///   without attention or MLP, or shapes the projection cannot serve.
    public init(accounting: ParameterAccounting, minimumKeptMLPFraction: Double = 0.1,
                allowsBlockDrop: Bool) throws(AgentError) {
        var layers: [LayerBudget] = []
        for (index, block) in accounting.layers.enumerated() {
            guard block.queryHeads > 0, block.feedForwardLength > 0 else {
                throw AgentError(.invalidBudget,
                                 "block \(index) has \(block.queryHeads) query heads and \(block.feedForwardLength) MLP channels; the agent needs both in every block")
            }
            do {
                layers.append(try LayerBudget(accounting: block, minimumKeptMLPFraction: minimumKeptMLPFraction))
            } catch {
                throw AgentError(.invalidBudget, "block \(index): \(error.message)")
            }
        }
        try self.init(layers: layers, allowsBlockDrop: allowsBlockDrop)
    }
}
