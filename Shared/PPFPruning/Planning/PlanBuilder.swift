import PPFContracts
import PPFModel

// MARK: - PlanBuilder

/// Turns a policy into a plan (policy → plan): maps each block's ratios to a
/// layout its shapes allow, then keeps the most important structures.
///
/// **Granularity (GQA-aware, the agent's `ParameterBudget` model).** A block
/// keeps `g` of its `G` KV groups and `m` of the `Q/G` query heads in every
/// kept group, so the result is a valid GQA layer (n_head = g·m,
/// n_head_kv = g). Groups rank by summed importance (the group's k/v score
/// plus its heads' scores); heads rank within their group. MLP channels are
/// removed one by one (a gate row, an up row and a down column each).
///
/// **Ratio → layout.** `attentionRatio` maps to the nearest achievable level
/// `1 − g(m+1)/(Q+G)` (ties to the smaller removal); when two layouts reach
/// the same level (SmolLM2: 1×3 and 2×1, 2×2 and 3×1) the one keeping the
/// larger summed importance wins, then the one with more groups. `mlpRatio`
/// removes `round(mlpRatio·F)` channels. Removing every head or channel of
/// a block is only possible by dropping it.
public struct PlanBuilder: Sendable {
    /// Largest default gap between a target ratio and the achieved one (0.1 percentage point).
    public static let defaultTolerance = 0.001

    /// The dense model's shapes.
    public let configuration: LlamaConfiguration
    /// Exact parameter counts of the dense model.
    public let accounting: ParameterAccounting
    /// The scores every choice is made from.
    public let scores: ImportanceScores
    /// Whether plans fold removed structures' mean outputs into biases.
    public let compensatesBias: Bool
    /// The model planned.
    public let model: ModelIdentity
    /// The calibration statistics' provenance (`nil` when none were used).
    public let statisticsProvenance: (spec: CalibrationSpec, corpusChecksum: String)?

    /// Scores `weights` with `metric` once; plans then take milliseconds.
    ///
    /// - Throws: `missingStatistics` / `statisticsMismatch` from scoring.
    public init(weights: LlamaWeights, statistics: CalibrationStatistics?, metric: any ImportanceMetric,
                model: ModelIdentity) throws(PruningError) {
        configuration = weights.configuration
        accounting = ParameterAccounting(configuration: weights.configuration)
        scores = try ImportanceScores(weights: weights, statistics: statistics, metric: metric)
        compensatesBias = metric.compensatesBias
        self.model = model
        statisticsProvenance = statistics.map { ($0.spec, $0.corpusChecksum) }
    }

    /// The plan of `policy`.
    ///
    /// - Parameters:
    ///   - targetRatio: when given, the achieved ratio must be within `tolerance` of it.
    /// - Throws: `invalidRatio` (target outside [0, 1), a layer ratio outside
    ///   [0, 1]), `policyShapeMismatch`, `removesEveryHead`,
    ///   `removesEveryChannel`, `dropsEveryBlock`, `targetNotReached`.
    public func plan(_ policy: PruningPolicy, targetRatio: Double? = nil,
                     tolerance: Double = Self.defaultTolerance) throws(PruningError) -> PruningPlan {
        if let targetRatio { try Self.validateTarget(targetRatio) }
        do { try accounting.validate(policy) } catch { throw PruningError(wrapping: error) }
        var layers: [LayerPlan] = []
        for (index, (layerAccounting, layerPolicy)) in zip(accounting.layers, policy.layers).enumerated() {
            layers.append(planLayer(index, layerAccounting, layerPolicy, scores.layers[index]))
        }
        let compensates = compensatesBias && layers.contains { $0.compensatesAttentionBias || $0.compensatesMLPBias }
        let provenance: BiasCompensation? = compensates ? statisticsProvenance.map {
            BiasCompensation(metric: scores.metric,
                             statistic: "calibration mean of the output-projection and down-projection inputs of the dense model",
                             calibration: $0.spec, corpusChecksum: $0.corpusChecksum)
        } : nil
        let plan = PruningPlan(model: model, metric: scores.metric, calibration: statisticsProvenance?.spec, policy: policy,
                               targetRatio: targetRatio, layers: layers, biasCompensation: provenance)
        if let targetRatio, abs(plan.achievedRatio - targetRatio) > tolerance {
            throw PruningError(.targetNotReached,
                               "the policy achieves ratio \(plan.achievedRatio) but the target is \(targetRatio) (tolerance \(tolerance)); adjust the per-layer ratios")
        }
        return plan
    }

    /// Throws `invalidRatio` unless `0 ≤ ratio < 1` (design.md: removing everything is not pruning).
    public static func validateTarget(_ ratio: Double) throws(PruningError) {
        guard ratio.isFinite, ratio >= 0, ratio < 1 else {
            throw PruningError(.invalidRatio, "target ratio \(ratio) is outside [0, 1)")
        }
    }

    // MARK: - One block

    private func planLayer(_ index: Int, _ a: LayerAccounting, _ policy: LayerPolicy, _ importance: LayerImportance) -> LayerPlan {
        func entry(dropped: Bool, groups: [Int], heads: [Int], channels: [Int]) -> LayerPlan {
            let kept = dropped ? 0
                : a.embeddingLength * a.headDimension * (2 * heads.count + 2 * groups.count) + channels.count * a.parametersPerChannel
            return LayerPlan(layer: index, denseQueryHeads: a.queryHeads, denseKeyValueGroups: a.keyValueGroups,
                             denseFeedForwardLength: a.feedForwardLength, dropped: dropped,
                             keptGroups: groups, keptHeads: heads, keptChannels: channels,
                             compensatesAttentionBias: compensatesBias && !dropped && heads.count < a.queryHeads,
                             compensatesMLPBias: compensatesBias && !dropped && channels.count < a.feedForwardLength,
                             parametersBefore: a.blockParameters, parametersAfter: kept)
        }
        if policy.dropped { return entry(dropped: true, groups: [], heads: [], channels: []) }
        var groups: [Int] = [], heads: [Int] = []
        if a.queryHeads > 0 {
            let level = a.nearestAttentionLevel(to: policy.attentionRatio)
            (groups, heads) = chooseAttention(level.shapes, a, importance)
        }
        let channels = Self.topIndices(importance.channels, count: a.feedForwardLength - a.removedChannels(for: policy.mlpRatio))
        return entry(dropped: false, groups: groups, heads: heads, channels: channels)
    }

    /// The kept groups and heads of the best layout among `shapes` (all with the same parameter count).
    private func chooseAttention(_ shapes: [AttentionShape], _ a: LayerAccounting,
                                 _ importance: LayerImportance) -> (groups: [Int], heads: [Int]) {
        let perGroup = a.headsPerGroup
        let groupRank = (0..<a.keyValueGroups).map { g in
            importance.groups[g] + importance.heads[g * perGroup ..< (g + 1) * perGroup].reduce(0, +)
        }
        var best: (value: Double, groups: [Int], heads: [Int])?
        // `shapes` lists more groups first, so an exact tie keeps more groups.
        for shape in shapes {
            let groups = Self.topIndices(groupRank, count: shape.keptGroups)
            var heads: [Int] = []
            for g in groups {
                let local = Array(importance.heads[g * perGroup ..< (g + 1) * perGroup])
                heads += Self.topIndices(local, count: shape.headsPerGroup).map { g * perGroup + $0 }
            }
            let value = groups.reduce(0) { $0 + importance.groups[$1] } + heads.reduce(0) { $0 + importance.heads[$1] }
            if let current = best, value <= current.value { continue }
            best = (value, groups, heads)
        }
        return best.map { ($0.groups, $0.heads) } ?? ([], [])
    }

    /// Indices of the `count` highest scores, ascending; ties keep the lower
    /// index and NaN ranks lowest, so the choice is deterministic.
    static func topIndices(_ scores: [Double], count: Int) -> [Int] {
        let ranked = scores.indices.sorted { i, j in
            let a = scores[i].isNaN ? -Double.infinity : scores[i]
            let b = scores[j].isNaN ? -Double.infinity : scores[j]
            return a != b ? a > b : i < j
        }
        return Array(ranked.prefix(max(0, count))).sorted()
    }
}
