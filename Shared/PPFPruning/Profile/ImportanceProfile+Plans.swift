import Foundation
import PPFContracts
import PPFModel

extension ImportanceProfile {
    /// The profile of `builder`'s model under its metric, computed from the
    /// plans the builder makes, so the features describe exactly what a
    /// measurement prunes: one plan per attention level (every block at that
    /// level, MLPs dense) gives the kept heads and groups; the MLP curve is the
    /// cumulative share of the sorted channel scores (plans keep the top
    /// channels of each layer).
    /// - Throws: ``PruningError`` when a plan cannot be built.
    public init(builder: PlanBuilder, modelId: String) throws(PruningError) {
        let accounting = builder.accounting.layers
        let levels = accounting.map { $0.attentionLevels.filter { $0.removal < 1 } }
        let levelCount = levels.map(\.count).max() ?? 0
        var attentionKept = Array(repeating: [Double](), count: accounting.count)
        for index in 0..<levelCount {
            let policy = PruningPolicy(layers: levels.map { layerLevels in
                LayerPolicy(attentionRatio: layerLevels[min(index, layerLevels.count - 1)].removal, mlpRatio: 0)
            })
            let plan = try builder.plan(policy, targetRatio: nil)
            for (layer, layerPlan) in plan.layers.enumerated() where index < levels[layer].count {
                let scores = builder.scores.layers[layer]
                let total = Self.mass(scores.heads) + Self.mass(scores.groups)
                let kept = layerPlan.keptHeads.reduce(0.0) { $0 + max(0, scores.heads[$1]) }
                    + layerPlan.keptGroups.reduce(0.0) { $0 + max(0, scores.groups[$1]) }
                attentionKept[layer].append(total > 0 ? min(1, kept / total) : 1 - levels[layer][index].removal)
            }
        }
        var profileLayers: [Layer] = []
        for (layer, scores) in builder.scores.layers.enumerated() {
            let sorted = scores.channels.map { max(0, $0) }.sorted(by: >)
            let total = sorted.reduce(0, +)
            var cumulative = [0.0]
            cumulative.reserveCapacity(sorted.count + 1)
            var running = 0.0
            for (index, score) in sorted.enumerated() {
                running += score
                // An all-zero layer (a degenerate metric) falls back to the channel share.
                cumulative.append(total > 0 ? min(1, running / total) : Double(index + 1) / Double(sorted.count))
            }
            profileLayers.append(Layer(attentionRemoval: levels[layer].map(\.removal),
                                       attentionKept: attentionKept[layer], mlpKept: cumulative))
        }
        self.init(modelId: modelId, metric: builder.scores.metric, layers: profileLayers)
    }

    private static func mass(_ scores: [Double]) -> Double { scores.reduce(0) { $0 + max(0, $1) } }
}
