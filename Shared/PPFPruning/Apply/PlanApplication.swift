import PPFModel
import PPFTensor

// MARK: - PlanApplication

/// Applies a plan: a pure function from dense weights (+ calibration
/// statistics, for bias compensation) to smaller weights (design habit 11).
///
/// Dropped blocks leave the sequence: the pruned model has fewer blocks,
/// renumbered in order. A block without attention or MLP is an identity on
/// the residual and the forward pass does not depend on a block's index
/// (RoPE depends on the token position only), so removing it is exact, and the
/// result is a plain `llama` model llama.cpp loads with per-layer
/// `head_count`, `head_count_kv` and `feed_forward_length` arrays.
///
/// Kept heads stay in group order, so new head `j` belongs to new group
/// `j / m` exactly as llama.cpp maps query heads onto KV heads. GGUF's
/// rotary row permutation lives inside each head, so whole-head slicing keeps it.
public enum PlanApplication {
    /// The pruned weights of `weights` under `plan`.
    ///
    /// - Parameters:
    ///   - statistics: the calibration the plan's bias compensation names; required
    ///     when any block compensates.
    /// - Throws: `planMismatch` when the plan was made for other shapes or its
    ///   indices are malformed; `missingStatistics` / `statisticsMismatch` for
    ///   compensation without fitting statistics; `model` if the result fails validation.
    public static func apply(_ plan: PruningPlan, to weights: LlamaWeights,
                             statistics: CalibrationStatistics? = nil) throws(PruningError) -> LlamaWeights {
        let c = weights.configuration
        try PlanValidation.check(plan, against: c)
        let compensates = plan.layers.contains { $0.compensatesAttentionBias || $0.compensatesMLPBias }
        if compensates {
            guard let statistics else {
                throw PruningError(.missingStatistics,
                                   "the plan compensates biases (\(plan.metric)) and needs the calibration statistics it was made with")
            }
            try statistics.validate(against: c)
        }
        var blocks: [LlamaWeights.Block] = []
        var heads: [Int] = [], kvHeads: [Int] = [], ffn: [Int] = []
        for layerPlan in plan.layers where !layerPlan.dropped {
            let dense = weights.blocks[layerPlan.layer]
            let stats = statistics?.layers[layerPlan.layer]
            let attention = dense.attention.map {
                sliceAttention($0, layerPlan, headDimension: c.headDimension,
                               means: layerPlan.compensatesAttentionBias ? stats?.attentionOutputInput?.mean.values : nil)
            }
            let mlp = dense.mlp.map {
                sliceMLP($0, layerPlan, means: layerPlan.compensatesMLPBias ? stats?.downInput?.mean.values : nil)
            }
            blocks.append(LlamaWeights.Block(attention: attention, mlp: mlp))
            heads.append(layerPlan.keptHeads.count)
            kvHeads.append(layerPlan.keptGroups.count)
            ffn.append(layerPlan.keptChannels.count)
        }
        do {
            let configuration = try LlamaConfiguration(
                blockCount: blocks.count, embeddingLength: c.embeddingLength, headCounts: heads,
                keyValueHeadCounts: kvHeads, feedForwardLengths: ffn, headDimension: c.headDimension,
                rmsNormEpsilon: c.rmsNormEpsilon, ropeFrequencyBase: c.ropeFrequencyBase,
                contextLength: c.contextLength, vocabularySize: c.vocabularySize)
            return try LlamaWeights(configuration: configuration, tokenEmbedding: weights.tokenEmbedding, blocks: blocks,
                                    outputNorm: weights.outputNorm, output: weights.output)
        } catch {
            throw PruningError(wrapping: error)
        }
    }

    // MARK: - Slicing

    /// q rows and o columns of the kept heads, k and v rows of the kept groups.
    private static func sliceAttention(_ w: LlamaWeights.Attention, _ plan: LayerPlan, headDimension hd: Int,
                                       means: [Float]?) -> LlamaWeights.Attention {
        let headRows = plan.keptHeads.flatMap { $0 * hd ..< ($0 + 1) * hd }
        let groupRows = plan.keptGroups.flatMap { $0 * hd ..< ($0 + 1) * hd }
        var bias = w.outputBias
        if let means {
            let kept = Set(headRows)
            let removed = (0..<w.output.cols).filter { !kept.contains($0) }
            bias = compensation(w.output, removedColumns: removed, means: means, adding: w.outputBias)
        }
        return LlamaWeights.Attention(norm: w.norm, query: rows(w.query, headRows), key: rows(w.key, groupRows),
                                      value: rows(w.value, groupRows), output: columns(w.output, headRows),
                                      outputBias: bias)
    }

    /// gate and up rows and down columns of the kept channels.
    private static func sliceMLP(_ w: LlamaWeights.MLP, _ plan: LayerPlan, means: [Float]?) -> LlamaWeights.MLP {
        var bias = w.downBias
        if let means {
            let kept = Set(plan.keptChannels)
            let removed = (0..<w.down.cols).filter { !kept.contains($0) }
            bias = compensation(w.down, removedColumns: removed, means: means, adding: w.downBias)
        }
        return LlamaWeights.MLP(norm: w.norm, gate: rows(w.gate, plan.keptChannels), up: rows(w.up, plan.keptChannels),
                                down: columns(w.down, plan.keptChannels), downBias: bias)
    }

    /// FLAP's bias compensation (An et al. 2024, §3.3, eq. 7):
    /// `b = b₀ + W[:, removed] · E[x_removed]`, so the layer's expected output is unchanged.
    static func compensation(_ w: Matrix, removedColumns: [Int], means: [Float], adding existing: [Float]?) -> [Float] {
        var bias = (existing ?? [Float](repeating: 0, count: w.rows)).map(Double.init)
        w.withUnsafeBufferPointer { buffer in
            for r in 0..<w.rows {
                var total = 0.0
                for c in removedColumns { total += Double(buffer[r * w.cols + c]) * Double(means[c]) }
                bias[r] += total
            }
        }
        return bias.map(Float.init)
    }

    /// The rows `indices` of `w`, in that order.
    static func rows(_ w: Matrix, _ indices: [Int]) -> Matrix {
        if indices.count == w.rows, indices.elementsEqual(0..<w.rows) { return w }
        var result = Matrix(rows: indices.count, cols: w.cols)
        w.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for (r, index) in indices.enumerated() {
                    for c in 0..<w.cols { target[r * w.cols + c] = source[index * w.cols + c] }
                }
            }
        }
        return result
    }

    /// The columns `indices` of `w`, in that order.
    static func columns(_ w: Matrix, _ indices: [Int]) -> Matrix {
        if indices.count == w.cols, indices.elementsEqual(0..<w.cols) { return w }
        var result = Matrix(rows: w.rows, cols: indices.count)
        let width = indices.count
        w.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for r in 0..<w.rows {
                    for (c, index) in indices.enumerated() { target[r * width + c] = source[r * w.cols + index] }
                }
            }
        }
        return result
    }
}
