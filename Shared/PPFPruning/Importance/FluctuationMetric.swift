import PPFModel

// MARK: - FluctuationMetric

/// FLAP's fluctuation metric (An et al. 2024, "Fluctuation-based Adaptive
/// Structured Pruning for Large Language Models", eq. 4, the `WIFV` metric of
/// its reference code): for input channel j of the output projection or the
/// down projection,
///
///     S_j = Var(X_j) · ‖W[:, j]‖₂²
///
/// — how much the layer's output would fluctuate around its mean if channel j
/// were replaced by its mean. A head scores the sum over its `hd` channels.
/// Because only the fluctuation is lost, FLAP adds the removed channels' mean
/// contribution `W[:, removed]·E[X_removed]` to an output bias
/// (`compensatesBias`, applied by `PlanApplication`).
///
/// FLAP scores only the output side, so KV groups score 0 and a group ranks
/// by the sum of its heads.
public struct FluctuationMetric: ImportanceMetric {
    /// Creates the metric.
    public init() {}

    public var name: String { MetricKind.flap.rawValue }
    public var needsStatistics: Bool { true }
    public var compensatesBias: Bool { true }

    public func scores(of block: LlamaWeights.Block, layer: Int, configuration c: LlamaConfiguration,
                       statistics: LayerStatistics?) throws(PruningError) -> LayerImportance {
        var heads: [Double] = [], groups: [Double] = [], channels: [Double] = []
        if let a = block.attention {
            guard let headOutputs = statistics?.attentionOutputInput else {
                throw PruningError(.missingStatistics, "block \(layer): FLAP needs the head-output variances from calibration")
            }
            let perChannel = zip(headOutputs.variance.values, WeightReductions.columnSquares(a.output)).map { Double($0) * $1 }
            heads = WeightReductions.sumRuns(perChannel, of: c.headDimension)
            groups = [Double](repeating: 0, count: c.block(layer).keyValueHeads)
        }
        if let m = block.mlp {
            guard let down = statistics?.downInput else {
                throw PruningError(.missingStatistics, "block \(layer): FLAP needs the down-projection input variances from calibration")
            }
            channels = zip(down.variance.values, WeightReductions.columnSquares(m.down)).map { Double($0) * $1 }
        }
        return LayerImportance(heads: heads, groups: groups, channels: channels)
    }
}
