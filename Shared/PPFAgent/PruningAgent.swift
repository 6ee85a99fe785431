import PPFContracts

// MARK: - PruningAgent

/// A policy network bound to a parameter budget: answers any target ratio in
/// its training range with a budget-exact policy, in one forward pass.
///
/// This is *dynamic pruning* (design.md): no search at run time. The
/// deterministic policy is the projection of the Gaussian's mean action.
public struct PruningAgent: Sendable {
    /// The trained network.
    public let network: AgentNetwork
    /// The projection onto the model's budget.
    public let projection: BudgetProjection
    /// The settings the agent was (or will be) trained with.
    public let configuration: TrainingConfiguration

    /// Binds a network to a budget.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` when the settings are
    ///   invalid, ``AgentError/Code/actionShapeMismatch`` when the network's
    ///   output does not match the budget's action length.
    public init(network: AgentNetwork, budget: ParameterBudget, configuration: TrainingConfiguration) throws(AgentError) {
        try configuration.validate(for: budget)
        guard network.actionCount == budget.actionCount else {
            throw AgentError(.actionShapeMismatch,
                             "the network emits \(network.actionCount) actions but the budget needs \(budget.actionCount)")
        }
        self.network = network
        self.projection = try BudgetProjection(budget: budget, tolerance: configuration.tolerance)
        self.configuration = configuration
    }

    /// A freshly initialised agent: its policy is near-uniform at every ratio.
    public static func untrained(budget: ParameterBudget, configuration: TrainingConfiguration) throws(AgentError) -> PruningAgent {
        try configuration.validate(for: budget)
        let blocks = budget.blockCount
        let bias = budget.allowsBlockDrop
            ? [Double](repeating: 0, count: 2 * blocks) + [Double](repeating: configuration.initialDropLogit, count: blocks)
            : []
        let network = try AgentNetwork(hiddenWidths: configuration.hiddenWidths, actionCount: budget.actionCount,
                                       ratioRange: configuration.ratioRange, initialLogStd: configuration.initialLogStd,
                                       outputBias: bias, seed: configuration.seed)
        return try PruningAgent(network: network, budget: budget, configuration: configuration)
    }

    /// The model budget.
    public var budget: ParameterBudget { projection.budget }

    /// The ratios this agent answers: its training range.
    public var ratioRange: ClosedRange<Double> { configuration.ratioRange }

    // MARK: - Inference

    /// The Gaussian's mean action for `ratio` (before projection).
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` outside ``ratioRange``.
    public func meanAction(forRatio ratio: Double) throws(AgentError) -> [Double] {
        guard ratio.isFinite, ratioRange.contains(ratio) else {
            throw AgentError(.ratioOutOfRange,
                             "target ratio \(ratio) is outside the agent's trained range \(ratioRange.lowerBound)...\(ratioRange.upperBound)")
        }
        return network.meanAction(ratio: ratio)
    }

    /// The deterministic policy for `ratio`: the projected mean action.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` outside ``ratioRange``.
    public func policy(forRatio ratio: Double) throws(AgentError) -> PruningPolicy {
        try projection.project(action: meanAction(forRatio: ratio), targetRatio: ratio)
    }
}
