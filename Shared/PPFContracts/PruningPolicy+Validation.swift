import Foundation

// MARK: - Validation and canonical form

extension PruningPolicy {
    /// Checks what a decoder cannot: at least one block, and every ratio a
    /// finite number in [0, 1].
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` naming the first bad block.
    public func validate() throws(EnvelopeRejection) {
        guard !layers.isEmpty else { throw .invalidPayload("the policy has no blocks") }
        for (index, layer) in layers.enumerated() {
            for (label, ratio) in [("attention", layer.attentionRatio), ("MLP", layer.mlpRatio)]
                where !(ratio.isFinite && ratio >= 0 && ratio <= 1) {
                throw .invalidPayload("block \(index) has \(label) ratio \(ratio); ratios must lie in [0, 1]")
            }
        }
    }

    /// A text key that is equal for two policies exactly when their ratios
    /// agree after rounding to `decimals` places and they drop the same
    /// blocks. A dropped block's ratios are ignored (it removes everything).
    ///
    /// The store deduplicates policies per model on this key (4 decimals:
    /// finer than one MLP channel of SmolLM2, 1/1536), and the policy
    /// sampler on a coarser one, so near-copies are not measured twice.
    public func canonicalKey(decimals: Int = 4) -> String {
        let scale = pow(10, Double(max(0, decimals)))
        func rounded(_ ratio: Double) -> Int { Int((ratio * scale).rounded()) }
        return layers.map { layer in
            layer.dropped ? "D" : "\(rounded(layer.attentionRatio)):\(rounded(layer.mlpRatio))"
        }.joined(separator: "|") + "@\(decimals)"
    }
}
