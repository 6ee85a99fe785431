import Foundation

// MARK: - PlanPublished

/// A plan the pruner made for a published policy: the policy turned into the
/// concrete heads, KV groups and MLP channels each block keeps, with the
/// exact parameter counts. Announced once per ratio-change event.
/// Topic: ``Topic/plans``, key: ``modelId`` (one deployment's plans stay in
/// order); the envelope's correlation id is the ratio event's id.
///
/// The kept indices themselves are in the `plans` row named by ``planId``,
/// not in this message: for a 7B model (32 blocks × 11 008 channels) they
/// run to megabytes, above Kafka's default message size. The message carries
/// what a reader needs to decide and a person to read: counts per block and
/// the achieved ratio. model-host reads the row and swaps to the pruned model.
public struct PlanPublished: MessagePayload, Equatable {
    public static let messageType = "plan"
    public static let schemaVersion = 1

    /// The stored plan's id (`plans.id`); model-host names the pruned model by it.
    public var planId: UUID
    /// The ratio-change event answered (`ratio_events.id`); one plan per event.
    public var ratioEventId: UUID
    /// The planned policy (`policies.id`).
    public var policyId: UUID
    /// The model (deployment) pruned.
    public var modelId: String
    /// The importance metric that chose the kept structures.
    public var metric: String
    /// The ratio the event asked for, when known.
    public var targetRatio: Double?
    /// `1 − keptParameters / totalParameters`, exactly.
    public var achievedRatio: Double
    /// Prunable parameters the pruned model keeps.
    public var keptParameters: Int
    /// Prunable parameters of the dense model.
    public var totalParameters: Int
    /// What each dense block keeps, in block order.
    public var layers: [PlannedLayer]
    /// Where the pruner wrote the pruned model as GGUF, when it exported one.
    public var exportPath: String?

    /// Creates the event after checking its values.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)``; see ``validate()``.
    public init(planId: UUID, ratioEventId: UUID, policyId: UUID, modelId: String, metric: String,
                targetRatio: Double?, achievedRatio: Double, keptParameters: Int, totalParameters: Int,
                layers: [PlannedLayer], exportPath: String? = nil) throws(EnvelopeRejection) {
        self.planId = planId
        self.ratioEventId = ratioEventId
        self.policyId = policyId
        self.modelId = modelId
        self.metric = metric
        self.targetRatio = targetRatio
        self.achievedRatio = achievedRatio
        self.keptParameters = keptParameters
        self.totalParameters = totalParameters
        self.layers = layers
        self.exportPath = exportPath
        try validate()
    }

    /// Checks names, ratios and counts, and that the achieved ratio is the
    /// one the counts give (to 1e-9).
    public func validate() throws(EnvelopeRejection) {
        guard !modelId.isEmpty else { throw .invalidPayload("model id is empty") }
        guard !metric.isEmpty else { throw .invalidPayload("importance metric name is empty") }
        guard !layers.isEmpty else { throw .invalidPayload("the plan has no blocks") }
        guard totalParameters > 0, keptParameters >= 0, keptParameters <= totalParameters else {
            throw .invalidPayload("kept parameters \(keptParameters) must lie in 0...\(totalParameters) (and the total must be positive)")
        }
        for (name, ratio) in [("target", targetRatio), ("achieved", achievedRatio)] {
            if let ratio, !(ratio.isFinite && ratio >= 0 && ratio < 1) {
                throw .invalidPayload("\(name) ratio \(ratio) is outside [0, 1)")
            }
        }
        let counted = 1 - Double(keptParameters) / Double(totalParameters)
        guard abs(counted - achievedRatio) <= 1e-9 else {
            throw .invalidPayload("achieved ratio \(achievedRatio) disagrees with \(keptParameters) of \(totalParameters) parameters kept (\(counted))")
        }
        for (index, layer) in layers.enumerated() {
            guard layer.queryHeads >= 0, layer.keyValueGroups >= 0, layer.channels >= 0 else {
                throw .invalidPayload("block \(index) has a negative kept count")
            }
            if layer.dropped, layer.queryHeads + layer.keyValueGroups + layer.channels > 0 {
                throw .invalidPayload("block \(index) is dropped but keeps heads, groups or channels")
            }
        }
        guard layers.contains(where: { !$0.dropped }) else { throw .invalidPayload("the plan drops every block") }
        if let exportPath, exportPath.isEmpty { throw .invalidPayload("the export path is empty") }
    }
}

// MARK: - PlannedLayer

/// What one dense block keeps under a plan (counts; the indices are in the `plans` row).
public struct PlannedLayer: Codable, Sendable, Equatable {
    /// The block is removed whole.
    public var dropped: Bool
    /// Query heads kept.
    public var queryHeads: Int
    /// KV groups kept.
    public var keyValueGroups: Int
    /// MLP intermediate channels kept.
    public var channels: Int

    /// Creates a block entry.
    public init(dropped: Bool, queryHeads: Int, keyValueGroups: Int, channels: Int) {
        self.dropped = dropped
        self.queryHeads = queryHeads
        self.keyValueGroups = keyValueGroups
        self.channels = channels
    }
}

// MARK: - Lowercase ids

extension PlanPublished {
    /// Synthesized coding, except that ids are written in lowercase.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeCanonical(planId, forKey: .planId)
        try container.encodeCanonical(ratioEventId, forKey: .ratioEventId)
        try container.encodeCanonical(policyId, forKey: .policyId)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(metric, forKey: .metric)
        try container.encodeIfPresent(targetRatio, forKey: .targetRatio)
        try container.encode(achievedRatio, forKey: .achievedRatio)
        try container.encode(keptParameters, forKey: .keptParameters)
        try container.encode(totalParameters, forKey: .totalParameters)
        try container.encode(layers, forKey: .layers)
        try container.encodeIfPresent(exportPath, forKey: .exportPath)
    }
}
