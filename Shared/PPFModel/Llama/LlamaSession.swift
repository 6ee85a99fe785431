import PPFTensor

// MARK: - LlamaSession

/// One conversation with a model: a KV cache plus scratch space, for
/// incremental decoding and generation.
///
/// Not thread-safe and blocking (BLAS runs on the caller's thread): keep a
/// session on one dedicated thread or queue.
public final class LlamaSession {
    /// The model being run.
    public let model: LlamaModel
    /// Keys and values of every position processed so far.
    public let cache: KVCache
    let workspace: LlamaWorkspace

    /// A session able to hold `capacity` positions (default: the context length),
    /// processing at most `maximumChunk` tokens per call.
    public init(model: LlamaModel, capacity: Int? = nil, maximumChunk: Int = 512) throws(ModelError) {
        let capacity = capacity ?? model.configuration.contextLength
        self.model = model
        cache = try KVCache(configuration: model.configuration, capacity: capacity)
        workspace = try LlamaWorkspace(configuration: model.configuration,
                                       maximumTokens: min(maximumChunk, capacity), maximumKeys: capacity, logitRows: 1)
    }

    /// Positions processed so far.
    public var position: Int { cache.count }

    /// Forgets the context; the buffers are reused.
    public func reset() { cache.reset() }

    /// Appends `tokens` to the context (in chunks of at most the workspace size)
    /// and returns the logits predicting the token after the last one, (vocab).
    @discardableResult
    public func append(_ tokens: [Int]) throws(ModelError) -> [Float] {
        guard !tokens.isEmpty else {
            throw ModelError(.emptySplit, "append needs at least one token")
        }
        try model.checkTokens(tokens)
        guard tokens.count <= cache.remaining else {
            throw ModelError(.contextOverflow,
                             "\(tokens.count) tokens do not fit: \(cache.count) of \(cache.capacity) positions are used")
        }
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + workspace.maximumTokens)
            try model.forward(Array(tokens[start..<end]), cache: cache, workspace: workspace)
            start = end
        }
        let last = (tokens.count - 1) % workspace.maximumTokens
        model.headLogits(last..<(last + 1), workspace: workspace, into: workspace.logits.pointer)
        return workspace.logits.array(count: model.configuration.vocabularySize)
    }

    /// Continues the context with up to `maxTokens` new tokens.
    ///
    /// Feeds `prompt`, then repeatedly picks a token (greedy or sampled, see
    /// `Sampling`) and feeds it back. Stops after a token in `stopTokens` (which
    /// is included in the result), after `maxTokens`, or when the cache is full.
    /// - Returns: the generated tokens, without the prompt.
    public func generate(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [],
                         sampling: Sampling = .greedy) throws(ModelError) -> [Int] {
        var logits = try append(prompt)
        var sampler = TokenSampler(sampling)
        var generated: [Int] = []
        while generated.count < maxTokens {
            let token = logits.withUnsafeMutableBufferPointer { sampler.next($0.baseAddress!, count: $0.count) }
            generated.append(token)
            if stopTokens.contains(token) || cache.remaining == 0 { break }
            if generated.count < maxTokens { logits = try append([token]) }
        }
        return generated
    }
}
