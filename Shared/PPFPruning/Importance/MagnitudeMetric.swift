import PPFModel

// MARK: - MagnitudeMetric

/// Weight magnitude: the L2 norm of all weights a structure owns; needs no
/// calibration. The data-free baseline of structured pruning (e.g. LLM-Pruner's
/// `l2` element importance, Ma et al. 2023, and Li et al. 2017 for filters).
///
/// - head h: its q rows and its o columns;
/// - KV group g: its k and v rows;
/// - MLP channel j: gate row j, up row j and down column j.
public struct MagnitudeMetric: ImportanceMetric {
    /// Creates the metric.
    public init() {}

    public var name: String { MetricKind.magnitude.rawValue }
    public var needsStatistics: Bool { false }
    public var compensatesBias: Bool { false }

    public func scores(of block: LlamaWeights.Block, layer: Int, configuration c: LlamaConfiguration,
                       statistics: LayerStatistics?) throws(PruningError) -> LayerImportance {
        let hd = c.headDimension
        var heads: [Double] = [], groups: [Double] = [], channels: [Double] = []
        if let a = block.attention {
            heads = WeightReductions.add(WeightReductions.sumRuns(WeightReductions.rowSquares(a.query), of: hd),
                                         WeightReductions.sumRuns(WeightReductions.columnSquares(a.output), of: hd))
                .map { $0.squareRoot() }
            groups = WeightReductions.add(WeightReductions.sumRuns(WeightReductions.rowSquares(a.key), of: hd),
                                          WeightReductions.sumRuns(WeightReductions.rowSquares(a.value), of: hd))
                .map { $0.squareRoot() }
        }
        if let m = block.mlp {
            channels = WeightReductions.add(WeightReductions.rowSquares(m.gate), WeightReductions.rowSquares(m.up),
                                            WeightReductions.columnSquares(m.down))
                .map { $0.squareRoot() }
        }
        return LayerImportance(heads: heads, groups: groups, channels: channels)
    }
}
