import Foundation

/// The true perplexity of one policy's plan: the ground truth that trains the
/// predictor. Topic: ``Topic/measurements``, key: ``policyId``.
///
/// Ownership: the evaluator inserts the `measurements` row and this message's
/// outbox entry in one transaction, so the row always exists before the
/// message is published. Consumers (the predictor) read rows from PostgreSQL
/// and treat the message as a notification.
public struct PerplexityMeasurement: MessagePayload, Equatable {
    public static let messageType = "measurement"
    public static let schemaVersion = 1

    /// The ``EvaluationRequest/requestId`` this answers (one measurement per request).
    public var requestId: UUID
    /// The measured policy (`policies.id`).
    public var policyId: UUID
    /// The model that was pruned.
    public var modelId: String
    /// The corpus split measured on.
    public var split: String
    /// Tokens of the split the request asked to score.
    public var tokenBudget: Int
    /// Context window of each scored chunk.
    public var window: Int
    /// Mean negative log-likelihood per scored token (nats).
    public var nll: Double
    /// `exp(nll)`.
    public var perplexity: Double
    /// Tokens actually scored (> 0; can be below the budget for a short split).
    public var tokensCounted: Int
    /// Wall-clock seconds the measurement took (plan, apply, forward passes).
    public var seconds: Double
    /// The evaluator instance that measured, e.g. `"host-1234"`.
    public var evaluatorId: String
    /// The build of the model engine, so results from different engines can be told apart.
    public var engineVersion: String
    /// The fraction of prunable parameters the plan actually removed, in [0, 1).
    public var achievedRatio: Double

    /// Creates a measurement after checking its values.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)``; see ``validate()``.
    public init(requestId: UUID, policyId: UUID, modelId: String, split: String, tokenBudget: Int, window: Int,
                nll: Double, perplexity: Double, tokensCounted: Int, seconds: Double, evaluatorId: String,
                engineVersion: String, achievedRatio: Double) throws(EnvelopeRejection) {
        self.requestId = requestId
        self.policyId = policyId
        self.modelId = modelId
        self.split = split
        self.tokenBudget = tokenBudget
        self.window = window
        self.nll = nll
        self.perplexity = perplexity
        self.tokensCounted = tokensCounted
        self.seconds = seconds
        self.evaluatorId = evaluatorId
        self.engineVersion = engineVersion
        self.achievedRatio = achievedRatio
        try validate()
    }

    /// Checks the values a decoder cannot: names present, counts positive,
    /// a finite NLL, a perplexity above 0 and the ratio in [0, 1).
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard !split.isEmpty else { throw .invalidPayload("split name is empty") }
        guard tokenBudget > 0, window > 0 else {
            throw .invalidPayload("token budget \(tokenBudget) and window \(window) must be positive")
        }
        guard tokenBudget <= EvaluationRequest.maximumTokenBudget, window <= EvaluationRequest.maximumTokenBudget,
              tokensCounted <= EvaluationRequest.maximumTokenBudget else {
            throw .invalidPayload("token budget \(tokenBudget), window \(window) and tokens counted \(tokensCounted) must not exceed \(EvaluationRequest.maximumTokenBudget)")
        }
        guard tokensCounted > 0 else { throw .invalidPayload("tokens counted \(tokensCounted) must be positive") }
        guard nll.isFinite else { throw .invalidPayload("NLL \(nll) is not finite") }
        guard perplexity.isFinite, perplexity > 0 else {
            throw .invalidPayload("perplexity \(perplexity) must be a positive finite number")
        }
        guard seconds.isFinite, seconds >= 0 else { throw .invalidPayload("seconds \(seconds) must be ≥ 0") }
        guard achievedRatio.isFinite, achievedRatio >= 0, achievedRatio < 1 else {
            throw .invalidPayload("achieved ratio \(achievedRatio) is outside [0, 1)")
        }
        guard !evaluatorId.isEmpty, !engineVersion.isEmpty else {
            throw .invalidPayload("evaluator id and engine version must be named")
        }
    }
}

extension PerplexityMeasurement {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(requestId, forKey: .requestId)
        try container.encodeCanonical(policyId, forKey: .policyId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(split, forKey: .split)
        try container.encode(tokenBudget, forKey: .tokenBudget)
        try container.encode(window, forKey: .window)
        try container.encode(nll, forKey: .nll)
        try container.encode(perplexity, forKey: .perplexity)
        try container.encode(tokensCounted, forKey: .tokensCounted)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(evaluatorId, forKey: .evaluatorId)
        try container.encode(engineVersion, forKey: .engineVersion)
        try container.encode(achievedRatio, forKey: .achievedRatio)
    }
}
