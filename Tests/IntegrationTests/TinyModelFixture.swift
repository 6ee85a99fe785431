import Foundation
import PPFModel
import PPFTestSupport

/// Everything a service needs to serve a model, in miniature and in a fresh
/// temporary folder: a random 4-block llama GGUF with a real byte-level BPE
/// tokenizer, a corpus in the layout ``Corpus`` reads (`wiki.<split>.raw`),
/// and a `PPF_ROOT` of its own, so the calibration cache the bootstrap writes
/// stays out of the repository. Measurements on it take milliseconds, which
/// lets the phase-1 tests run the real executables end to end in seconds.
struct TinyModelFixture: Sendable {
    /// The folder holding everything; removed by ``remove()``.
    let folder: URL
    /// A model id unique to this fixture, so requests left on the shared broker
    /// by other runs are another model's (and dead-lettered as such).
    let modelId: String

    /// SmolLM2's head layout in miniature (9 query heads in 3 KV groups), 4
    /// blocks, a context long enough for the bootstrap's calibration windows
    /// (512), and MLPs of 128 channels: the policy sampler needs half a channel
    /// to be under its 1e-3 ratio tolerance (36 of 46 080 prunable parameters).
    static let blocks = 4
    static let modelFile = "tiny-llama.gguf"

    var modelDirectory: URL { folder.appendingPathComponent("models") }
    var modelURL: URL { modelDirectory.appendingPathComponent(Self.modelFile) }
    var corpusDirectory: URL { folder.appendingPathComponent("corpus") }
    var rootDirectory: URL { folder.appendingPathComponent("root") }

    /// The settings that point a service or `ppf` at this model, corpus and root.
    var environment: [String: String] {
        ["PPF_MODEL_DIR": modelDirectory.path, "PPF_MODEL_FILE": Self.modelFile, "PPF_MODEL_ID": modelId,
         "PPF_CORPUS_DIR": corpusDirectory.path, "PPF_ROOT": rootDirectory.path]
    }

    /// Writes the model and the corpus into a new temporary folder.
    static func make() throws -> TinyModelFixture {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("ppf-tiny-\(UUID().uuidString.prefix(8).lowercased())")
        let fixture = TinyModelFixture(folder: folder, modelId: "it-tiny-\(UUID().uuidString.prefix(8).lowercased())")
        do {
            for directory in [fixture.modelDirectory, fixture.corpusDirectory, fixture.rootDirectory] {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            try writeModel(to: fixture.modelURL)
            try writeCorpus(into: fixture.corpusDirectory)
        } catch {
            fixture.remove()
            throw error
        }
        return fixture
    }

    /// Deletes the folder; never throws.
    func remove() {
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: - Model

    /// GPT-2's byte-level alphabet: byte `b` is token `b`, spelled as the
    /// printable character GPT-2 maps it to (so a space is `Ġ`), plus three
    /// merges, so encoding goes through real BPE merges.
    static let merges = ["Ġ t", "h e", "Ġt he"]

    static func vocabulary() -> [String] {
        let printable = Set(Array(33...126) + Array(161...172) + Array(174...255))
        var shifted = 0
        var tokens: [String] = []
        for byte in 0..<256 {
            let scalar: Int
            if printable.contains(byte) {
                scalar = byte
            } else {
                scalar = 256 + shifted
                shifted += 1
            }
            tokens.append(String(Character(Unicode.Scalar(UInt16(scalar)) ?? "?")))
        }
        return tokens + ["Ġt", "he", "Ġthe"]
    }

    static func writeModel(to url: URL) throws {
        let tokens = vocabulary()
        let configuration = try LlamaConfiguration(
            blockCount: blocks, embeddingLength: 24, headCounts: [9], keyValueHeadCounts: [3], feedForwardLengths: [128],
            headDimension: 4, contextLength: 512, vocabularySize: tokens.count)
        var metadata = GGUFMetadata()
        metadata["general.name"] = .string("PPF integration-test tiny llama")
        metadata["tokenizer.ggml.model"] = .string("gpt2")
        metadata["tokenizer.ggml.pre"] = .string("smollm")
        metadata["tokenizer.ggml.tokens"] = .array(.string(tokens))
        metadata["tokenizer.ggml.merges"] = .array(.string(merges))
        // A fixed seed: the same bytes every run, like a provisioned checkpoint.
        let weights = try LlamaWeights.random(configuration: configuration, seed: 2025)
        try weights.makeGGUFWriter(baseMetadata: metadata).write(to: url)
    }

    // MARK: - Corpus

    /// Deterministic WikiText-style text: `= Title =` headings over
    /// paragraphs of common words. The calibration split holds well over the
    /// 32 × 512 tokens the bootstrap's calibration reads; the others over the
    /// budgets the tests measure.
    static func writeCorpus(into directory: URL) throws {
        let sizes: [CorpusSplit: Int] = [.calibration: 40_000, .validation: 12_000, .test: 4_000]
        for (split, bytes) in sizes {
            let text = prose(bytes: bytes, seed: UInt64(split.rawValue.utf8.count))
            try Data(text.utf8).write(to: directory.appendingPathComponent(split.fileName))
        }
    }

    static func prose(bytes: Int, seed: UInt64) -> String {
        let words = ["the", "model", "prunes", "heads", "of", "attention", "and", "channels", "in", "each", "block",
                     "while", "a", "predictor", "scores", "policies", "from", "measured", "perplexity", "on",
                     "validation", "text", "with", "windows", "that", "evaluators", "share", "across", "partitions"]
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var text = ""
        var article = 0
        while text.utf8.count < bytes {
            article += 1
            text += " = Article \(article) = \n \n"
            for _ in 0..<(3 + next(3)) {
                let sentence = (0..<(6 + next(10))).map { _ in words[next(words.count)] }.joined(separator: " ")
                text += " " + sentence.prefix(1).uppercased() + sentence.dropFirst() + " . \n"
            }
            text += " \n"
        }
        return text
    }
}
