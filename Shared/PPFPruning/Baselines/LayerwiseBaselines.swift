import PPFContracts
import PPFModel
import PPFTensor

// MARK: - LayerwiseBaselines

/// The desired (continuous) per-block ratios of each non-uniform baseline;
/// `PolicyFitter` then snaps them to the layout and the target.
enum LayerwiseBaselines {
    // MARK: LLM-Pruner

    /// LLM-Pruner (Ma et al. 2023, "LLM-Pruner: On the Structural Pruning of
    /// Large Language Models", §4; its LLaMA-7B recipe prunes blocks 4 ..< 30 of 32):
    /// the first and last blocks are untouched, the middle ones share the whole
    /// target uniformly (`r · total / middle total`).
    static func llmPruner(_ target: Double, _ accounting: ParameterAccounting, _ options: BaselineOptions) -> [LayerPolicy] {
        let count = accounting.layers.count
        let first = min(count - 1, max(0, options.llmPrunerFirstBlocks ?? Int((Double(count) * 4 / 32).rounded())))
        let last = min(count - 1 - first, max(0, options.llmPrunerLastBlocks ?? Int((Double(count) * 2 / 32).rounded())))
        let middle = first ..< count - last
        let middleTotal = middle.reduce(0) { $0 + accounting.layers[$1].blockParameters }
        let ratio = middleTotal > 0 ? target * Double(accounting.prunableParameters) / Double(middleTotal) : 0
        return BaselinePolicy.blockRatios((0..<count).map { middle.contains($0) ? ratio : 0 })
    }

    // MARK: OWL

    /// OWL (Yin et al. 2024, "Outlier Weighed Layerwise Sparsity (OWL)", §3.2 and
    /// its reference code): a block's outlier ratio `D_l` is the share of its
    /// weights whose Wanda score `|W_ij|·‖X_j‖` exceeds `M`× the block's mean
    /// score; densities `1 − r_l` are `D_l` rescaled linearly to span `2λ` and
    /// centred on `1 − r`, so blocks with more outliers keep more.
    static func owl(_ target: Double, _ weights: LlamaWeights, _ statistics: CalibrationStatistics?,
                    _ options: BaselineOptions) throws(PruningError) -> [LayerPolicy] {
        guard let statistics else {
            throw PruningError(.missingStatistics, "OWL needs calibration statistics")
        }
        let outliers = weights.blocks.enumerated().map { layer, block in
            outlierRatio(block, statistics.layers[layer], multiplier: options.owlOutlierMultiplier)
        }
        guard let low = outliers.min(), let high = outliers.max(), high > low else {
            return BaselinePolicy.blockRatios(Array(repeating: target, count: outliers.count))
        }
        let spread = outliers.map { ($0 - low) / (high - low) * 2 * options.owlLambda }
        let mean = spread.reduce(0, +) / Double(spread.count)
        let densities = spread.map { $0 - mean + (1 - target) }
        return BaselinePolicy.blockRatios(densities.map { 1 - $0 })
    }

    /// The share of a block's prunable weights whose Wanda score exceeds `multiplier`× the block mean.
    static func outlierRatio(_ block: LlamaWeights.Block, _ stats: LayerStatistics, multiplier: Double) -> Double {
        var pairs: [(Matrix, [Float])] = []
        if let a = block.attention, let input = stats.attentionInput?.norm, let heads = stats.attentionOutputInput?.norm {
            pairs += [(a.query, input), (a.key, input), (a.value, input), (a.output, heads)]
        }
        if let m = block.mlp, let input = stats.mlpInput?.norm, let down = stats.downInput?.norm {
            pairs += [(m.gate, input), (m.up, input), (m.down, down)]
        }
        var sum = 0.0, count = 0
        for (w, norm) in pairs {
            w.withUnsafeBufferPointer { buffer in
                for r in 0..<w.rows {
                    for c in 0..<w.cols { sum += Double(abs(buffer[r * w.cols + c]) * norm[c]) }
                }
            }
            count += w.count
        }
        guard count > 0 else { return 0 }
        let threshold = Float(multiplier * sum / Double(count))
        var outliers = 0
        for (w, norm) in pairs {
            w.withUnsafeBufferPointer { buffer in
                for r in 0..<w.rows {
                    for c in 0..<w.cols where abs(buffer[r * w.cols + c]) * norm[c] > threshold { outliers += 1 }
                }
            }
        }
        return Double(outliers) / Double(count)
    }

    // MARK: FLAP

    /// FLAP's adaptive structure search (An et al. 2024, §3.2, "AL-AM"):
    /// scores are standardised within each block and module (heads among the
    /// block's heads, channels among its channels), then all structures of the
    /// model are ranked together and the lowest removed until the removed
    /// parameters reach the target; each block's ratios follow.
    ///
    /// A head is charged its share of the block's attention parameters
    /// (`A_l / Q`, i.e. its q/o slices plus its share of its group's k/v); a
    /// channel `3·d`. A head's score is its own plus its group's score shared
    /// among the group's heads.
    static func flapGlobal(_ target: Double, _ accounting: ParameterAccounting, _ scores: ImportanceScores) -> [LayerPolicy] {
        struct Unit { let z: Double; let cost: Double; let layer: Int; let isHead: Bool; let index: Int }
        var units: [Unit] = []
        for (layer, (a, importance)) in zip(accounting.layers, scores.layers).enumerated() {
            if a.queryHeads > 0 {
                let perGroup = a.headsPerGroup
                let heads = importance.heads.indices.map { importance.heads[$0] + importance.groups[$0 / perGroup] / Double(perGroup) }
                let cost = Double(a.attentionParameters) / Double(a.queryHeads)
                for (index, z) in standardised(heads).enumerated() {
                    units.append(Unit(z: z, cost: cost, layer: layer, isHead: true, index: index))
                }
            }
            for (index, z) in standardised(importance.channels).enumerated() {
                units.append(Unit(z: z, cost: Double(a.parametersPerChannel), layer: layer, isHead: false, index: index))
            }
        }
        units.sort { ($0.z, $0.layer, $0.isHead ? 0 : 1, $0.index) < ($1.z, $1.layer, $1.isHead ? 0 : 1, $1.index) }
        let needed = target * Double(accounting.prunableParameters)
        var removedHeads = [Int](repeating: 0, count: accounting.layers.count)
        var removedChannels = [Int](repeating: 0, count: accounting.layers.count)
        var removed = 0.0
        for unit in units where removed + unit.cost / 2 <= needed {
            if unit.isHead { removedHeads[unit.layer] += 1 } else { removedChannels[unit.layer] += 1 }
            removed += unit.cost
        }
        return accounting.layers.indices.map { layer in
            let a = accounting.layers[layer]
            return LayerPolicy(attentionRatio: a.queryHeads > 0 ? Double(removedHeads[layer]) / Double(a.queryHeads) : 0,
                               mlpRatio: a.feedForwardLength > 0 ? Double(removedChannels[layer]) / Double(a.feedForwardLength) : 0)
        }
    }

    /// `(x − mean) / std` (population std); all zeros when the values do not vary or are not finite.
    static func standardised(_ values: [Double]) -> [Double] {
        guard !values.isEmpty else { return [] }
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)).squareRoot()
        guard std > 0, std.isFinite else { return values.map { _ in 0 } }
        return values.map { ($0 - mean) / std }
    }

    // MARK: ShortGPT

    /// ShortGPT (Men et al. 2024, "ShortGPT: Layers in Large Language Models
    /// are More Redundant Than You Expect", §3): drop the blocks with the lowest
    /// Block Influence (`1 − cos(x_in, x_out)`) while the dropped parameters do
    /// not exceed the target; the rest of the target, if any, is removed
    /// uniformly from the kept blocks' heads and channels. One block always stays.
    static func shortGPT(_ target: Double, _ accounting: ParameterAccounting, _ statistics: CalibrationStatistics?,
                         _ options: BaselineOptions) throws(PruningError) -> [LayerPolicy] {
        guard let statistics else {
            throw PruningError(.missingStatistics, "ShortGPT needs the Block Influence from calibration")
        }
        let total = Double(accounting.prunableParameters)
        let needed = target * total
        let order = statistics.layers.indices.sorted {
            (statistics.layers[$0].blockInfluence, $0) < (statistics.layers[$1].blockInfluence, $1)
        }
        var dropped = Set<Int>()
        var removed = 0.0
        for layer in order where dropped.count < accounting.layers.count - 1 {
            let block = Double(accounting.layers[layer].blockParameters)
            guard removed + block <= needed + options.tolerance * total / 2 else { break }
            dropped.insert(layer)
            removed += block
        }
        let keptTotal = total - removed
        let rest = keptTotal > 0 ? max(0, needed - removed) / keptTotal : 0
        return accounting.layers.indices.map { layer in
            dropped.contains(layer) ? LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true)
                                    : LayerPolicy(attentionRatio: rest, mlpRatio: rest)
        }
    }
}
