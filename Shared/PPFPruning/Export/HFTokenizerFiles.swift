import Foundation
import PPFModel

// MARK: - HFTokenizerFiles

/// `tokenizer.json` and `tokenizer_config.json` rebuilt from a GGUF's
/// tokenizer metadata, so an HF export is usable without the original repo.
///
/// Only GPT-2-style byte-level BPE (`tokenizer.ggml.model = gpt2`) is
/// rebuilt, with the pre-tokenizers whose HF equivalent is known:
/// `smollm` (split digits one by one, then the GPT-2 regex; SmolLM2's own
/// tokenizer.json) and `gpt-2` / `default` (the GPT-2 regex only). Any other
/// vocabulary returns `nil` with a reason, and the export writes no
/// tokenizer files rather than a wrong one. Tokens of GGUF type CONTROL (3)
/// become special added tokens, USER_DEFINED (4) non-special added tokens.
public struct HFTokenizerFiles: Sendable {
    /// The `tokenizer.json` bytes.
    public let tokenizerJSON: [UInt8]
    /// The `tokenizer_config.json` bytes.
    public let tokenizerConfigJSON: [UInt8]

    /// GGUF `tokenizer.ggml.pre` values → HF pre-tokenizer steps before the byte-level one.
    static let digitSplitting: [String: Bool] = ["smollm": true, "gpt-2": false, "default": false]

    /// The files for `metadata`, or `.failure(reason)` when this vocabulary
    /// cannot be rebuilt faithfully.
    public static func make(from metadata: GGUFMetadata, contextLength: Int) -> Result<HFTokenizerFiles, ExportError> {
        do {
            return .success(try build(metadata, contextLength: contextLength))
        } catch let error as ExportError {
            return .failure(error)
        } catch {
            return .failure(ExportError(.unexpressible, "the tokenizer metadata cannot be read: \(error)"))
        }
    }

    private static func build(_ metadata: GGUFMetadata, contextLength: Int) throws -> HFTokenizerFiles {
        let model = try metadata.stringIfPresent("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw ExportError(.unexpressible, "tokenizer.ggml.model is \(model.map { "'\($0)'" } ?? "absent"); only byte-level BPE ('gpt2') is rebuilt as tokenizer.json")
        }
        let pre = try metadata.stringIfPresent("tokenizer.ggml.pre") ?? "default"
        guard let splitDigits = digitSplitting[pre] else {
            throw ExportError(.unexpressible, "tokenizer.ggml.pre '\(pre)' has no known HF pre-tokenizer (known: \(digitSplitting.keys.sorted()))")
        }
        let tokens = try metadata.strings("tokenizer.ggml.tokens")
        let merges = try metadata.strings("tokenizer.ggml.merges")
        let types = metadata.contains("tokenizer.ggml.token_type") ? try metadata.integers("tokenizer.ggml.token_type") : []
        guard types.isEmpty || types.count == tokens.count else {
            throw ExportError(.unexpressible, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }
        guard vocabulary.count == tokens.count else {
            throw ExportError(.unexpressible, "the vocabulary repeats \(tokens.count - vocabulary.count) token string(s); tokenizer.json needs unique tokens")
        }
        let added: [[String: Any]] = types.enumerated().compactMap { id, type in
            guard type == 3 || type == 4 else { return nil }
            return ["id": id, "content": tokens[id], "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": type == 3]
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let preTokenizer: [String: Any] = splitDigits
            ? ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
            : byteLevel
        let tokenizer: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": added,
            "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer,
            "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocabulary, "merges": merges,
            ] as [String: Any],
        ]
        func token(_ key: String) throws -> String? {
            guard let id = try metadata.integerIfPresent(key), tokens.indices.contains(id) else { return nil }
            return tokens[id]
        }
        var config: [String: Any] = [
            "tokenizer_class": "GPT2Tokenizer",
            "add_bos_token": try metadata.boolIfPresent("tokenizer.ggml.add_bos_token") ?? false,
            "add_prefix_space": false,
            "clean_up_tokenization_spaces": false,
            "model_max_length": contextLength,
        ]
        config["bos_token"] = try token("tokenizer.ggml.bos_token_id")
        config["eos_token"] = try token("tokenizer.ggml.eos_token_id")
        config["unk_token"] = try token("tokenizer.ggml.unknown_token_id")
        config["pad_token"] = try token("tokenizer.ggml.padding_token_id")
        config["chat_template"] = try metadata.stringIfPresent("tokenizer.chat_template")
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        return HFTokenizerFiles(
            tokenizerJSON: [UInt8](try JSONSerialization.data(withJSONObject: tokenizer, options: options)),
            tokenizerConfigJSON: [UInt8](try JSONSerialization.data(withJSONObject: config, options: options.union(.prettyPrinted))))
    }
}
