// MARK: - LlamaConfiguration from GGUF metadata

extension LlamaConfiguration {
    /// Reads the `llama.*` hyperparameters of a GGUF file, through the same
    /// key names (`CodingKeys`) and the same validation as `init(from:)`.
    ///
    /// The vocabulary size is `llama.vocab_size` when present, otherwise the
    /// length of `tokenizer.ggml.tokens`, otherwise the embedding's row count.
    ///
    /// Besides `llama`, the `deci` architecture is read (its keys are
    /// `deci.*`): it is llama.cpp's per-layer LLaMA (Llama-3.1-Nemotron), the
    /// only one whose loader honours per-layer head and FFN counts, so
    /// non-uniformly pruned models are exported with it. Its block semantics
    /// are this type's: 0 query heads means no attention sublayer, FFN
    /// length 0 no MLP sublayer.
    public init(metadata source: GGUFMetadata, tensors: [GGUFTensorInfo] = []) throws {
        let architecture = try source.stringIfPresent("general.architecture") ?? "llama"
        guard Self.ggufArchitectures.contains(architecture) else {
            throw ModelError(.invalidConfiguration,
                             "general.architecture is '\(architecture)'; only \(Self.ggufArchitectures.map { "'\($0)'" }.joined(separator: " and ")) checkpoints are supported")
        }
        let metadata = architecture == "llama" ? source : Self.renamingPrefix(of: source, from: "\(architecture).", to: "llama.")
        let blockCount = try metadata.integer(CodingKeys.blockCount.rawValue)
        guard blockCount > 0 else {
            throw ModelError(.invalidConfiguration, "\(CodingKeys.blockCount.rawValue) is \(blockCount); a model needs at least one block")
        }
        // Checked before per-layer arrays of that length are built from it.
        guard blockCount <= Limits.blockCount else {
            throw ModelError(.invalidConfiguration, "\(CodingKeys.blockCount.rawValue) \(blockCount) exceeds PPF's limit of \(Limits.blockCount)")
        }
        func perLayer(_ key: CodingKeys) throws -> [Int]? {
            metadata.contains(key.rawValue) ? try metadata.integerPerLayer(key.rawValue, count: blockCount) : nil
        }
        let vocabularySize: Int
        if let size = try metadata.integerIfPresent(CodingKeys.vocabularySize.rawValue) {
            vocabularySize = size
        } else if metadata.contains("tokenizer.ggml.tokens") {
            vocabularySize = try metadata.array("tokenizer.ggml.tokens").count
        } else if let embedding = tensors.first(where: { $0.name == LlamaTensorName.tokenEmbedding }) {
            vocabularySize = embedding.rowCount
        } else {
            throw ModelError(.missingMetadata, "the vocabulary size is unknown: no llama.vocab_size, tokenizer.ggml.tokens or token_embd.weight")
        }
        let headDimension = try metadata.integerIfPresent(CodingKeys.headDimension.rawValue)
        if let value = try metadata.integerIfPresent(CodingKeys.valueDimension.rawValue), value != headDimension {
            throw ModelError(.invalidConfiguration,
                             "\(CodingKeys.valueDimension.rawValue) \(value) differs from key_length \(String(describing: headDimension)); only equal K and V head sizes are supported")
        }
        try self.init(
            blockCount: blockCount,
            embeddingLength: metadata.integer(CodingKeys.embeddingLength.rawValue),
            headCounts: perLayer(.headCounts) ?? metadata.integerPerLayer(CodingKeys.headCounts.rawValue, count: blockCount),
            keyValueHeadCounts: perLayer(.keyValueHeadCounts),
            feedForwardLengths: perLayer(.feedForwardLengths)
                ?? metadata.integerPerLayer(CodingKeys.feedForwardLengths.rawValue, count: blockCount),
            headDimension: headDimension,
            rmsNormEpsilon: Float(metadata.doubleIfPresent(CodingKeys.rmsNormEpsilon.rawValue) ?? 1e-5),
            ropeFrequencyBase: Float(metadata.doubleIfPresent(CodingKeys.ropeFrequencyBase.rawValue) ?? 10_000),
            contextLength: metadata.integer(CodingKeys.contextLength.rawValue),
            vocabularySize: vocabularySize)
        if let rotated = try metadata.integerIfPresent(CodingKeys.ropeDimensionCount.rawValue), rotated != self.headDimension {
            throw ModelError(.invalidConfiguration,
                             "\(CodingKeys.ropeDimensionCount.rawValue) \(rotated) differs from the head size \(self.headDimension); partial rotary embeddings are not supported")
        }
    }

    /// The GGUF architectures read as a LLaMA configuration.
    public static let ggufArchitectures = ["llama", "deci"]

    /// `metadata` with every key starting with `prefix` renamed to start with `replacement`.
    private static func renamingPrefix(of metadata: GGUFMetadata, from prefix: String, to replacement: String) -> GGUFMetadata {
        GGUFMetadata(metadata.entries.map { entry in
            guard entry.key.hasPrefix(prefix) else { return entry }
            return GGUFMetadata.Entry(key: replacement + entry.key.dropFirst(prefix.count), value: entry.value)
        })
    }
}
