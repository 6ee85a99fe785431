import Foundation

// MARK: - PolicyPublished

/// The answer to a ratio-change event: a policy for the model, with where it
/// came from and what it is expected to cost. Topic: ``Topic/prunedPolicies``,
/// key: ``modelId`` (so one deployment's policies stay in order). The
/// envelope's correlation id is the ratio event's id.
///
/// The pruner turns it into a plan with ``metric``; model-host swaps to the
/// pruned model; anyone may subscribe.
public struct PolicyPublished: MessagePayload, Equatable {
    public static let messageType = "policy"
    public static let schemaVersion = 1

    /// Who proposed the policy.
    public enum Source: String, Codable, Sendable, CaseIterable {
        /// The agent's one-shot answer (dynamic mode).
        case agent
        /// The predictor-guided search, verified by true measurements (static mode).
        case staticSearch = "static-search"
        /// A hand-made baseline (for comparison runs and fall-backs).
        case baseline
    }

    /// The ratio-change event answered (`ratio_events.id`).
    public var ratioEventId: UUID
    /// The model (deployment) the policy prunes.
    public var modelId: String
    /// Dynamic or static, as the event asked.
    public var mode: PruningMode
    /// The ratio the event asked for.
    public var targetRatio: Double
    /// The ratio the policy achieves, computed exactly from the model's shapes.
    public var achievedRatio: Double
    /// The stored policy's id (`policies.id`).
    public var policyId: UUID
    /// Per-layer ratios.
    public var policy: PruningPolicy
    /// The importance metric the plan must use (the one the predictor was trained with).
    public var metric: String
    /// Who proposed it.
    public var source: Source
    /// The agent version that produced it, if any.
    public var agentVersionId: UUID?
    /// The predictor version that scored it, if any.
    public var predictorVersionId: UUID?
    /// Predicted perplexity, if a predictor scored it.
    public var predictedPerplexity: Double?
    /// The predictor ensemble's standard deviation of log-perplexity (its uncertainty).
    public var predictedLogPerplexityStd: Double?
    /// Measured perplexity on the validation split, when static mode verified it.
    public var measuredPerplexity: Double?

    /// Creates the event after checking its values.
    public init(ratioEventId: UUID, modelId: String, mode: PruningMode, targetRatio: Double, achievedRatio: Double,
                policyId: UUID, policy: PruningPolicy, metric: String, source: Source,
                agentVersionId: UUID? = nil, predictorVersionId: UUID? = nil,
                predictedPerplexity: Double? = nil, predictedLogPerplexityStd: Double? = nil,
                measuredPerplexity: Double? = nil) throws(EnvelopeRejection) {
        self.ratioEventId = ratioEventId
        self.modelId = modelId
        self.mode = mode
        self.targetRatio = targetRatio
        self.achievedRatio = achievedRatio
        self.policyId = policyId
        self.policy = policy
        self.metric = metric
        self.source = source
        self.agentVersionId = agentVersionId
        self.predictorVersionId = predictorVersionId
        self.predictedPerplexity = predictedPerplexity
        self.predictedLogPerplexityStd = predictedLogPerplexityStd
        self.measuredPerplexity = measuredPerplexity
        try validate()
    }

    /// Checks ratios, names, the policy and that perplexities are positive.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard !metric.isEmpty else { throw .invalidPayload("importance metric name is empty") }
        for (name, ratio) in [("target", targetRatio), ("achieved", achievedRatio)] {
            guard ratio.isFinite, ratio >= 0, ratio < 1 else {
                throw .invalidPayload("\(name) ratio \(ratio) is outside [0, 1)")
            }
        }
        for (name, value) in [("predicted perplexity", predictedPerplexity),
                              ("measured perplexity", measuredPerplexity)] {
            if let value, !(value.isFinite && value >= 1) {
                throw .invalidPayload("\(name) \(value) must be finite and ≥ 1")
            }
        }
        if let std = predictedLogPerplexityStd, !(std.isFinite && std >= 0) {
            throw .invalidPayload("predicted log-perplexity std \(std) must be finite and ≥ 0")
        }
        try policy.validate()
    }
}

extension PolicyPublished {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(ratioEventId, forKey: .ratioEventId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(mode, forKey: .mode)
        try container.encode(targetRatio, forKey: .targetRatio)
        try container.encode(achievedRatio, forKey: .achievedRatio)
        try container.encodeCanonical(policyId, forKey: .policyId)
        try container.encode(policy, forKey: .policy)
        try container.encode(metric, forKey: .metric)
        try container.encode(source, forKey: .source)
        try container.encodeCanonicalIfPresent(agentVersionId, forKey: .agentVersionId)
        try container.encodeCanonicalIfPresent(predictorVersionId, forKey: .predictorVersionId)
        try container.encodeIfPresent(predictedPerplexity, forKey: .predictedPerplexity)
        try container.encodeIfPresent(predictedLogPerplexityStd, forKey: .predictedLogPerplexityStd)
        try container.encodeIfPresent(measuredPerplexity, forKey: .measuredPerplexity)
    }
}

// MARK: - RatioEventRejected

/// A ratio-change event the agent cannot answer, with the reason, so whoever
/// asked learns it at once (the raw message is also dead-lettered). Topic:
/// ``Topic/ratioRejections``, key: ``modelId``; correlation id: the event's id.
public struct RatioEventRejected: MessagePayload, Equatable {
    public static let messageType = "ratio-event-rejected"
    public static let schemaVersion = 1

    /// Why an event was not answered.
    public enum Reason: String, Codable, Sendable, CaseIterable {
        /// The ratio is outside the range the agent was trained for.
        case ratioOutOfRange = "ratio-out-of-range"
        /// No deployment of that model is known.
        case unknownModel = "unknown-model"
        /// The model has no predictor version yet, so no agent can be trained.
        case noPredictor = "no-predictor"
        /// The event could not be decoded or validated.
        case invalidEvent = "invalid-event"
        /// The search or the verifying measurements failed.
        case searchFailed = "search-failed"
    }

    /// The event's id (`ratio_events.id`), when it could be read.
    public var ratioEventId: UUID?
    /// The model named, when it could be read.
    public var modelId: String
    /// The ratio asked for, when it could be read.
    public var targetRatio: Double?
    /// The category.
    public var reason: Reason
    /// A sentence a person can act on.
    public var message: String

    /// Creates the event.
    public init(ratioEventId: UUID?, modelId: String, targetRatio: Double?, reason: Reason, message: String) {
        self.ratioEventId = ratioEventId
        self.modelId = modelId
        self.targetRatio = targetRatio
        self.reason = reason
        self.message = message
    }
}

extension RatioEventRejected {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonicalIfPresent(ratioEventId, forKey: .ratioEventId)
        try container.encode(modelId, forKey: .modelId)
        try container.encodeIfPresent(targetRatio, forKey: .targetRatio)
        try container.encode(reason, forKey: .reason)
        try container.encode(message, forKey: .message)
    }
}
