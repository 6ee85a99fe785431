import Foundation
import PPFContracts

// MARK: - SyntheticPerformanceTask

/// A known function of a policy that stands in for measured perplexity, so the
/// predictor's ability to learn can be proved and benchmarked without a model.
///
/// It is shaped like what real LLMs show: layer importance varies with depth
/// (the first and last blocks matter most, Men et al. 2024 "ShortGPT"),
/// removing attention and MLP hurt differently and interact, heavily pruned
/// neighbouring blocks hurt more together than apart, and dropping a block
/// costs more than pruning it to nothing. With `w(l)` the depth weight and
/// `p(l) = 0.25·(1 − aₗ) + 0.75·(1 − mₗ)` the block's removed share:
///
///     log ppl = 2.6 + Σₗ w(l) · [1.2 (1 − aₗ)² + (1 − mₗ)^1.5 + 0.8 (1 − aₗ)(1 − mₗ)]
///                   + 0.8 Σₗ √(w(l) w(l+1)) · p(l) · p(l+1)
///                   + Σₗ dropped(l) · (0.3 + 2 w(l))
///     w(l)    = 0.04 + 0.5 e^(−l/2) + 0.3 e^(−(L−1−l)/2.5)
///
/// The feature spec adds one extra per-layer channel, `importanceKept`
/// (a stand-in for the importance mass a metric keeps, concave in the keep
/// ratios), and one global, `achievedRatio` (parameter-weighted, with
/// SmolLM2-135M's 1 : 3 split of attention to MLP parameters per block).
public struct SyntheticPerformanceTask: Sendable {
    /// Blocks of the synthetic model (SmolLM2-135M has 30).
    public let layerCount: Int
    /// The features the task provides.
    public let spec: FeatureSpec

    /// Name of the extra per-layer channel.
    public static let importanceKept = "importanceKept"
    /// Name of the global scalar.
    public static let achievedRatio = "achievedRatio"
    /// Share of a block's prunable parameters that are attention (SmolLM2-135M:
    /// 576·1536 attention vs 3·576·1536 MLP weights).
    static let attentionShare = 0.25

    /// A task over `layerCount` blocks.
    public init(layerCount: Int = 30) throws(PredictorError) {
        self.layerCount = layerCount
        spec = try FeatureSpec(layerCount: layerCount, extraLayerChannels: [Self.importanceKept],
                               globalChannels: [Self.achievedRatio])
    }

    // MARK: Ground truth

    /// The depth weight w(l).
    func depthWeight(_ layer: Int) -> Double {
        0.04 + 0.5 * Foundation.exp(-Double(layer) / 2) + 0.3 * Foundation.exp(-Double(layerCount - 1 - layer) / 2.5)
    }

    /// The task's true natural-log perplexity of `policy`.
    public func logPerplexity(of policy: PruningPolicy) -> Double {
        let keeps = policy.layers.map(Self.keeps)
        var total = 2.6
        for (layer, keep) in keeps.enumerated() {
            let w = depthWeight(layer)
            let da = 1 - keep.attention, dm = 1 - keep.mlp
            total += w * (1.2 * da * da + Foundation.pow(dm, 1.5) + 0.8 * da * dm)
            if policy.layers[layer].dropped { total += 0.3 + 2 * w }
            if layer + 1 < keeps.count {
                let next = keeps[layer + 1]
                total += 0.8 * (w * depthWeight(layer + 1)).squareRoot() * Self.removedShare(keep) * Self.removedShare(next)
            }
        }
        return total
    }

    /// Fraction of prunable parameters `policy` removes.
    public func achievedRatio(of policy: PruningPolicy) -> Double {
        policy.layers.map { Self.removedShare(Self.keeps($0)) }.reduce(0, +) / Double(max(1, policy.layers.count))
    }

    /// The policy's features under `spec`.
    public func features(of policy: PruningPolicy) throws(PredictorError) -> PolicyFeatures {
        let importance = policy.layers.map { layer -> Double in
            let keep = Self.keeps(layer)
            return Self.attentionShare * Foundation.pow(keep.attention, 0.6) + (1 - Self.attentionShare) * Foundation.pow(keep.mlp, 0.6)
        }
        return try PolicyFeatures(policy: policy, spec: spec,
                                  extraLayerChannels: [Self.importanceKept: importance],
                                  globals: [Self.achievedRatio: achievedRatio(of: policy)])
    }

    /// Labelled samples (ids `synthetic-<seed>-<i>`) for `policies`.
    public func samples(for policies: [PruningPolicy], idPrefix: String) throws(PredictorError) -> [TrainingSample] {
        var result: [TrainingSample] = []
        for (index, policy) in policies.enumerated() {
            result.append(TrainingSample(id: "\(idPrefix)-\(index)", features: try features(of: policy),
                                         perplexity: Foundation.exp(logPerplexity(of: policy))))
        }
        return result
    }

    private static func keeps(_ layer: LayerPolicy) -> (attention: Double, mlp: Double) {
        layer.dropped ? (0, 0) : (1 - layer.attentionRatio, 1 - layer.mlpRatio)
    }

    private static func removedShare(_ keep: (attention: Double, mlp: Double)) -> Double {
        attentionShare * (1 - keep.attention) + (1 - attentionShare) * (1 - keep.mlp)
    }

    // MARK: Policy sampling

    /// `count` diverse policies with target ratios in `ratios`, deterministic
    /// from `seed`: uniform baselines, random non-uniform allocations,
    /// depth-shaped allocations and allocations with 1–4 dropped blocks, each
    /// with its own attention/MLP split.
    public func samplePolicies(count: Int, seed: UInt64, ratios: ClosedRange<Double> = 0.05...0.7) -> [PruningPolicy] {
        var random = RandomStream(seed: seed)
        return (0..<count).map { _ in samplePolicy(ratio: random.uniform(ratios.lowerBound, ratios.upperBound), random: &random) }
    }

    /// Policies outside anything `samplePolicies` draws: uniform ratios in
    /// [0.9, 1] everywhere and a third of the blocks dropped. The ensemble
    /// should be unsure about them.
    public func extremePolicies(count: Int, seed: UInt64) -> [PruningPolicy] {
        var random = RandomStream(seed: seed)
        return (0..<count).map { index in
            if index % 2 == 0 {
                let ratio = random.uniform(0.9, 1.0)
                return PruningPolicy.uniform(blocks: layerCount, attention: ratio, mlp: ratio)
            }
            var layers = (0..<layerCount).map { _ in LayerPolicy(attentionRatio: random.uniform(0.8, 1), mlpRatio: random.uniform(0.8, 1)) }
            for layer in random.permutation(layerCount).prefix(layerCount / 3) { layers[layer].dropped = true }
            return PruningPolicy(layers: layers)
        }
    }

    private func samplePolicy(ratio: Double, random: inout RandomStream) -> PruningPolicy {
        let depths = (0..<layerCount).map { layerCount > 1 ? Double($0) / Double(layerCount - 1) : 0 }
        var dropped = Set<Int>()
        var perLayer: [Double]
        switch random.index(below: 4) {
        case 0: // uniform baseline
            perLayer = [Double](repeating: ratio, count: layerCount)
        case 1: // random non-uniform: log-normal weights around the target
            let spread = random.uniform(0.2, 0.9)
            perLayer = (0..<layerCount).map { _ in Foundation.exp(spread * random.normal()) }
        case 2: // depth-shaped: protect (or, sometimes, expose) the ends
            let power = random.uniform(0.5, 3), invert = random.uniform() < 0.25
            perLayer = depths.map { d in
                let middle = Foundation.pow(4 * d * (1 - d), power)
                return 0.05 + (invert ? 1 - middle : middle)
            }
        default: // block drops plus a non-uniform remainder
            let drops = 1 + random.index(below: 4)
            for layer in random.permutation(layerCount).prefix(drops) { dropped.insert(layer) }
            perLayer = (0..<layerCount).map { _ in Foundation.exp(0.4 * random.normal()) }
        }
        // Rescale the kept blocks so the whole policy removes about `ratio`.
        let remaining = max(0, ratio * Double(layerCount) - Double(dropped.count)) / Double(max(1, layerCount - dropped.count))
        let mean = perLayer.enumerated().filter { !dropped.contains($0.offset) }.map(\.element).reduce(0, +)
            / Double(max(1, layerCount - dropped.count))
        let split = random.uniform(-0.25, 0.25)
        let layers = perLayer.enumerated().map { layer, weight -> LayerPolicy in
            let share = min(0.95, weight / max(mean, 1e-9) * remaining)
            // Move removal between attention and MLP while keeping the block's parameter share.
            let attention = min(0.95, max(0, share + split + 0.1 * random.normal()))
            let mlp = min(0.95, max(0, (share - Self.attentionShare * attention) / (1 - Self.attentionShare)))
            return LayerPolicy(attentionRatio: attention, mlpRatio: mlp, dropped: dropped.contains(layer))
        }
        return PruningPolicy(layers: layers)
    }
}
