import Foundation

// MARK: - ImportanceProfile

/// How much of each layer's importance (under one metric, from calibration)
/// a policy keeps: the predictor's cheap plan-derived features.
///
/// A plan keeps the highest-scoring heads, KV groups and MLP channels of each
/// layer, so the share of a layer's score mass it retains is a far more
/// direct measure of damage than the ratio alone: 20 % of the channels of one
/// layer may hold 5 % of its importance, of another 40 %. The profile stores,
/// per layer, the retained share at every attention level the layout allows
/// and after keeping the top `k` MLP channels for every `k`. Looking a policy
/// up is a few array reads per layer (microseconds), so the predictor and the
/// agent can featurise millions of policies.
///
/// The evaluator computes it once per (model, metric) from the same plan
/// builder its measurements use and stores it; the predictor embeds it in
/// each version it trains.
public struct ImportanceProfile: Codable, Sendable, Hashable {
    /// One layer's retained-importance curves.
    public struct Layer: Codable, Sendable, Hashable {
        /// Attention removal levels the layout allows, ascending from 0 (dense) (what
        /// `LayerAccounting.attentionLevels` lists, without the full removal).
        public var attentionRemoval: [Double]
        /// Share of the layer's attention score mass kept at each level (1 at removal 0).
        public var attentionKept: [Double]
        /// `mlpKept[k]`: share of the layer's MLP channel score mass in its top `k`
        /// channels; `mlpKept.count` is the channel count + 1.
        public var mlpKept: [Double]

        /// Creates a layer's curves.
        public init(attentionRemoval: [Double], attentionKept: [Double], mlpKept: [Double]) {
            self.attentionRemoval = attentionRemoval
            self.attentionKept = attentionKept
            self.mlpKept = mlpKept
        }

        /// Share of attention importance kept at `ratio`: the level nearest the
        /// ratio, as the planner chooses it (ties keep more).
        public func attentionImportanceKept(ratio: Double) -> Double {
            guard var best = attentionRemoval.indices.first else { return 0 }
            for index in attentionRemoval.indices.dropFirst()
                where abs(attentionRemoval[index] - ratio) < abs(attentionRemoval[best] - ratio) - 1e-12 {
                best = index
            }
            // Nearer full removal than to the last partial level: nothing is kept.
            if abs(1 - ratio) < abs(attentionRemoval[best] - ratio) - 1e-12 { return 0 }
            return attentionKept[best]
        }

        /// Share of MLP importance kept at `ratio`: `round(ratio·F)` channels removed, as the planner does.
        public func mlpImportanceKept(ratio: Double) -> Double {
            let channels = mlpKept.count - 1
            guard channels > 0 else { return 0 }
            let removed = min(channels, max(0, Int((ratio * Double(channels)).rounded())))
            return mlpKept[channels - removed]
        }
    }

    /// The model the scores were computed on.
    public var modelId: String
    /// The importance metric (`flap`, `wanda-sp`, `magnitude`).
    public var metric: String
    /// One entry per block.
    public var layers: [Layer]

    /// Creates a profile.
    public init(modelId: String, metric: String, layers: [Layer]) {
        self.modelId = modelId
        self.metric = metric
        self.layers = layers
    }

    /// Checks the curves are well formed: matching lengths, shares in [0, 1].
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` naming the first bad layer.
    public func validate() throws(EnvelopeRejection) {
        guard !layers.isEmpty else { throw .invalidPayload("the importance profile has no layers") }
        for (index, layer) in layers.enumerated() {
            guard !layer.attentionRemoval.isEmpty, layer.attentionRemoval.count == layer.attentionKept.count,
                  layer.mlpKept.count >= 2 else {
                throw .invalidPayload("layer \(index) of the importance profile has mismatched or empty curves")
            }
            for value in layer.attentionKept + layer.mlpKept + layer.attentionRemoval
                where !(value.isFinite && value >= -1e-9 && value <= 1 + 1e-9) {
                throw .invalidPayload("layer \(index) of the importance profile has value \(value) outside [0, 1]")
            }
        }
    }

    /// Per-layer retained importance of `policy`: attention and MLP shares
    /// (0 and 0 for a dropped block).
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the block counts differ.
    public func retained(by policy: PruningPolicy) throws(EnvelopeRejection) -> (attention: [Double], mlp: [Double]) {
        guard policy.layers.count == layers.count else {
            throw .invalidPayload("the policy has \(policy.layers.count) blocks but the importance profile \(layers.count)")
        }
        var attention: [Double] = [], mlp: [Double] = []
        attention.reserveCapacity(layers.count)
        mlp.reserveCapacity(layers.count)
        for (layer, choice) in zip(layers, policy.layers) {
            attention.append(choice.dropped ? 0 : layer.attentionImportanceKept(ratio: choice.attentionRatio))
            mlp.append(choice.dropped ? 0 : layer.mlpImportanceKept(ratio: choice.mlpRatio))
        }
        return (attention, mlp)
    }
}
