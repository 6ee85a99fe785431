// MARK: - ExportProvenance

/// Where an exported model came from, written into the file so that a person
/// (or `ppf inspect`) can trace it: GGUF keys `ppf.*`, safetensors
/// `__metadata__` and config.json fields `ppf_*`.
///
/// Every field is optional: an export made outside the pruner (a test, a
/// hand-sliced model) records what it knows.
public struct ExportProvenance: Sendable, Codable, Equatable {
    /// The plan the model was sliced with (`ppf.plan_id`).
    public var planID: String?
    /// The fraction of prunable parameters removed, computed exactly from the
    /// shapes (`ppf.achieved_ratio`).
    public var achievedRatio: Double?
    /// The importance metric that chose the kept structures (`ppf.metric`).
    public var metric: String?
    /// SHA-256 of the source checkpoint (`ppf.source_sha256`).
    public var sourceSHA256: String?
    /// Appended to the source's `general.name` (default `" (PPF pruned)"`).
    public var nameSuffix: String

    /// Describes an export; everything unknown may stay `nil`.
    public init(planID: String? = nil, achievedRatio: Double? = nil, metric: String? = nil,
                sourceSHA256: String? = nil, nameSuffix: String = " (PPF pruned)") {
        self.planID = planID
        self.achievedRatio = achievedRatio
        self.metric = metric
        self.sourceSHA256 = sourceSHA256
        self.nameSuffix = nameSuffix
    }
}
