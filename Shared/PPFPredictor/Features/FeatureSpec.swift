// MARK: - FeatureSpec

/// Which features describe a policy: the per-layer channels (a sequence of
/// `layerCount` rows) and the global scalars.
///
/// Four per-layer channels are built in and always come first, in this order:
/// `attentionKeep` (1 − attention ratio), `mlpKeep` (1 − MLP ratio),
/// `blockDropped` (1 when the block is removed whole, then both keeps are 0)
/// and `depth` (the layer's position, 0 for the first block and 1 for the
/// last). The depth channel matters: a convolution followed by pooling over
/// layers is blind to position, yet the first and last blocks of an LLM are
/// far more sensitive than the middle ones.
///
/// A caller adds its own per-layer channels by name (for example the
/// importance mass each layer retains under a metric) and global scalars by
/// name (for example the achieved ratio). The spec travels with the trained
/// model, so a predictor refuses features built for another spec.
public struct FeatureSpec: Codable, Sendable, Hashable {
    // MARK: Built-in channel names

    /// Fraction of the block's attention kept (0 when the block is dropped).
    public static let attentionKeep = "attentionKeep"
    /// Fraction of the block's MLP intermediate channels kept (0 when the block is dropped).
    public static let mlpKeep = "mlpKeep"
    /// 1 when the whole block is removed, else 0.
    public static let blockDropped = "blockDropped"
    /// Position of the block, `l / (layerCount − 1)` (0 for a single-layer model).
    public static let depth = "depth"
    /// Share of the block's attention importance kept (``ImportanceProfile``), optional.
    public static let attentionImportanceKept = "attentionImportanceKept"
    /// Share of the block's MLP importance kept (``ImportanceProfile``), optional.
    public static let mlpImportanceKept = "mlpImportanceKept"
    /// The plan-derived channels an ``ImportanceProfile`` supplies.
    public static let importanceChannels = [attentionImportanceKept, mlpImportanceKept]

    /// Whether the spec reads the importance channels (then a profile is needed to featurise).
    public var usesImportance: Bool { Self.importanceChannels.allSatisfy(extraLayerChannels.contains) }
    /// The block's rise of log-perplexity in the ``SensitivityProfile`` at the policy's ratios, optional.
    public static let blockSensitivity = "blockSensitivity"
    /// The ``SensitivityProfile``'s additive estimate minus the dense log-perplexity (a global), optional.
    /// A spec that reads it makes the network learn the residual: the prediction is this plus the network's output.
    public static let additiveEstimate = "additiveEstimate"

    /// Whether the spec reads the sensitivity channel and global (then a sensitivity profile is needed,
    /// and the network predicts the residual of the additive estimate).
    public var usesSensitivity: Bool {
        extraLayerChannels.contains(Self.blockSensitivity) && globalChannels.contains(Self.additiveEstimate)
    }

    /// The built-in per-layer channels, in the order they occupy.
    public static let builtInLayerChannels = [attentionKeep, mlpKeep, blockDropped, depth]

    // MARK: Stored properties

    /// Number of blocks of the model this spec describes.
    public let layerCount: Int
    /// Caller-supplied per-layer channels, after the built-in ones.
    public let extraLayerChannels: [String]
    /// Caller-supplied global scalars, in order.
    public let globalChannels: [String]

    /// Every per-layer channel name, in column order.
    public var layerChannels: [String] { Self.builtInLayerChannels + extraLayerChannels }
    /// Number of per-layer channels (columns of the feature sequence).
    public var layerChannelCount: Int { Self.builtInLayerChannels.count + extraLayerChannels.count }
    /// Number of global scalars.
    public var globalCount: Int { globalChannels.count }

    /// Creates a spec, checking that names are non-empty and unique.
    public init(layerCount: Int, extraLayerChannels: [String] = [], globalChannels: [String] = []) throws(PredictorError) {
        self.layerCount = layerCount
        self.extraLayerChannels = extraLayerChannels
        self.globalChannels = globalChannels
        try validate()
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        layerCount = try container.decode(Int.self, forKey: .layerCount)
        extraLayerChannels = try container.decode([String].self, forKey: .extraLayerChannels)
        globalChannels = try container.decode([String].self, forKey: .globalChannels)
        try validate()
    }

    private func validate() throws(PredictorError) {
        guard layerCount > 0 else {
            throw PredictorError(.invalidFeatureSpec, "a feature spec needs at least one layer, got \(layerCount)")
        }
        let names = layerChannels + globalChannels
        if let empty = names.firstIndex(where: { $0.isEmpty }) {
            throw PredictorError(.invalidFeatureSpec, "channel \(empty) has an empty name")
        }
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw PredictorError(.invalidFeatureSpec,
                                 "channel name '\(name)' appears twice; per-layer and global names must all differ (built-in: \(Self.builtInLayerChannels))")
        }
    }

    /// Whether `other` describes exactly the same features; otherwise an error
    /// that says how they differ.
    func requireSame(as other: FeatureSpec, what: String) throws(PredictorError) {
        if self == other { return }
        if layerCount != other.layerCount {
            throw PredictorError(.layerCountMismatch,
                                 "\(what) has \(other.layerCount) layers but the predictor was trained for \(layerCount)")
        }
        if layerChannels.count != other.layerChannels.count {
            throw PredictorError(.channelCountMismatch,
                                 "\(what) has \(other.layerChannelCount) per-layer channels \(other.layerChannels) but the predictor expects \(layerChannelCount) \(layerChannels)")
        }
        if globalChannels.count != other.globalChannels.count {
            throw PredictorError(.globalCountMismatch,
                                 "\(what) has \(other.globalCount) global scalars \(other.globalChannels) but the predictor expects \(globalCount) \(globalChannels)")
        }
        throw PredictorError(.featureSpecMismatch,
                             "\(what) names channels \(other.layerChannels) / \(other.globalChannels) but the predictor expects \(layerChannels) / \(globalChannels)")
    }
}
