import Foundation
import PPFModel

/// A tiny random LLaMA (4 blocks, 4 query heads in 2 KV groups, FFN 128,
/// context 256) written as GGUF with a byte-level BPE tokenizer, plus a small
/// corpus and a calibration cache folder: everything the pruner and
/// model-host need to run in a test in milliseconds per request, with no
/// download. Integration tests start services on it; workflow tests load it in-process.
public struct TinyModel: Sendable {
    public static let blocks = 4
    public static let fileName = "tiny-llama.gguf"

    /// The folder holding the model, `corpus/` and `calibration/`.
    public let folder: URL
    /// The deployment id the services are started with (unique per test).
    public let modelId: String

    /// Writes the model (weights from `seed`) and the corpus into a fresh temporary folder.
    public static func make(seed: UInt64 = 11) throws -> TinyModel {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-tiny-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("corpus"), withIntermediateDirectories: true)
        let vocabulary = Self.vocabulary
        let configuration = try LlamaConfiguration(
            blockCount: blocks, embeddingLength: 64, headCounts: [4], keyValueHeadCounts: [2], feedForwardLengths: [128],
            headDimension: 16, rmsNormEpsilon: 1e-5, ropeFrequencyBase: 10_000, contextLength: 256,
            vocabularySize: vocabulary.tokens.count)
        let weights = try LlamaWeights.random(configuration: configuration, seed: seed)
        try weights.makeGGUFWriter(baseMetadata: tokenizerMetadata(name: "PPF tiny test model")).write(to: folder.appendingPathComponent(fileName))
        for split in ["calibration", "validation", "test"] {
            try Self.text(words: 6000, seed: split.utf8.reduce(seed) { $0 &* 31 &+ UInt64($1) })
                .write(to: folder.appendingPathComponent("corpus/wiki.\(split).raw"), atomically: true, encoding: .utf8)
        }
        return TinyModel(folder: folder, modelId: "it-tiny-\(UUID().uuidString.prefix(8).lowercased())")
    }

    /// Deletes the folder.
    public func remove() { try? FileManager.default.removeItem(at: folder) }

    // MARK: - Tokenizer and text

    /// GPT-2's byte-level alphabet (`bytes_to_unicode`): printable bytes stand
    /// for themselves, the others map to U+0100 onwards in byte order.
    public static let byteSymbols: [String] = {
        var next: UInt32 = 256
        return (0..<256).map { byte -> String in
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            let value = printable ? UInt32(byte) : next
            if !printable { next += 1 }
            return String(Character(Unicode.Scalar(value) ?? "?"))
        }
    }()

    /// Every byte as a token (so any text encodes), two merges, and an end-of-sequence token.
    public static var vocabulary: (tokens: [String], types: [Int32], merges: [String], eos: Int) {
        let space = byteSymbols[0x20]
        let tokens = byteSymbols + [space + "t", "he", "<|endoftext|>"]
        let types = [Int32](repeating: 1, count: tokens.count - 1) + [3]
        return (tokens, types, ["\(space) t", "h e"], tokens.count - 1)
    }

    /// `general.name` and the ``vocabulary`` as a GPT-2 BPE tokenizer, the keys a checkpoint needs besides its shapes.
    public static func tokenizerMetadata(name: String) -> GGUFMetadata {
        let vocabulary = Self.vocabulary
        var metadata = GGUFMetadata()
        metadata["general.name"] = .string(name)
        metadata["tokenizer.ggml.model"] = .string("gpt2")
        metadata["tokenizer.ggml.pre"] = .string("gpt2")
        metadata["tokenizer.ggml.tokens"] = .array(.string(vocabulary.tokens))
        metadata["tokenizer.ggml.token_type"] = .array(.int32(vocabulary.types))
        metadata["tokenizer.ggml.merges"] = .array(.string(vocabulary.merges))
        metadata["tokenizer.ggml.eos_token_id"] = .uint32(UInt32(vocabulary.eos))
        return metadata
    }

    /// Reproducible English-looking text.
    public static func text(words: Int, seed: UInt64) -> String {
        let lexicon = ["the", "model", "prunes", "heads", "of", "a", "layer", "and", "channels", "with", "policy",
                       "ratio", "each", "block", "keeps", "its", "most", "important", "structures", "while",
                       "perplexity", "rises", "slowly", "in", "one", "shot", "without", "retraining"]
        var state = seed | 1
        var out: [String] = []
        for index in 0..<words {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            out.append(lexicon[Int((state >> 33) % UInt64(lexicon.count))])
            if index % 12 == 11 { out[out.count - 1] += "." }
        }
        return out.joined(separator: " ")
    }
}
