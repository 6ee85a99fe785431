import Foundation

// MARK: - AgentTrainingSummary

/// How an agent version was trained and how training ended, in a form every
/// service can read without the agent module: published with the version and
/// stored with its row (`agent_versions.summary`).
public struct AgentTrainingSummary: Codable, Sendable, Equatable {
    /// Smallest target ratio the agent answers.
    public var minimumRatio: Double
    /// Largest target ratio the agent answers.
    public var maximumRatio: Double
    /// Whether its policies may drop whole blocks.
    public var allowsBlockDrop: Bool
    /// The training seed (initialisation, ratio sampling, exploration noise).
    public var seed: UInt64
    /// `κ` in the reward `−predicted log-ppl − κ·ensemble std`.
    public var uncertaintyPenalty: Double
    /// Gradient steps.
    public var iterations: Int
    /// Predictor calls (one batch each).
    public var rewardCalls: Int
    /// Policies the predictor scored over all calls.
    public var policiesScored: Int
    /// Wall-clock seconds of training.
    public var trainingSeconds: Double
    /// Mean reward of the last step's sampled policies.
    public var finalMeanReward: Double
    /// Mean predicted log-perplexity of the last step's sampled policies.
    public var finalMeanPredictedLogPerplexity: Double
    /// Mean ensemble std of the last step's sampled policies.
    public var finalMeanUncertainty: Double

    /// Creates a summary.
    public init(minimumRatio: Double, maximumRatio: Double, allowsBlockDrop: Bool, seed: UInt64,
                uncertaintyPenalty: Double, iterations: Int, rewardCalls: Int, policiesScored: Int,
                trainingSeconds: Double, finalMeanReward: Double, finalMeanPredictedLogPerplexity: Double,
                finalMeanUncertainty: Double) {
        self.minimumRatio = minimumRatio
        self.maximumRatio = maximumRatio
        self.allowsBlockDrop = allowsBlockDrop
        self.seed = seed
        self.uncertaintyPenalty = uncertaintyPenalty
        self.iterations = iterations
        self.rewardCalls = rewardCalls
        self.policiesScored = policiesScored
        self.trainingSeconds = trainingSeconds
        self.finalMeanReward = finalMeanReward
        self.finalMeanPredictedLogPerplexity = finalMeanPredictedLogPerplexity
        self.finalMeanUncertainty = finalMeanUncertainty
    }

    /// Checks the ratio range and that the numbers are finite and non-negative where they must be.
    public func validate() throws(EnvelopeRejection) {
        guard minimumRatio.isFinite, maximumRatio.isFinite, minimumRatio >= 0, minimumRatio < maximumRatio,
              maximumRatio < 1 else {
            throw .invalidPayload("ratio range \(minimumRatio)...\(maximumRatio) must be a non-empty range inside [0, 1)")
        }
        guard iterations > 0, rewardCalls >= 0, policiesScored >= 0 else {
            throw .invalidPayload("iterations \(iterations), reward calls and policies scored must be positive / non-negative")
        }
        guard uncertaintyPenalty.isFinite, uncertaintyPenalty >= 0, trainingSeconds.isFinite, trainingSeconds >= 0 else {
            throw .invalidPayload("uncertainty penalty and training seconds must be finite and ≥ 0")
        }
        guard finalMeanReward.isFinite, finalMeanPredictedLogPerplexity.isFinite, finalMeanUncertainty.isFinite else {
            throw .invalidPayload("the final training statistics must be finite")
        }
    }
}

// MARK: - AgentVersionPublished

/// A new agent version is stored and serving. Topic: ``Topic/agentVersions``,
/// key: ``modelId``. The envelope's correlation id is what caused the
/// training (the predictor version event, or a `ppf agent train` run).
public struct AgentVersionPublished: MessagePayload, Equatable {
    public static let messageType = "agent-version"
    public static let schemaVersion = 1

    /// The model whose policies the agent proposes.
    public var modelId: String
    /// The version's id (`agent_versions.id`).
    public var versionId: UUID
    /// The predictor version it was trained against (`predictor_versions.id`).
    public var predictorVersionId: UUID
    /// How it was trained.
    public var summary: AgentTrainingSummary

    /// Creates the event after checking its values.
    public init(modelId: String, versionId: UUID, predictorVersionId: UUID,
                summary: AgentTrainingSummary) throws(EnvelopeRejection) {
        self.modelId = modelId
        self.versionId = versionId
        self.predictorVersionId = predictorVersionId
        self.summary = summary
        try validate()
    }

    /// Checks the model is named and the summary is sane.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        try summary.validate()
    }
}

extension AgentVersionPublished {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(modelId, forKey: .modelId)
        try container.encodeCanonical(versionId, forKey: .versionId)
        try container.encodeCanonical(predictorVersionId, forKey: .predictorVersionId)
        try container.encode(summary, forKey: .summary)
    }
}
