import PPFContracts
import PPFModel

// MARK: - ModelIdentity

/// Which model a plan was made for.
public struct ModelIdentity: Codable, Sendable, Hashable {
    /// A human-readable name, e.g. the checkpoint's file name.
    public let name: String
    /// SHA-256 of the model file (or another fingerprint the caller chose).
    public let checksum: String

    /// Creates an identity.
    public init(name: String, checksum: String) {
        self.name = name
        self.checksum = checksum
    }
}

// MARK: - LayerPlan

/// What one block of the dense model keeps. Indices are the dense block's and ascending.
public struct LayerPlan: Codable, Sendable, Hashable {
    /// The block's index in the dense model.
    public let layer: Int
    /// The dense block's query heads `Q`, KV groups `G` and MLP channels `F`
    /// (checked when the plan is applied, so a plan never slices another model).
    public let denseQueryHeads: Int
    /// See `denseQueryHeads`.
    public let denseKeyValueGroups: Int
    /// See `denseQueryHeads`.
    public let denseFeedForwardLength: Int
    /// The whole block is removed from the sequence.
    public let dropped: Bool
    /// KV groups kept.
    public let keptGroups: [Int]
    /// Query heads kept: the same number `m` in every kept group, in group order.
    public let keptHeads: [Int]
    /// MLP channels kept.
    public let keptChannels: [Int]
    /// Fold the removed heads' mean output into an `attn_output` bias.
    public let compensatesAttentionBias: Bool
    /// Fold the removed channels' mean output into an `ffn_down` bias.
    public let compensatesMLPBias: Bool
    /// Prunable parameters of the dense block.
    public let parametersBefore: Int
    /// Prunable parameters the block keeps (0 when dropped).
    public let parametersAfter: Int

    /// Creates a block entry; `PlanBuilder` is the usual way to get one.
    public init(layer: Int, denseQueryHeads: Int, denseKeyValueGroups: Int, denseFeedForwardLength: Int,
                dropped: Bool, keptGroups: [Int], keptHeads: [Int], keptChannels: [Int],
                compensatesAttentionBias: Bool, compensatesMLPBias: Bool, parametersBefore: Int, parametersAfter: Int) {
        self.layer = layer
        self.denseQueryHeads = denseQueryHeads
        self.denseKeyValueGroups = denseKeyValueGroups
        self.denseFeedForwardLength = denseFeedForwardLength
        self.dropped = dropped
        self.keptGroups = keptGroups
        self.keptHeads = keptHeads
        self.keptChannels = keptChannels
        self.compensatesAttentionBias = compensatesAttentionBias
        self.compensatesMLPBias = compensatesMLPBias
        self.parametersBefore = parametersBefore
        self.parametersAfter = parametersAfter
    }

    /// The kept attention layout (g KV groups × m heads each); `nil` when dropped or without attention.
    public var attentionShape: AttentionShape? {
        guard !dropped, !keptGroups.isEmpty else { return nil }
        return AttentionShape(keptGroups: keptGroups.count, headsPerGroup: keptHeads.count / keptGroups.count)
    }
}

// MARK: - BiasCompensation

/// Where the compensation biases of a plan come from (FLAP, An et al. 2024, §3.3):
/// `b = W[:, removed] · E[x_removed]`, with `E[x]` the calibration mean of the
/// output-projection (or down-projection) input of the dense model.
public struct BiasCompensation: Codable, Sendable, Hashable {
    /// The metric whose plans compensate (`flap`).
    public let metric: String
    /// The statistic used, in words.
    public let statistic: String
    /// The calibration run that measured the means.
    public let calibration: CalibrationSpec
    /// SHA-256 of the calibration text.
    public let corpusChecksum: String

    /// Records a compensation's provenance.
    public init(metric: String, statistic: String, calibration: CalibrationSpec, corpusChecksum: String) {
        self.metric = metric
        self.statistic = statistic
        self.calibration = calibration
        self.corpusChecksum = corpusChecksum
    }
}

// MARK: - PruningPlan

/// The concrete kept indices of every block: plain `Codable` data, stored and
/// sent as is (design habit 11). Deterministic given (model, calibration,
/// metric, policy).
public struct PruningPlan: Codable, Sendable, Hashable {
    /// The schema of this value; bumped on any incompatible change.
    public static let currentSchemaVersion = 1

    /// Schema version of this plan.
    public let schemaVersion: Int
    /// The model planned.
    public let model: ModelIdentity
    /// The importance metric that chose the kept structures.
    public let metric: String
    /// The calibration the metric used (`nil` for data-free metrics).
    public let calibration: CalibrationSpec?
    /// The policy planned.
    public let policy: PruningPolicy
    /// The target ratio the plan was checked against, if any.
    public let targetRatio: Double?
    /// One entry per dense block.
    public let layers: [LayerPlan]
    /// Provenance of the compensation biases; `nil` when the plan adds none.
    public let biasCompensation: BiasCompensation?
    /// Prunable parameters of the dense model.
    public let prunableParametersBefore: Int
    /// Prunable parameters of the pruned model.
    public let prunableParametersAfter: Int
    /// `1 − after/before`, exactly.
    public let achievedRatio: Double

    /// Creates a plan; `PlanBuilder` is the usual way to get one.
    public init(model: ModelIdentity, metric: String, calibration: CalibrationSpec?, policy: PruningPolicy,
                targetRatio: Double?, layers: [LayerPlan], biasCompensation: BiasCompensation?,
                schemaVersion: Int = Self.currentSchemaVersion) {
        self.schemaVersion = schemaVersion
        self.model = model
        self.metric = metric
        self.calibration = calibration
        self.policy = policy
        self.targetRatio = targetRatio
        self.layers = layers
        self.biasCompensation = biasCompensation
        prunableParametersBefore = layers.reduce(0) { $0 + $1.parametersBefore }
        prunableParametersAfter = layers.reduce(0) { $0 + $1.parametersAfter }
        achievedRatio = prunableParametersBefore > 0
            ? Double(prunableParametersBefore - prunableParametersAfter) / Double(prunableParametersBefore) : 0
    }

    /// Dense blocks removed whole.
    public var droppedBlocks: [Int] { layers.filter(\.dropped).map(\.layer) }
}
