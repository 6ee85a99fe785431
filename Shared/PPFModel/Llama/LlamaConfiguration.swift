// MARK: - LlamaConfiguration

/// The hyperparameters of a LLaMA-family decoder, named as in GGUF (`llama.*`).
///
/// Follows the LLaMA architecture (Touvron et al. 2023): pre-norm blocks of
/// grouped-query attention with rotary positions and a SwiGLU MLP, RMSNorm,
/// and an output head that may be tied to the token embedding.
///
/// **Per-layer shapes.** GGUF allows `attention.head_count`,
/// `attention.head_count_kv` and `feed_forward_length` to be arrays with one
/// value per block; a non-uniformly pruned model uses that. Following
/// llama.cpp (its `deci` graph, for Llama-3.1-Nemotron), a block whose query
/// head count is 0 has **no attention sublayer** (no `attn_norm`, `attn_q/k/v/output`
/// tensors; the residual passes through), and a block whose FFN length is 0
/// has **no MLP sublayer** (no `ffn_norm`, `ffn_gate/up/down`). A block with
/// both is dropped whole: it is an identity. A block with query heads but 0
/// KV heads (Nemotron's "linear attention") is refused.
///
/// **Head size.** `attention.key_length` when present; otherwise
/// `embedding_length / head_count`, which needs the same non-zero head count
/// in every block (a pruned model must therefore write `key_length`).
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    /// The shape of one block, derived from the per-layer arrays.
    public struct Block: Sendable, Equatable, Hashable {
        /// Query heads; 0 means the block has no attention sublayer.
        public let queryHeads: Int
        /// Key/value heads (GQA groups); 0 exactly when `queryHeads` is 0.
        public let keyValueHeads: Int
        /// MLP intermediate width; 0 means the block has no MLP sublayer.
        public let feedForwardLength: Int

        /// Whether the block has an attention sublayer.
        public var hasAttention: Bool { queryHeads > 0 }
        /// Whether the block has an MLP sublayer.
        public var hasMLP: Bool { feedForwardLength > 0 }
        /// Query heads that share one KV head.
        public var groupSize: Int { keyValueHeads > 0 ? queryHeads / keyValueHeads : 0 }
    }

    /// Number of transformer blocks, including dropped ones (`block_count`).
    public let blockCount: Int
    /// Model width `d` (`embedding_length`).
    public let embeddingLength: Int
    /// Per-block query heads (`attention.head_count`).
    public let headCounts: [Int]
    /// Per-block key/value heads (`attention.head_count_kv`; defaults to `headCounts`).
    public let keyValueHeadCounts: [Int]
    /// Per-block MLP width (`feed_forward_length`).
    public let feedForwardLengths: [Int]
    /// Size of one attention head `hd` (`attention.key_length`).
    public let headDimension: Int
    /// RMSNorm epsilon (`attention.layer_norm_rms_epsilon`; default 1e-5).
    public let rmsNormEpsilon: Float
    /// RoPE frequency base (`rope.freq_base`; default 10 000, LLaMA's original value).
    public let ropeFrequencyBase: Float
    /// Longest sequence the model was trained for (`context_length`).
    public let contextLength: Int
    /// Number of tokens (`vocab_size`; in GGUF usually the token list's length).
    public let vocabularySize: Int

    /// The GGUF metadata key of every field.
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case blockCount = "llama.block_count"
        case embeddingLength = "llama.embedding_length"
        case headCounts = "llama.attention.head_count"
        case keyValueHeadCounts = "llama.attention.head_count_kv"
        case feedForwardLengths = "llama.feed_forward_length"
        case headDimension = "llama.attention.key_length"
        case valueDimension = "llama.attention.value_length"
        case ropeDimensionCount = "llama.rope.dimension_count"
        case rmsNormEpsilon = "llama.attention.layer_norm_rms_epsilon"
        case ropeFrequencyBase = "llama.rope.freq_base"
        case contextLength = "llama.context_length"
        case vocabularySize = "llama.vocab_size"
    }

    // MARK: - Creation

    /// Creates and validates a configuration.
    ///
    /// - Parameters:
    ///   - headCounts, keyValueHeadCounts, feedForwardLengths: one value per
    ///     block, or a single value broadcast to every block.
    ///   - headDimension: `nil` derives it as `embeddingLength / headCount`
    ///     (uniform head counts only).
    public init(
        blockCount: Int, embeddingLength: Int,
        headCounts: [Int], keyValueHeadCounts: [Int]? = nil, feedForwardLengths: [Int],
        headDimension: Int? = nil, rmsNormEpsilon: Float = 1e-5, ropeFrequencyBase: Float = 10_000,
        contextLength: Int, vocabularySize: Int
    ) throws(ModelError) {
        guard blockCount > 0, embeddingLength > 0, contextLength > 0, vocabularySize > 0 else {
            throw ModelError(.invalidConfiguration,
                             "block_count (\(blockCount)), embedding_length (\(embeddingLength)), context_length (\(contextLength)) and vocabulary size (\(vocabularySize)) must all be positive")
        }
        // Sizes from a file allocate tables (RoPE, KV cache, workspaces):
        // bound them before anything multiplies them.
        let limits: [(String, Int, Int)] = [
            (CodingKeys.blockCount.rawValue, blockCount, Limits.blockCount),
            (CodingKeys.embeddingLength.rawValue, embeddingLength, Limits.embeddingLength),
            (CodingKeys.contextLength.rawValue, contextLength, Limits.contextLength),
            (CodingKeys.vocabularySize.rawValue, vocabularySize, Limits.vocabularySize),
            (CodingKeys.headDimension.rawValue, headDimension ?? 1, Limits.headDimension),
        ] + (headCounts + (keyValueHeadCounts ?? [])).map { (CodingKeys.headCounts.rawValue, $0, Limits.headCount) }
          + feedForwardLengths.map { (CodingKeys.feedForwardLengths.rawValue, $0, Limits.feedForwardLength) }
        for (key, value, limit) in limits where value > limit {
            throw ModelError(.invalidConfiguration, "\(key) \(value) exceeds PPF's limit of \(limit)")
        }
        let heads = try Self.perLayer(headCounts, blockCount, CodingKeys.headCounts)
        var kvHeads = try Self.perLayer(keyValueHeadCounts ?? heads, blockCount, CodingKeys.keyValueHeadCounts)
        let ffn = try Self.perLayer(feedForwardLengths, blockCount, CodingKeys.feedForwardLengths)
        for layer in 0..<blockCount {
            guard heads[layer] >= 0, kvHeads[layer] >= 0, ffn[layer] >= 0 else {
                throw ModelError(.invalidConfiguration, "block \(layer) has a negative head count or FFN length")
            }
            if heads[layer] == 0 {
                // No attention sublayer: the KV count of a broadcast scalar is meaningless here.
                kvHeads[layer] = 0
                continue
            }
            guard kvHeads[layer] > 0 else {
                throw ModelError(.invalidConfiguration,
                                 "block \(layer) has \(heads[layer]) query heads but no KV heads (linear attention is not supported)")
            }
            guard heads[layer] % kvHeads[layer] == 0 else {
                throw ModelError(.invalidConfiguration,
                                 "block \(layer): \(heads[layer]) query heads do not split into \(kvHeads[layer]) KV groups")
            }
        }
        let resolvedHeadDimension: Int
        if let headDimension {
            resolvedHeadDimension = headDimension
        } else {
            let distinct = Set(heads.filter { $0 > 0 })
            guard distinct.count == 1, let headCount = distinct.first, embeddingLength % headCount == 0 else {
                throw ModelError(.invalidConfiguration,
                                 "cannot derive the head size: \(CodingKeys.headDimension.rawValue) is absent and head counts \(Set(heads).sorted()) are not one value dividing embedding_length \(embeddingLength)")
            }
            resolvedHeadDimension = embeddingLength / headCount
        }
        guard resolvedHeadDimension > 0, resolvedHeadDimension % 2 == 0 else {
            throw ModelError(.invalidConfiguration, "head size \(resolvedHeadDimension) must be positive and even (RoPE rotates pairs)")
        }
        guard rmsNormEpsilon > 0, rmsNormEpsilon.isFinite, ropeFrequencyBase > 0, ropeFrequencyBase.isFinite else {
            throw ModelError(.invalidConfiguration,
                             "rms epsilon (\(rmsNormEpsilon)) and rope.freq_base (\(ropeFrequencyBase)) must be positive and finite")
        }
        self.blockCount = blockCount
        self.embeddingLength = embeddingLength
        self.headCounts = heads
        self.keyValueHeadCounts = kvHeads
        self.feedForwardLengths = ffn
        self.headDimension = resolvedHeadDimension
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeFrequencyBase = ropeFrequencyBase
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }

    /// Upper bounds on every size a configuration takes from a file, far above
    /// any released LLaMA-family model (Llama 3.1 405B: 126 blocks, width
    /// 16384, 131072 positions; Gemma: 262144 tokens), so a crafted header
    /// fails with `invalidConfiguration` instead of allocating without end or
    /// overflowing a product.
    public enum Limits {
        public static let blockCount = 1_024
        public static let embeddingLength = 65_536
        public static let contextLength = 1 << 20
        public static let vocabularySize = 1 << 21
        public static let headCount = 1_024
        public static let headDimension = 1_024
        public static let feedForwardLength = 1 << 18
    }

    /// Expands a scalar to one value per block, or checks an array's length.
    private static func perLayer(_ values: [Int], _ blockCount: Int, _ key: CodingKeys) throws(ModelError) -> [Int] {
        if values.count == 1 { return Array(repeating: values[0], count: blockCount) }
        guard values.count == blockCount else {
            throw ModelError(.invalidConfiguration,
                             "\(key.rawValue) has \(values.count) values but the model has \(blockCount) blocks")
        }
        return values
    }

    // MARK: - Derived shapes

    /// The shape of block `layer`.
    public func block(_ layer: Int) -> Block {
        Block(queryHeads: headCounts[layer], keyValueHeads: keyValueHeadCounts[layer],
              feedForwardLength: feedForwardLengths[layer])
    }

    /// Every block's shape, in order.
    public var blocks: [Block] { (0..<blockCount).map(block) }

    /// Widest query projection of any block (`max q · hd`), for scratch buffers.
    public var maximumQueryWidth: Int { (headCounts.max() ?? 0) * headDimension }
    /// Widest key/value projection of any block (`max kv · hd`).
    public var maximumKeyValueWidth: Int { (keyValueHeadCounts.max() ?? 0) * headDimension }
    /// Widest MLP of any block.
    public var maximumFeedForwardLength: Int { feedForwardLengths.max() ?? 0 }

    // MARK: - Codable

    /// Decodes from GGUF-named keys; per-layer values may be a number or an array.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func perLayer(_ key: CodingKeys) throws -> [Int]? {
            guard container.contains(key) else { return nil }
            if let scalar = try? container.decode(Int.self, forKey: key) { return [scalar] }
            return try container.decode([Int].self, forKey: key)
        }
        let headDimension = try container.decodeIfPresent(Int.self, forKey: .headDimension)
        if let value = try container.decodeIfPresent(Int.self, forKey: .valueDimension), value != headDimension {
            throw ModelError(.invalidConfiguration,
                             "\(CodingKeys.valueDimension.rawValue) \(value) differs from key_length \(String(describing: headDimension)); only equal K and V head sizes are supported")
        }
        try self.init(
            blockCount: container.decode(Int.self, forKey: .blockCount),
            embeddingLength: container.decode(Int.self, forKey: .embeddingLength),
            headCounts: perLayer(.headCounts) ?? [],
            keyValueHeadCounts: perLayer(.keyValueHeadCounts),
            feedForwardLengths: perLayer(.feedForwardLengths) ?? [],
            headDimension: headDimension,
            rmsNormEpsilon: container.decodeIfPresent(Float.self, forKey: .rmsNormEpsilon) ?? 1e-5,
            ropeFrequencyBase: container.decodeIfPresent(Float.self, forKey: .ropeFrequencyBase) ?? 10_000,
            contextLength: container.decode(Int.self, forKey: .contextLength),
            vocabularySize: container.decode(Int.self, forKey: .vocabularySize))
        if let rotated = try container.decodeIfPresent(Int.self, forKey: .ropeDimensionCount), rotated != self.headDimension {
            throw ModelError(.invalidConfiguration,
                             "\(CodingKeys.ropeDimensionCount.rawValue) \(rotated) differs from the head size \(self.headDimension); partial rotary embeddings are not supported")
        }
    }

    /// Encodes with GGUF-named keys; per-layer values are always arrays.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(blockCount, forKey: .blockCount)
        try container.encode(embeddingLength, forKey: .embeddingLength)
        try container.encode(headCounts, forKey: .headCounts)
        try container.encode(keyValueHeadCounts, forKey: .keyValueHeadCounts)
        try container.encode(feedForwardLengths, forKey: .feedForwardLengths)
        try container.encode(headDimension, forKey: .headDimension)
        try container.encode(rmsNormEpsilon, forKey: .rmsNormEpsilon)
        try container.encode(ropeFrequencyBase, forKey: .ropeFrequencyBase)
        try container.encode(contextLength, forKey: .contextLength)
        try container.encode(vocabularySize, forKey: .vocabularySize)
    }
}
