import Foundation

// MARK: - StaticSearchProgress

/// Where a static-pruning answer stands: the predictor-guided search, then
/// the true measurements that verify its best candidates. Topic:
/// ``Topic/searchProgress``, key: ``modelId``; correlation id: the ratio event's id.
///
/// Progress is ephemeral (like heartbeats): the agent sends it directly,
/// not through the outbox, and a lost message loses nothing. The answer
/// itself is a ``PolicyPublished`` (or a ``RatioEventRejected``).
public struct StaticSearchProgress: MessagePayload, Equatable {
    public static let messageType = "static-search-progress"
    public static let schemaVersion = 1

    /// The stage the search is in.
    public enum Phase: String, Codable, Sendable, CaseIterable {
        /// Predictor-guided search: `completed` of `total` generations.
        case searching
        /// Candidates sent to the evaluators: `completed` of `total` measured so far.
        case verifying
        /// One more candidate measured: `completed` of `total`.
        case measured
        /// The best measured candidate was published.
        case finished
        /// The search or its verification failed (see ``message``).
        case failed
    }

    /// The ratio-change event being answered (`ratio_events.id`).
    public var ratioEventId: UUID
    /// The model.
    public var modelId: String
    /// The ratio asked for.
    public var targetRatio: Double
    /// The stage.
    public var phase: Phase
    /// Generations (searching) or measurements (verifying, measured) done.
    public var completed: Int
    /// Generations or measurements in all.
    public var total: Int
    /// Best predicted perplexity found so far, if any.
    public var bestPredictedPerplexity: Double?
    /// Best measured perplexity so far, if any.
    public var bestMeasuredPerplexity: Double?
    /// A sentence for people (what failed, what was chosen).
    public var message: String?

    /// Creates a progress report after checking its values.
    public init(ratioEventId: UUID, modelId: String, targetRatio: Double, phase: Phase, completed: Int, total: Int,
                bestPredictedPerplexity: Double? = nil, bestMeasuredPerplexity: Double? = nil,
                message: String? = nil) throws(EnvelopeRejection) {
        self.ratioEventId = ratioEventId
        self.modelId = modelId
        self.targetRatio = targetRatio
        self.phase = phase
        self.completed = completed
        self.total = total
        self.bestPredictedPerplexity = bestPredictedPerplexity
        self.bestMeasuredPerplexity = bestMeasuredPerplexity
        self.message = message
        try validate()
    }

    /// Checks the model is named, the ratio is in range and the counts are consistent.
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard targetRatio.isFinite, targetRatio >= 0, targetRatio < 1 else {
            throw .invalidPayload("target ratio \(targetRatio) is outside [0, 1)")
        }
        guard completed >= 0, total >= 0, completed <= total else {
            throw .invalidPayload("progress \(completed)/\(total) must satisfy 0 ≤ completed ≤ total")
        }
        for (name, value) in [("best predicted perplexity", bestPredictedPerplexity),
                              ("best measured perplexity", bestMeasuredPerplexity)] {
            if let value, !(value.isFinite && value > 0) {
                throw .invalidPayload("\(name) \(value) must be finite and positive")
            }
        }
    }
}

extension StaticSearchProgress {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(ratioEventId, forKey: .ratioEventId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(targetRatio, forKey: .targetRatio)
        try container.encode(phase, forKey: .phase)
        try container.encode(completed, forKey: .completed)
        try container.encode(total, forKey: .total)
        try container.encodeIfPresent(bestPredictedPerplexity, forKey: .bestPredictedPerplexity)
        try container.encodeIfPresent(bestMeasuredPerplexity, forKey: .bestMeasuredPerplexity)
        try container.encodeIfPresent(message, forKey: .message)
    }
}
