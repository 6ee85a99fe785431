import PPFTensor

// MARK: - LlamaModel

/// A LLaMA decoder ready to run: validated fp32 weights plus the RoPE table.
///
/// Immutable and `Sendable`; all mutable state of a forward pass lives in a
/// `KVCache` and a `LlamaWorkspace` that the caller owns (one per thread).
/// The forward pass blocks its thread on BLAS for as long as it runs: call it
/// from a dedicated thread, not from the Swift cooperative pool.
public final class LlamaModel: Sendable {
    /// The hyperparameters.
    public let configuration: LlamaConfiguration
    /// The parameters.
    public let weights: LlamaWeights
    /// cos/sin of every rotary angle up to the context length.
    let rope: RoPETable

    /// Wraps validated weights.
    public init(weights: LlamaWeights) throws(ModelError) {
        try weights.validate()
        configuration = weights.configuration
        do {
            rope = try RoPETable(headDimension: configuration.headDimension, positions: configuration.contextLength,
                                 base: configuration.ropeFrequencyBase)
        } catch {
            throw ModelError(.invalidConfiguration, "cannot build the RoPE table: \(error.message)")
        }
        self.weights = weights
    }

    /// Throws `tokenOutOfRange` unless every token indexes the vocabulary.
    public func checkTokens(_ tokens: [Int]) throws(ModelError) {
        let vocabulary = configuration.vocabularySize
        if let bad = tokens.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw ModelError(.tokenOutOfRange, "token id \(bad) is outside the vocabulary 0..<\(vocabulary)")
        }
    }
}
