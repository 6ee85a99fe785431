// MARK: - AgentError

/// The one error type of PPFAgent: a ratio, budget, action or reward a caller got wrong.
///
/// `Code` is growable (static lets), so new failure kinds do not break
/// `switch`es in the services. The source location is captured by default
/// arguments so a message can be traced back to the call that raised it.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as a stable, comparable value.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, e.g. `ratioOutOfRange`.
        public let name: String
        /// Creates a code; other modules may add codes in extensions.
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A target ratio outside what the budget (or the trained agent) supports.
        public static let ratioOutOfRange = Code("ratioOutOfRange")
        /// A parameter budget whose shapes or levels are inconsistent.
        public static let invalidBudget = Code("invalidBudget")
        /// An action vector whose length does not match the budget.
        public static let actionShapeMismatch = Code("actionShapeMismatch")
        /// A policy whose block count does not match the budget.
        public static let policyShapeMismatch = Code("policyShapeMismatch")
        /// A policy ratio the model's head / channel layout cannot realise.
        public static let policyNotRepresentable = Code("policyNotRepresentable")
        /// A training, search or projection setting outside its valid range.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// The reward closure returned the wrong number of predictions.
        public static let rewardShapeMismatch = Code("rewardShapeMismatch")
        /// The reward closure returned NaN or infinity.
        public static let nonFiniteReward = Code("nonFiniteReward")
        /// The projection missed its tolerance; an internal invariant broke.
        public static let projectionFailed = Code("projectionFailed")
        /// A stored agent artifact that cannot be used (schema, shapes).
        public static let invalidArtifact = Code("invalidArtifact")
        /// A predictor the agent cannot use as its reward (features it cannot build, another block count).
        public static let unsupportedPredictor = Code("unsupportedPredictor")
    }

    /// The kind of failure.
    public let code: Code
    /// What happened and what to do about it, for a person.
    public let message: String
    /// The file that raised the error.
    public let file: String
    /// The line that raised the error.
    public let line: Int

    /// Creates an error, capturing the caller's location.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// Every code here is an input or programming error, so retrying cannot
    /// help. (Errors thrown by the caller's reward closure pass through
    /// unchanged and keep their own retry semantics.)
    public var isRetriable: Bool { false }

    public var description: String { "AgentError.\(code): \(message) [\(file):\(line)]" }
}
