// MARK: - TokenizerLoader

/// Builds the tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata.
public enum TokenizerLoader {
    /// The tokenizer for `metadata`. Throws ``ModelError/Code/unsupportedTokenizer``
    /// for vocabulary kinds not implemented yet (only `gpt2` byte-level BPE is).
    public static func make(from metadata: GGUFMetadata) throws -> any Tokenizer {
        let model = try metadata.string("tokenizer.ggml.model")
        switch model {
        case "gpt2":
            let tokens = try metadata.strings("tokenizer.ggml.tokens")
            let merges = try metadata.strings("tokenizer.ggml.merges")
            var types: [TokenType]?
            if metadata.contains("tokenizer.ggml.token_type") {
                types = try metadata.integers("tokenizer.ggml.token_type").map { TokenType(rawValue: Int32(clamping: $0)) ?? .undefined }
            }
            guard let pre = try metadata.stringIfPresent("tokenizer.ggml.pre") else {
                throw ModelError(.missingMetadata, "tokenizer.ggml.pre is missing, so the pre-tokenizer (digit and word splitting) is unknown; re-convert the model with a current llama.cpp")
            }
            return try BPETokenizer(tokens: tokens, types: types, merges: merges, preTokenizer: pre,
                                    specialTokens: try specialTokens(from: metadata))
        default:
            throw ModelError(.unsupportedTokenizer, "tokenizer.ggml.model '\(model)' is not supported; only 'gpt2' (byte-level BPE) is implemented")
        }
    }

    /// The special-token ids and BOS/EOS defaults in `metadata`. As in
    /// llama.cpp, a BPE vocabulary adds neither BOS nor EOS unless the file says so.
    public static func specialTokens(from metadata: GGUFMetadata) throws -> SpecialTokens {
        func id(_ key: String) throws -> Int32? {
            guard let value = try metadata.integerIfPresent(key) else { return nil }
            guard let id = Int32(exactly: value) else {
                throw ModelError(.invalidMetadata, "\(key) = \(value) is not a token id")
            }
            return id
        }
        return SpecialTokens(
            bos: try id("tokenizer.ggml.bos_token_id"),
            eos: try id("tokenizer.ggml.eos_token_id"),
            unknown: try id("tokenizer.ggml.unknown_token_id"),
            padding: try id("tokenizer.ggml.padding_token_id"),
            addBOS: try metadata.boolIfPresent("tokenizer.ggml.add_bos_token") ?? false,
            addEOS: try metadata.boolIfPresent("tokenizer.ggml.add_eos_token") ?? false
        )
    }
}
