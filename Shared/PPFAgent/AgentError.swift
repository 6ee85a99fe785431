// Re-exported: every file of this module and its importers name its error through `CodedError`.
@_exported import PPFErrors

// MARK: - AgentError

/// The one error type of PPFAgent: a ratio, budget, action or reward a caller got wrong.
public typealias AgentError = CodedError<AgentErrorDomain>

/// The domain of ``AgentError``.
public enum AgentErrorDomain: ErrorDomain {
    public static let name = "AgentError"
}

extension AgentError.Code {
    /// A target ratio outside what the budget (or the trained agent) supports.
    public static var ratioOutOfRange: Self { Self("ratioOutOfRange") }

    /// A parameter budget whose shapes or levels are inconsistent.
    public static var invalidBudget: Self { Self("invalidBudget") }

    /// An action vector whose length does not match the budget.
    public static var actionShapeMismatch: Self { Self("actionShapeMismatch") }

    /// A policy whose block count does not match the budget.
    public static var policyShapeMismatch: Self { Self("policyShapeMismatch") }

    /// A policy ratio the model's head / channel layout cannot realise.
    public static var policyNotRepresentable: Self { Self("policyNotRepresentable") }

    /// A training, search or projection setting outside its valid range.
    public static var invalidConfiguration: Self { Self("invalidConfiguration") }

    /// The reward closure returned the wrong number of predictions.
    public static var rewardShapeMismatch: Self { Self("rewardShapeMismatch") }

    /// The reward closure returned NaN or infinity.
    public static var nonFiniteReward: Self { Self("nonFiniteReward") }

    /// The projection missed its tolerance; an internal invariant broke.
    public static var projectionFailed: Self { Self("projectionFailed") }

    /// A stored agent artifact that cannot be used (schema, shapes).
    public static var invalidArtifact: Self { Self("invalidArtifact") }

    /// A predictor the agent cannot use as its reward (features it cannot build, another block count).
    public static var unsupportedPredictor: Self { Self("unsupportedPredictor") }
}
