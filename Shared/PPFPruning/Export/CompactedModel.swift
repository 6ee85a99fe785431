import PPFModel

// MARK: - CompactedModel

/// A pruned model with its dropped blocks taken out: the form every export
/// writes.
///
/// After `apply`, a block the plan dropped whole is still in the weights,
/// with no attention and no MLP (an identity). File formats have no such
/// block, so the exporter removes it and renumbers the others: the block at
/// index `sourceBlockIndices[i]` of the pruned model becomes block `i`.
/// The computation is unchanged, because an identity block adds nothing to
/// the residual stream.
public struct CompactedModel: Sendable {
    /// The weights, with only the blocks that compute something.
    public let weights: LlamaWeights
    /// For each kept block, its index in the model before compaction.
    public let sourceBlockIndices: [Int]
    /// Indices (before compaction) of the blocks that were dropped whole.
    public let removedBlockIndices: [Int]

    /// Removes every block that has neither attention nor MLP.
    ///
    /// - Throws: `unexpressible` when no block computes anything (a model of
    ///   only an embedding and a head has no GGUF or HF form), `invalidModel`
    ///   when the weights fail validation.
    public init(_ weights: LlamaWeights) throws(ExportError) {
        do {
            try weights.validate()
        } catch {
            throw ExportError(.invalidModel, "the model to export is inconsistent: \(error.message)")
        }
        let c = weights.configuration
        let kept = weights.blocks.indices.filter { weights.blocks[$0].attention != nil || weights.blocks[$0].mlp != nil }
        guard !kept.isEmpty else {
            throw ExportError(.unexpressible,
                              "every one of the \(c.blockCount) blocks was dropped; a model without blocks cannot be exported")
        }
        sourceBlockIndices = kept
        removedBlockIndices = weights.blocks.indices.filter { !kept.contains($0) }
        if removedBlockIndices.isEmpty {
            self.weights = weights
            return
        }
        do {
            let configuration = try LlamaConfiguration(
                blockCount: kept.count, embeddingLength: c.embeddingLength,
                headCounts: kept.map { c.headCounts[$0] }, keyValueHeadCounts: kept.map { c.keyValueHeadCounts[$0] },
                feedForwardLengths: kept.map { c.feedForwardLengths[$0] }, headDimension: c.headDimension,
                rmsNormEpsilon: c.rmsNormEpsilon, ropeFrequencyBase: c.ropeFrequencyBase,
                contextLength: c.contextLength, vocabularySize: c.vocabularySize)
            self.weights = try LlamaWeights(configuration: configuration, tokenEmbedding: weights.tokenEmbedding,
                                            blocks: kept.map { weights.blocks[$0] },
                                            outputNorm: weights.outputNorm, output: weights.output)
        } catch {
            throw ExportError(.invalidModel, "cannot renumber the kept blocks \(kept): \(error.message)")
        }
    }

    /// The configuration of the compacted model.
    public var configuration: LlamaConfiguration { weights.configuration }

    /// Whether every block has attention and MLP with the same head, KV-head
    /// and FFN counts: the shape HF `LlamaForCausalLM` and llama.cpp's `llama`
    /// architecture can express.
    public var isUniform: Bool {
        let blocks = configuration.blocks
        return blocks.allSatisfy { $0.hasAttention && $0.hasMLP } && Set(blocks).count == 1
    }
}
