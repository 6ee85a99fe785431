import PPFModel

// MARK: - PlanValidation

/// Checks that a plan (possibly read from a file or a message) fits a model
/// before anything is sliced, so bad plans give named errors, never a trap.
enum PlanValidation {
    static func check(_ plan: PruningPlan, against c: LlamaConfiguration) throws(PruningError) {
        guard plan.layers.count == c.blockCount else {
            throw PruningError(.planMismatch, "the plan has \(plan.layers.count) blocks but the model has \(c.blockCount)")
        }
        guard plan.layers.contains(where: { !$0.dropped }) else {
            throw PruningError(.dropsEveryBlock, "the plan drops every block")
        }
        for (index, layer) in plan.layers.enumerated() {
            let shape = c.block(index)
            guard layer.layer == index, layer.denseQueryHeads == shape.queryHeads,
                  layer.denseKeyValueGroups == shape.keyValueHeads, layer.denseFeedForwardLength == shape.feedForwardLength else {
                throw PruningError(.planMismatch,
                                   "plan block \(index) was made for block \(layer.layer) with \(layer.denseQueryHeads) heads / \(layer.denseKeyValueGroups) KV groups / FFN \(layer.denseFeedForwardLength), but the model's block \(index) has \(shape.queryHeads) / \(shape.keyValueHeads) / \(shape.feedForwardLength)")
            }
            guard !layer.dropped else { continue }
            try ascendingIndices(layer.keptGroups, below: shape.keyValueHeads, "KV groups", index)
            try ascendingIndices(layer.keptHeads, below: shape.queryHeads, "query heads", index)
            try ascendingIndices(layer.keptChannels, below: shape.feedForwardLength, "MLP channels", index)
            if shape.hasAttention {
                guard !layer.keptHeads.isEmpty else {
                    throw PruningError(.removesEveryHead, "plan block \(index) keeps no attention head but is not dropped")
                }
                let perGroup = shape.groupSize
                let counts = layer.keptGroups.map { g in layer.keptHeads.filter { $0 / perGroup == g }.count }
                guard layer.keptHeads.allSatisfy({ layer.keptGroups.contains($0 / perGroup) }),
                      Set(counts).count == 1 else {
                    throw PruningError(.planMismatch,
                                       "plan block \(index): kept heads \(layer.keptHeads) are not the same number of heads in each kept group \(layer.keptGroups), so the result would not be a valid GQA layer")
                }
            }
            if shape.hasMLP, layer.keptChannels.isEmpty {
                throw PruningError(.removesEveryChannel, "plan block \(index) keeps no MLP channel but is not dropped")
            }
        }
    }

    private static func ascendingIndices(_ indices: [Int], below limit: Int, _ name: String, _ layer: Int) throws(PruningError) {
        guard zip(indices, indices.dropFirst()).allSatisfy({ $0 < $1 }), indices.allSatisfy({ (0..<limit).contains($0) }) else {
            throw PruningError(.planMismatch, "plan block \(layer): kept \(name) \(indices) must be ascending, distinct and below \(limit)")
        }
    }
}
