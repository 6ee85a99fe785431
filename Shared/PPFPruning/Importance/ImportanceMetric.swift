import PPFModel

// MARK: - LayerImportance

/// Scores of every prunable structure of one block; higher means more
/// important (kept first). Indices are the dense block's.
public struct LayerImportance: Codable, Sendable, Equatable {
    /// One score per query head: its q rows and its o columns.
    public var heads: [Double]
    /// One score per KV group: its k and v rows (0 for metrics that score
    /// only the output projection, such as FLAP's).
    public var groups: [Double]
    /// One score per MLP channel: its gate and up rows and its down column.
    public var channels: [Double]

    /// Groups a block's scores.
    public init(heads: [Double], groups: [Double], channels: [Double]) {
        self.heads = heads
        self.groups = groups
        self.channels = channels
    }
}

// MARK: - ImportanceMetric

/// Scores the heads, KV groups and MLP channels of a block (design habit 11:
/// one protocol, several implementations).
public protocol ImportanceMetric: Sendable {
    /// The name used on the command line and recorded in plans (`magnitude`, `wanda-sp`, `flap`).
    var name: String { get }
    /// Whether `scores` needs calibration statistics.
    var needsStatistics: Bool { get }
    /// Whether plans made with this metric fold the mean contribution of removed
    /// channels into output biases (FLAP, An et al. 2024, §3.3).
    var compensatesBias: Bool { get }

    /// The scores of block `layer`.
    ///
    /// - Parameters:
    ///   - block: the block's dense weights (a sublayer may be absent).
    ///   - statistics: the block's calibration statistics; `nil` only when
    ///     `needsStatistics` is false.
    func scores(of block: LlamaWeights.Block, layer: Int, configuration: LlamaConfiguration,
                statistics: LayerStatistics?) throws(PruningError) -> LayerImportance
}

// MARK: - MetricKind

/// The implemented metrics by name, for the command line and benchmarks.
public enum MetricKind: String, Codable, Sendable, CaseIterable {
    /// `MagnitudeMetric`: L2 norm of each structure's weights.
    case magnitude
    /// `WandaStructuredMetric`: `Σ |W|·‖X‖` per structure.
    case wandaSP = "wanda-sp"
    /// `FluctuationMetric`: FLAP's `Var(X_j)·‖W[:, j]‖²`, with bias compensation.
    case flap

    /// The metric itself.
    public var metric: any ImportanceMetric {
        switch self {
        case .magnitude: MagnitudeMetric()
        case .wandaSP: WandaStructuredMetric()
        case .flap: FluctuationMetric()
        }
    }

    /// The kind named `name`; throws `unknownName` listing the valid names.
    public init(named name: String) throws(PruningError) {
        guard let kind = MetricKind(rawValue: name) else {
            throw PruningError(.unknownName,
                               "unknown importance metric '\(name)'; use one of \(MetricKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = kind
    }
}

// MARK: - Whole-model scores

/// The scores of every block of a model under one metric (computed once,
/// shared by planning and by the baselines that rank structures globally).
public struct ImportanceScores: Codable, Sendable, Equatable {
    /// The metric's name.
    public let metric: String
    /// One entry per block.
    public let layers: [LayerImportance]

    /// Scores every block of `weights` with `metric`.
    ///
    /// - Throws: `missingStatistics` when the metric needs statistics and none
    ///   are given; `statisticsMismatch` when they do not fit the model.
    public init(weights: LlamaWeights, statistics: CalibrationStatistics?, metric: any ImportanceMetric) throws(PruningError) {
        if let statistics { try statistics.validate(against: weights.configuration) }
        if metric.needsStatistics, statistics == nil {
            throw PruningError(.missingStatistics,
                               "the \(metric.name) metric scores structures from calibration activations; run calibration first")
        }
        var layers: [LayerImportance] = []
        for (layer, block) in weights.blocks.enumerated() {
            layers.append(try metric.scores(of: block, layer: layer, configuration: weights.configuration,
                                            statistics: statistics?.layers[layer]))
        }
        self.metric = metric.name
        self.layers = layers
        try validate(against: weights.configuration)
    }

    /// Scores given directly (a stored set, or hand-made ones in tests).
    public init(metric: String, layers: [LayerImportance]) {
        self.metric = metric
        self.layers = layers
    }

    /// Throws `scoresMismatch` unless there is one score per head, group and
    /// channel of every block of `configuration` (stored or hand-made scores
    /// may belong to another model).
    public func validate(against c: LlamaConfiguration) throws(PruningError) {
        guard layers.count == c.blockCount else {
            throw PruningError(.scoresMismatch, "importance scores cover \(layers.count) blocks but the model has \(c.blockCount)")
        }
        for (index, layer) in layers.enumerated() {
            let shape = c.block(index)
            guard layer.heads.count == shape.queryHeads, layer.groups.count == shape.keyValueHeads,
                  layer.channels.count == shape.feedForwardLength else {
                throw PruningError(.scoresMismatch,
                                   "block \(index): scores for \(layer.heads.count) heads / \(layer.groups.count) groups / \(layer.channels.count) channels, but the block has \(shape.queryHeads) / \(shape.keyValueHeads) / \(shape.feedForwardLength)")
            }
        }
    }
}

// MARK: - Statistics validation

extension CalibrationStatistics {
    /// Throws `statisticsMismatch` unless every block's statistics have the
    /// widths `configuration` implies (so no metric indexes out of range).
    public func validate(against c: LlamaConfiguration) throws(PruningError) {
        guard layers.count == c.blockCount else {
            throw PruningError(.statisticsMismatch,
                               "calibration statistics cover \(layers.count) blocks but the model has \(c.blockCount); recalibrate this model")
        }
        for (layer, stats) in layers.enumerated() {
            let shape = c.block(layer)
            let expected: [(String, ChannelStatistics?, Int?)] = [
                ("attention input", stats.attentionInput, shape.hasAttention ? c.embeddingLength : nil),
                ("output-projection input", stats.attentionOutputInput, shape.hasAttention ? shape.queryHeads * c.headDimension : nil),
                ("MLP input", stats.mlpInput, shape.hasMLP ? c.embeddingLength : nil),
                ("down-projection input", stats.downInput, shape.hasMLP ? shape.feedForwardLength : nil),
            ]
            for (name, channel, width) in expected {
                guard let width else { continue }
                guard let channel, channel.channels == width,
                      channel.variance.values.count == width, channel.squaredNorm.values.count == width else {
                    throw PruningError(.statisticsMismatch,
                                       "block \(layer): the \(name) statistics do not have \(width) channels; recalibrate this model")
                }
            }
        }
    }
}
