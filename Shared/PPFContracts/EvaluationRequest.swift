import Foundation

/// Why a policy is being measured; recorded with the request for the audit trail.
public enum EvaluationReason: String, Codable, Sendable, CaseIterable {
    /// Phase 1: a sampled policy for the predictor's training set.
    case bootstrap
    /// Run time: a served policy re-measured to keep the predictor honest.
    case spotCheck = "spot-check"
    /// Static pruning: the searched policy verified with a true measurement.
    case staticVerify = "static-verify"
}

/// A request to measure the true perplexity of one policy on one model.
/// Topic: ``Topic/evaluationRequests``, key: ``policyId`` (spreads requests
/// over the topic's partitions, hence over evaluators).
///
/// The request row (`evaluation_requests`) is written with its outbox entry
/// in one transaction by whoever asks; the evaluator answers with exactly one
/// ``PerplexityMeasurement`` per ``requestId``.
public struct EvaluationRequest: MessagePayload, Equatable {
    public static let messageType = "evaluation-request"
    public static let schemaVersion = 1

    /// Id of this request; the measurement answering it carries the same id.
    public var requestId: UUID
    /// Which model to prune and measure, e.g. `"smollm2-135m"`.
    public var modelId: String
    /// The stored policy's id (`policies.id`).
    public var policyId: UUID
    /// The policy itself, so an evaluator needs no database read to start.
    public var policy: PruningPolicy
    /// The importance metric that turns the policy into a plan, e.g. `"wanda-sp"`.
    public var metric: String
    /// The corpus split to measure on, e.g. `"validation"`.
    public var split: String
    /// How many tokens of the split to score (> 0).
    public var tokenBudget: Int
    /// The context window of each scored chunk, in tokens (> 0).
    public var window: Int
    /// Why it is measured.
    public var reason: EvaluationReason

    /// Creates a request after checking its values.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)``; see ``validate()``.
    public init(requestId: UUID, modelId: String, policyId: UUID, policy: PruningPolicy, metric: String,
                split: String, tokenBudget: Int, window: Int, reason: EvaluationReason) throws(EnvelopeRejection) {
        self.requestId = requestId
        self.modelId = modelId
        self.policyId = policyId
        self.policy = policy
        self.metric = metric
        self.split = split
        self.tokenBudget = tokenBudget
        self.window = window
        self.reason = reason
        try validate()
    }

    /// The largest token budget (and so window) a request may ask for: far
    /// above any split PPF reads, and within the store's 32-bit columns.
    public static let maximumTokenBudget = 1 << 30

    /// Checks the values a decoder cannot: names present, budgets positive,
    /// the window not longer than the budget, the policy's ratios in range.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard !metric.isEmpty else { throw .invalidPayload("importance metric name is empty") }
        guard !split.isEmpty else { throw .invalidPayload("split name is empty") }
        guard tokenBudget > 0 else { throw .invalidPayload("token budget \(tokenBudget) must be positive") }
        // The store keeps budgets and windows in `integer` columns: a larger value
        // would fail the insert after a full measurement, on every redelivery.
        guard tokenBudget <= Self.maximumTokenBudget else {
            throw .invalidPayload("token budget \(tokenBudget) exceeds the limit of \(Self.maximumTokenBudget)")
        }
        guard window > 0 else { throw .invalidPayload("window \(window) must be positive") }
        guard window <= tokenBudget else {
            throw .invalidPayload("window \(window) is longer than the token budget \(tokenBudget)")
        }
        try policy.validate()
    }
}

extension EvaluationRequest {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(requestId, forKey: .requestId)
        try container.encode(modelId, forKey: .modelId)
        try container.encodeCanonical(policyId, forKey: .policyId)
        try container.encode(policy, forKey: .policy)
        try container.encode(metric, forKey: .metric)
        try container.encode(split, forKey: .split)
        try container.encode(tokenBudget, forKey: .tokenBudget)
        try container.encode(window, forKey: .window)
        try container.encode(reason, forKey: .reason)
    }
}
