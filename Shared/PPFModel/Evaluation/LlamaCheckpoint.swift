import Foundation
import PPFTensor

// MARK: - LlamaCheckpoint

/// A LLaMA GGUF checkpoint ready to use: the fp32 model and its tokenizer.
///
/// The library side of `ppf eval` and `ppf generate`: each command is one
/// call here. Every method blocks on BLAS; call from a dedicated thread.
public struct LlamaCheckpoint: Sendable {
    /// The model.
    public let model: LlamaModel
    /// The tokenizer stored in the same file.
    public let tokenizer: any Tokenizer
    /// Where the checkpoint was read from.
    public let url: URL

    /// Opens `url`, checks and dequantizes every tensor, and builds the tokenizer.
    public static func load(contentsOf url: URL) throws -> LlamaCheckpoint {
        let file = try GGUFFile.open(url)
        let tokenizer = try TokenizerLoader.make(from: file.metadata)
        let model = try LlamaModel(weights: LlamaWeights(gguf: file))
        guard tokenizer.vocabularySize == model.configuration.vocabularySize else {
            throw ModelError(.shapeMismatch,
                             "the tokenizer has \(tokenizer.vocabularySize) tokens but the model's vocabulary is \(model.configuration.vocabularySize)")
        }
        return LlamaCheckpoint(model: model, tokenizer: tokenizer, url: url)
    }

    /// Token ids of `text` (no BOS unless the vocabulary asks for one, as llama.cpp does).
    public func tokens(of text: String) -> [Int] {
        tokenizer.encode(text).map(Int.init)
    }

    /// The first `limit` tokens of `text`, tokenizing only as much of the text as needed.
    ///
    /// Byte-level BPE works word by word, so cutting the text changes at most
    /// the last few tokens; the prefix is grown until it yields a safety margin
    /// beyond `limit`, and the tokens past `limit` are dropped.
    public func tokens(of text: String, limit: Int) -> [Int] {
        let margin = 64
        var characters = max(1024, (limit + margin) * 6)
        while true {
            guard characters < text.count else { return Array(tokens(of: text).prefix(limit)) }
            let prefix = tokens(of: String(text.prefix(characters)))
            if prefix.count >= limit + margin { return Array(prefix.prefix(limit)) }
            characters *= 2
        }
    }

    /// Perplexity on a corpus split: tokenize (only the budgeted prefix), then
    /// score with a `PerplexityEvaluator` of `windowLength`.
    public func perplexity(of split: CorpusSplit, in corpus: Corpus, tokenBudget: Int? = nil, windowLength: Int = 512,
                           progress: (any ProgressReporter)? = nil) throws -> PerplexityResult {
        let evaluator = try PerplexityEvaluator(model: model, windowLength: windowLength)
        let text = try corpus.text(of: split)
        let ids = tokenBudget.map { tokens(of: text, limit: $0) } ?? tokens(of: text)
        return try evaluator.evaluate(ids, tokenBudget: tokenBudget, progress: progress)
    }

    /// Continues `prompt` with up to `maxTokens` tokens and returns the new text.
    /// Stops at the vocabulary's end-of-sequence token.
    public func generate(_ prompt: String, maxTokens: Int, sampling: Sampling = .greedy) throws -> String {
        let promptTokens = tokens(of: prompt)
        guard !promptTokens.isEmpty else {
            throw ModelError(.emptySplit, "the prompt is empty; generation needs at least one token to continue")
        }
        // A cache sized for this request, not for the whole 8k context (30 blocks · 8192 · 2·192 floats = 377 MB).
        let capacity = min(model.configuration.contextLength, promptTokens.count + max(1, maxTokens))
        let session = try LlamaSession(model: model, capacity: capacity)
        let stop = tokenizer.specialTokens.eos.map { Set([Int($0)]) } ?? []
        let generated = try session.generate(prompt: promptTokens, maxTokens: maxTokens,
                                             stopTokens: stop, sampling: sampling)
        return tokenizer.decode(generated.map { Int32($0) })
    }
}
