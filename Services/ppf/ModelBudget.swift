import PPFAgent
import PPFModel

/// The agent's view of a model's prunable parameters, built from the
/// checkpoint's configuration (the same shapes ``ParameterAccounting`` counts).
enum ModelBudget {
    /// The budget of `configuration`'s blocks, with block drops allowed.
    /// - Throws: ``UserFacingError`` for a model whose blocks differ in shape
    ///   (the sampler and the agent model one shape for every block).
    static func of(_ configuration: LlamaConfiguration, allowsBlockDrop: Bool = true) throws -> ParameterBudget {
        let first = configuration.block(0)
        guard configuration.blocks.allSatisfy({ $0.queryHeads == first.queryHeads
                && $0.keyValueHeads == first.keyValueHeads && $0.feedForwardLength == first.feedForwardLength }) else {
            throw UserFacingError("the model's blocks have different shapes; the policy sampler needs one shape for all blocks")
        }
        return try ParameterBudget.groupedQueryAttention(
            blocks: configuration.blockCount, hiddenSize: configuration.embeddingLength,
            queryHeads: first.queryHeads, kvHeads: first.keyValueHeads, headDimension: configuration.headDimension,
            ffnChannels: first.feedForwardLength, allowsBlockDrop: allowsBlockDrop)
    }
}
