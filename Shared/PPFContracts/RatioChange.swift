import Foundation

/// How the agent should answer a ratio change (design.md vocabulary).
public enum PruningMode: String, Codable, Sendable, CaseIterable {
    /// The trained agent answers at once with a one-shot policy, no search.
    case dynamic
    /// Search hard with many predictor calls, then verify with true measurements.
    case `static`
}

/// A request to prune a model to a new target ratio: the event that starts
/// every run-time flow. Its message id becomes the correlation id of every
/// message it causes. Topic: ``Topic/ratioEvents``, key: ``modelId``.
public struct RatioChange: MessagePayload, Equatable {
    public static let messageType = "ratio-change"
    public static let schemaVersion = 1

    /// Which model (deployment) to prune, e.g. `"smollm2-135m"`.
    public var modelId: String
    /// Fraction of prunable parameters to remove, `0 ≤ r < 1`.
    public var targetRatio: Double
    /// Dynamic (instant agent policy) or static (searched, verified).
    public var mode: PruningMode
    /// Who asked (a person, a script, a service), for the audit trail.
    public var requestedBy: String

    /// Creates a ratio change after checking the ratio's range.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when `targetRatio` is outside `[0, 1)`.
    public init(modelId: String, targetRatio: Double, mode: PruningMode, requestedBy: String) throws(EnvelopeRejection) {
        self.modelId = modelId
        self.targetRatio = targetRatio
        self.mode = mode
        self.requestedBy = requestedBy
        try validate()
    }

    /// Checks the values a decoder cannot: the ratio range and a model id.
    public func validate() throws(EnvelopeRejection) {
        guard targetRatio.isFinite, targetRatio >= 0, targetRatio < 1 else {
            throw .invalidPayload("target ratio \(targetRatio) is outside [0, 1)")
        }
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
    }
}
