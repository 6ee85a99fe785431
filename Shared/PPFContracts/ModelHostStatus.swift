import Foundation

// MARK: - ModelHostStatus

/// A model-host instance saying which model version it now serves: published
/// at start-up and after every hot swap. Topic: ``Topic/modelHostStatus``
/// (its own topic, because ``Topic/status`` carries heartbeats only), key:
/// ``instanceId``. The same facts are a `model_versions` row, written in the
/// same transaction (outbox).
public struct ModelHostStatus: MessagePayload, Equatable {
    public static let messageType = "model-host-status"
    public static let schemaVersion = 1

    /// The model-host instance.
    public var instanceId: String
    /// The deployment it serves.
    public var modelId: String
    /// The version now serving: ``ModelVersion/dense`` or a plan id.
    public var modelVersion: String
    /// The plan of that version; `nil` for the dense model.
    public var planId: UUID?
    /// The policy the plan came from.
    public var policyId: UUID?
    /// The ratio-change event that led to it.
    public var ratioEventId: UUID?
    /// The plan's achieved ratio (0 for the dense model).
    public var achievedRatio: Double
    /// Swaps this instance has made since it started (0 for the model it started with).
    public var swapCount: Int
    /// Seconds spent building this version (applying the plan), off the serving path.
    public var buildSeconds: Double
    /// When this version started answering requests.
    public var servingSince: Date

    /// Creates a status.
    public init(instanceId: String, modelId: String, modelVersion: String, planId: UUID?, policyId: UUID?,
                ratioEventId: UUID?, achievedRatio: Double, swapCount: Int, buildSeconds: Double, servingSince: Date) {
        self.instanceId = instanceId
        self.modelId = modelId
        self.modelVersion = modelVersion
        self.planId = planId
        self.policyId = policyId
        self.ratioEventId = ratioEventId
        self.achievedRatio = achievedRatio
        self.swapCount = swapCount
        self.buildSeconds = buildSeconds
        self.servingSince = servingSince
    }
}

extension ModelHostStatus {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(instanceId, forKey: .instanceId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(modelVersion, forKey: .modelVersion)
        try container.encodeCanonicalIfPresent(planId, forKey: .planId)
        try container.encodeCanonicalIfPresent(policyId, forKey: .policyId)
        try container.encodeCanonicalIfPresent(ratioEventId, forKey: .ratioEventId)
        try container.encode(achievedRatio, forKey: .achievedRatio)
        try container.encode(swapCount, forKey: .swapCount)
        try container.encode(buildSeconds, forKey: .buildSeconds)
        try container.encode(servingSince, forKey: .servingSince)
    }
}
