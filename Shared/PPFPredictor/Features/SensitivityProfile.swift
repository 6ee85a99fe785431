import Foundation
import PPFContracts

// MARK: - SensitivityProfile

/// The model's measured response to pruning one block at a time (issue 13):
/// for every block, how much the log-perplexity rises when only that block's
/// attention is pruned (at a few levels), when only its MLP is pruned (at a
/// few levels), and when the block is dropped, every other block dense.
///
/// It grounds the predictor everywhere: the *additive estimate* of a policy
/// is the dense log-perplexity plus, per block, the interpolated rise of its
/// attention ratio plus that of its MLP ratio (the drop's rise for a dropped
/// block). That estimate holds for any policy, also far from the measured
/// ones; the network only learns the interactions the sum misses (the
/// residual), and reads the per-block rises as features.
///
/// A profile is not a separate measurement type: it is read from the
/// measurements of a regime, out of the policies with exactly one non-dense
/// block (``probe(_:)``) and the dense policy. The probes that built it are
/// not training samples of the residual, so held-out metrics never score a
/// policy the profile already knows exactly.
public struct SensitivityProfile: Codable, Sendable, Hashable {
    /// A measured rise of log-perplexity against a ratio, through (0, 0).
    public struct Curve: Codable, Sendable, Hashable {
        /// Measured ratios, ascending, without 0.
        public let ratios: [Double]
        /// The rise at each ratio (log-perplexity minus the dense model's).
        public let rises: [Double]

        /// Creates a curve from points in any order; repeated ratios are averaged.
        public init(points: [(ratio: Double, rise: Double)]) {
            let grouped = Dictionary(grouping: points.filter { $0.ratio > 0 }, by: { $0.ratio })
            let ratios = grouped.keys.sorted()
            self.ratios = ratios
            self.rises = ratios.map { ratio in
                let values = grouped[ratio]?.map { $0.rise } ?? []
                return values.reduce(0, +) / Double(max(values.count, 1))
            }
        }

        /// Decodes a curve, refusing one that ``rise(at:)`` could not read
        /// (a crafted artifact): counts that differ, ratios not ascending in
        /// (0, 1], a value that is not finite.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let ratios = try container.decode([Double].self, forKey: .ratios)
            let rises = try container.decode([Double].self, forKey: .rises)
            guard ratios.count == rises.count, rises.allSatisfy(\.isFinite),
                  zip([0] + ratios, ratios).allSatisfy({ $0 < $1 }), (ratios.last ?? 0) <= 1 else {
                throw PredictorError(.invalidArtifact,
                                     "a sensitivity curve needs as many rises as ratios, ratios ascending in (0, 1] and finite rises")
            }
            self.ratios = ratios
            self.rises = rises
        }

        /// The rise at `ratio`: piecewise linear through (0, 0) and the
        /// measured points; beyond the last point the last segment's slope
        /// continues (never falling, so pruning more is never predicted to help).
        public func rise(at ratio: Double) -> Double {
            guard ratio > 0, let lastRatio = ratios.last, let lastRise = rises.last else { return 0 }
            var previous = (ratio: 0.0, rise: 0.0)
            for (r, value) in zip(ratios, rises) {
                if ratio <= r {
                    let t = (ratio - previous.ratio) / (r - previous.ratio)
                    return previous.rise + t * (value - previous.rise)
                }
                previous = (r, value)
            }
            let before = ratios.count >= 2 ? (ratios[ratios.count - 2], rises[rises.count - 2]) : (0.0, 0.0)
            let slope = max(0, (lastRise - before.1) / (lastRatio - before.0))
            return lastRise + slope * (ratio - lastRatio)
        }
    }

    /// One block's curves.
    public struct Block: Codable, Sendable, Hashable {
        /// The rise when only this block's attention is pruned.
        public let attention: Curve
        /// The rise when only this block's MLP is pruned.
        public let mlp: Curve
        /// The rise when this block alone is dropped (nil: never measured;
        /// then a drop is estimated as attention and MLP both pruned whole).
        public let drop: Double?
    }

    /// What a single-block policy probes.
    public enum Probe: Sendable, Hashable {
        /// The dense policy.
        case dense
        /// Only `block`'s attention pruned, at `ratio`.
        case attention(block: Int, ratio: Double)
        /// Only `block`'s MLP pruned, at `ratio`.
        case mlp(block: Int, ratio: Double)
        /// Only `block` dropped.
        case drop(block: Int)
    }

    /// The dense model's log-perplexity in the profile's regime.
    public let denseLogPerplexity: Double
    /// One entry per block.
    public let blocks: [Block]

    /// Decodes a profile, refusing a non-finite dense value or drop rise.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        denseLogPerplexity = try container.decode(Double.self, forKey: .denseLogPerplexity)
        blocks = try container.decode([Block].self, forKey: .blocks)
        guard denseLogPerplexity.isFinite, !blocks.isEmpty, blocks.allSatisfy({ $0.drop?.isFinite ?? true }) else {
            throw PredictorError(.invalidArtifact, "a sensitivity profile needs a finite dense value, blocks and finite drop rises")
        }
    }

    /// What `policy` probes, or nil when it is not a profile probe (two
    /// blocks pruned, or one block's attention and MLP both pruned).
    public static func probe(_ policy: PruningPolicy) -> Probe? {
        let pruned = policy.layers.indices.filter { index in
            let layer = policy.layers[index]
            return layer.dropped || layer.attentionRatio > 0 || layer.mlpRatio > 0
        }
        guard let block = pruned.first else { return .dense }
        guard pruned.count == 1 else { return nil }
        let layer = policy.layers[block]
        if layer.dropped { return .drop(block: block) }
        if layer.mlpRatio == 0 { return .attention(block: block, ratio: layer.attentionRatio) }
        if layer.attentionRatio == 0 { return .mlp(block: block, ratio: layer.mlpRatio) }
        return nil
    }

    /// Reads a profile out of measured policies (policy and natural-log
    /// perplexity, one regime), or nil when they do not cover the model: the
    /// dense policy and, for each of `layerCount` blocks, at least one
    /// attention and one MLP probe must be among them. Repeated measurements
    /// of a probe are averaged; policies that are not probes are ignored.
    public init?(measured: [(policy: PruningPolicy, logPerplexity: Double)], layerCount: Int) {
        var dense: [Double] = []
        var attention = [[(ratio: Double, log: Double)]](repeating: [], count: layerCount)
        var mlp = [[(ratio: Double, log: Double)]](repeating: [], count: layerCount)
        var drops = [[Double]](repeating: [], count: layerCount)
        for (policy, log) in measured where policy.layers.count == layerCount && log.isFinite {
            switch Self.probe(policy) {
            case .dense: dense.append(log)
            case .attention(let block, let ratio): attention[block].append((ratio, log))
            case .mlp(let block, let ratio): mlp[block].append((ratio, log))
            case .drop(let block): drops[block].append(log)
            case nil: break
            }
        }
        guard layerCount > 0, !dense.isEmpty, attention.allSatisfy({ !$0.isEmpty }), mlp.allSatisfy({ !$0.isEmpty })
        else { return nil }
        let base = dense.reduce(0, +) / Double(dense.count)
        denseLogPerplexity = base
        blocks = (0..<layerCount).map { block in
            Block(attention: Curve(points: attention[block].map { ($0.ratio, $0.log - base) }),
                  mlp: Curve(points: mlp[block].map { ($0.ratio, $0.log - base) }),
                  drop: drops[block].isEmpty ? nil : drops[block].reduce(0, +) / Double(drops[block].count) - base)
        }
    }

    /// Each block's estimated rise under `policy` (attention rise plus MLP
    /// rise; the drop's rise for a dropped block).
    /// - Throws: `layerCountMismatch` for a policy of another model.
    public func blockRises(_ policy: PruningPolicy) throws(PredictorError) -> [Double] {
        guard policy.layers.count == blocks.count else {
            throw PredictorError(.layerCountMismatch,
                                 "the policy has \(policy.layers.count) layers but the sensitivity profile covers \(blocks.count)")
        }
        return zip(policy.layers, blocks).map { layer, block in
            if layer.dropped { return block.drop ?? (block.attention.rise(at: 1) + block.mlp.rise(at: 1)) }
            return block.attention.rise(at: layer.attentionRatio) + block.mlp.rise(at: layer.mlpRatio)
        }
    }

    /// The additive estimate of `policy`'s log-perplexity: the dense one plus every block's rise.
    /// - Throws: `layerCountMismatch` for a policy of another model.
    public func estimate(_ policy: PruningPolicy) throws(PredictorError) -> Double {
        denseLogPerplexity + (try blockRises(policy)).reduce(0, +)
    }

    /// How well the additive estimate alone predicts `samples` (featurised
    /// with this profile): the floor the learned residual has to improve on.
    /// - Throws: `missingChannel` when the samples' features do not read a
    ///   sensitivity profile; what ``RankingMetrics`` throws for fewer than 2 samples.
    public func evaluate(on samples: [TrainingSample]) throws(PredictorError) -> RankingMetrics {
        try RankingMetrics(predictedLogPerplexity: try additiveEstimates(of: samples),
                           measuredLogPerplexity: samples.map(\.logPerplexity))
    }

    /// The additive estimate of each sample's log-perplexity (the dense
    /// model's plus the sum of its blocks' interpolated increments).
    /// - Throws: `missingChannel` for a sample featurised without a sensitivity profile.
    public func additiveEstimates(of samples: [TrainingSample]) throws(PredictorError) -> [Double] {
        var estimates: [Double] = []
        for sample in samples {
            guard sample.features.spec.usesSensitivity else {
                throw PredictorError(.missingChannel, "sample '\(sample.id)' was not featurised with a sensitivity profile")
            }
            estimates.append(denseLogPerplexity + sample.features.additiveOffset)
        }
        return estimates
    }

    /// Probes it was read from, per kind: attention and MLP points over all blocks, and drops.
    public var coverage: (attention: Int, mlp: Int, drops: Int) {
        (blocks.reduce(0) { $0 + $1.attention.ratios.count }, blocks.reduce(0) { $0 + $1.mlp.ratios.count },
         blocks.filter { $0.drop != nil }.count)
    }
}
