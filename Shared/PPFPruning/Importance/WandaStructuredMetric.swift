import PPFModel

// MARK: - WandaStructuredMetric

/// Wanda-sp: Wanda's `|W_ij|·‖X_j‖₂` (Sun et al. 2024, "A Simple and Effective
/// Pruning Approach for LLMs") summed over every weight a structure owns, the
/// structured variant FLAP compares against (An et al. 2024, §4).
///
/// `X_j` is the calibration input of the layer the weight belongs to:
/// - head h: q rows (input: attention-normed residual) + o columns (input: head outputs);
/// - KV group g: k and v rows (input: attention-normed residual);
/// - MLP channel j: gate and up rows (input: MLP-normed residual) + down column j (input: SwiGLU output).
public struct WandaStructuredMetric: ImportanceMetric {
    /// Creates the metric.
    public init() {}

    public var name: String { MetricKind.wandaSP.rawValue }
    public var needsStatistics: Bool { true }
    public var compensatesBias: Bool { false }

    public func scores(of block: LlamaWeights.Block, layer: Int, configuration c: LlamaConfiguration,
                       statistics: LayerStatistics?) throws(PruningError) -> LayerImportance {
        let hd = c.headDimension
        var heads: [Double] = [], groups: [Double] = [], channels: [Double] = []
        if let a = block.attention {
            guard let input = statistics?.attentionInput, let headOutputs = statistics?.attentionOutputInput else {
                throw PruningError(.missingStatistics, "block \(layer): Wanda-sp needs the attention input norms from calibration")
            }
            let inputNorm = input.norm
            // o column c sees input channel c: Σ_i |W_o[i, c]|·‖X_c‖ = ‖X_c‖·Σ_i |W_o[i, c]|.
            let outputColumns = zip(WeightReductions.columnAbsoluteSums(a.output), headOutputs.norm).map { $0 * Double($1) }
            heads = WeightReductions.add(
                WeightReductions.sumRuns(WeightReductions.rowAbsoluteSums(a.query, scaledBy: inputNorm), of: hd),
                WeightReductions.sumRuns(outputColumns, of: hd))
            groups = WeightReductions.add(
                WeightReductions.sumRuns(WeightReductions.rowAbsoluteSums(a.key, scaledBy: inputNorm), of: hd),
                WeightReductions.sumRuns(WeightReductions.rowAbsoluteSums(a.value, scaledBy: inputNorm), of: hd))
        }
        if let m = block.mlp {
            guard let input = statistics?.mlpInput, let down = statistics?.downInput else {
                throw PruningError(.missingStatistics, "block \(layer): Wanda-sp needs the MLP input norms from calibration")
            }
            let inputNorm = input.norm
            let downColumns = zip(WeightReductions.columnAbsoluteSums(m.down), down.norm).map { $0 * Double($1) }
            channels = WeightReductions.add(WeightReductions.rowAbsoluteSums(m.gate, scaledBy: inputNorm),
                                            WeightReductions.rowAbsoluteSums(m.up, scaledBy: inputNorm),
                                            downColumns)
        }
        return LayerImportance(heads: heads, groups: groups, channels: channels)
    }
}
