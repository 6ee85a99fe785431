import Foundation

// MARK: - PredictorVersionPublished

/// A new predictor version is stored and ready. Topic:
/// ``Topic/predictorVersions``, key: ``modelId``. The agent retrains on it.
public struct PredictorVersionPublished: MessagePayload, Equatable {
    public static let messageType = "predictor-version"
    public static let schemaVersion = 1

    /// The model the predictor scores policies of.
    public var modelId: String
    /// The version's id (`predictor_versions.id`).
    public var versionId: UUID
    /// Measured policies it was trained on (training fold plus held-out fold).
    public var sampleCount: Int
    /// Accuracy on the held-out fold; `nil` when too few samples to hold any out.
    public var heldOut: HeldOutSummary?
    /// Wall-clock seconds the training took.
    public var trainingSeconds: Double

    /// Creates the event.
    public init(modelId: String, versionId: UUID, sampleCount: Int, heldOut: HeldOutSummary?, trainingSeconds: Double) {
        self.modelId = modelId
        self.versionId = versionId
        self.sampleCount = sampleCount
        self.heldOut = heldOut
        self.trainingSeconds = trainingSeconds
    }

    /// Checks what decoding cannot: a named model, at least one sample, a
    /// finite training time, and held-out metrics that are counts and finite numbers.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` naming the bad value.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard sampleCount > 0 else { throw .invalidPayload("sample count \(sampleCount) must be positive") }
        guard trainingSeconds.isFinite, trainingSeconds >= 0 else {
            throw .invalidPayload("training seconds \(trainingSeconds) must be finite and ≥ 0")
        }
        if let heldOut {
            guard heldOut.count > 0, heldOut.count <= sampleCount else {
                throw .invalidPayload("held-out count \(heldOut.count) must lie in 1...\(sampleCount)")
            }
            let metrics = [heldOut.kendallTau, heldOut.spearman, heldOut.mae, heldOut.mape, heldOut.rmseLog]
            guard metrics.allSatisfy(\.isFinite) else { throw .invalidPayload("held-out metrics must be finite") }
        }
    }
}

/// A predictor's accuracy on policies it never saw, in a form every service
/// can read without the predictor module.
public struct HeldOutSummary: Codable, Sendable, Equatable {
    /// Held-out policies.
    public var count: Int
    /// Kendall's τ-b between predicted and measured log-perplexity.
    public var kendallTau: Double
    /// Spearman's ρ.
    public var spearman: Double
    /// Mean absolute error of perplexity.
    public var mae: Double
    /// Mean absolute percentage error of perplexity, as a fraction (0.02 = 2 %).
    public var mape: Double
    /// Root mean squared error of natural-log perplexity.
    public var rmseLog: Double

    /// Creates a summary.
    public init(count: Int, kendallTau: Double, spearman: Double, mae: Double, mape: Double, rmseLog: Double) {
        self.count = count
        self.kendallTau = kendallTau
        self.spearman = spearman
        self.mae = mae
        self.mape = mape
        self.rmseLog = rmseLog
    }
}

// MARK: - PredictorCommand

/// An order to the predictor service, from `ppf` or a script.
/// Topic: ``Topic/predictorCommands``, key: ``modelId``.
public struct PredictorCommand: MessagePayload, Equatable {
    public static let messageType = "predictor-command"
    public static let schemaVersion = 1

    /// What to do.
    public enum Action: String, Codable, Sendable, CaseIterable {
        /// Train a new version now on every stored measurement of the model.
        case train
    }

    /// The model concerned.
    public var modelId: String
    /// What to do.
    public var action: Action
    /// Who asked, for the audit trail.
    public var requestedBy: String

    /// Creates a command.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` for an empty model id.
    public init(modelId: String, action: Action, requestedBy: String) throws(EnvelopeRejection) {
        self.modelId = modelId
        self.action = action
        self.requestedBy = requestedBy
        try validate()
    }

    /// Checks the model id is named.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
    }
}

// MARK: - Prediction request and reply

/// Asks the predictor to score policies with the newest version for a model.
/// Topic: ``Topic/predictionRequests``, key: ``requestId``; answered by one
/// ``PredictionReply`` with the same request id and correlation id.
public struct PredictionRequest: MessagePayload, Equatable {
    public static let messageType = "prediction-request"
    public static let schemaVersion = 1
    /// Most policies one request may carry (bounds a reply's size and latency).
    public static let maximumPolicies = 4096

    /// Id the reply carries.
    public var requestId: UUID
    /// The model whose newest predictor version should answer.
    public var modelId: String
    /// The policies to score.
    public var policies: [PruningPolicy]

    /// Creates a request after checking its values.
    public init(requestId: UUID, modelId: String, policies: [PruningPolicy]) throws(EnvelopeRejection) {
        self.requestId = requestId
        self.modelId = modelId
        self.policies = policies
        try validate()
    }

    /// Checks the model is named, there are 1…``maximumPolicies`` policies, and each is valid.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard !policies.isEmpty, policies.count <= Self.maximumPolicies else {
            throw .invalidPayload("a prediction request carries 1...\(Self.maximumPolicies) policies, got \(policies.count)")
        }
        for (index, policy) in policies.enumerated() {
            do { try policy.validate() } catch {
                throw .invalidPayload("policy \(index): \(error.description)")
            }
        }
    }
}

/// The answer to a ``PredictionRequest``. Topic: ``Topic/predictionReplies``,
/// key: ``requestId``.
///
/// A request the predictor understood but cannot answer (no version yet for
/// the model, a policy with the wrong number of blocks) gets a reply with
/// ``error`` set and no predictions, so the asker fails fast instead of
/// timing out. Malformed requests (bad JSON, unknown schema version, ratios
/// out of range) are dead-lettered instead: there is no trustworthy request
/// id to answer.
public struct PredictionReply: MessagePayload, Equatable {
    public static let messageType = "prediction-reply"
    public static let schemaVersion = 1

    /// The request answered.
    public var requestId: UUID
    /// The model.
    public var modelId: String
    /// The predictor version that answered; `nil` with an error.
    public var predictorVersion: UUID?
    /// One prediction per requested policy, in order; empty with an error.
    public var predictions: [PolicyPrediction]
    /// Why the request could not be answered, for a person.
    public var error: String?

    /// A successful reply.
    public init(requestId: UUID, modelId: String, predictorVersion: UUID, predictions: [PolicyPrediction]) {
        self.requestId = requestId
        self.modelId = modelId
        self.predictorVersion = predictorVersion
        self.predictions = predictions
        self.error = nil
    }

    /// A reply saying why the request cannot be answered.
    public init(requestId: UUID, modelId: String, error: String) {
        self.requestId = requestId
        self.modelId = modelId
        self.predictorVersion = nil
        self.predictions = []
        self.error = error
    }
}

/// The predicted performance of one policy.
public struct PolicyPrediction: Codable, Sendable, Equatable {
    /// Ensemble mean of the predicted natural-log perplexity.
    public var logPerplexity: Double
    /// Ensemble standard deviation of it: the predictor's uncertainty.
    public var logPerplexityStd: Double
    /// `exp(logPerplexity)`.
    public var perplexity: Double

    /// Creates a prediction.
    public init(logPerplexity: Double, logPerplexityStd: Double, perplexity: Double) {
        self.logPerplexity = logPerplexity
        self.logPerplexityStd = logPerplexityStd
        self.perplexity = perplexity
    }
}

// MARK: - Lowercase ids

extension PredictorVersionPublished {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(modelId, forKey: .modelId)
        try container.encodeCanonical(versionId, forKey: .versionId)
        try container.encode(sampleCount, forKey: .sampleCount)
        try container.encodeIfPresent(heldOut, forKey: .heldOut)
        try container.encode(trainingSeconds, forKey: .trainingSeconds)
    }
}

extension PredictionRequest {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(requestId, forKey: .requestId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(policies, forKey: .policies)
    }
}

extension PredictionReply {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(requestId, forKey: .requestId)
        try container.encode(modelId, forKey: .modelId)
        try container.encodeCanonicalIfPresent(predictorVersion, forKey: .predictorVersion)
        try container.encode(predictions, forKey: .predictions)
        try container.encodeIfPresent(error, forKey: .error)
    }
}
