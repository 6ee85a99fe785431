import Foundation
import PPFModel
@testable import PPFPruning
import PPFTensor
import Testing

// MARK: - The real model and the reference pruned versions of it

/// The real SmolLM2 checkpoint under `.deps/` and the two hand-sliced pruned
/// versions whose exports were checked against llama.cpp and HF transformers
/// (infra/reference/export). The slicing is fixed here, so the Swift test and
/// the recorded fixture describe the same models.
enum ExportReference {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelURL = packageRoot.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    static let testSplitURL = packageRoot.appendingPathComponent(".deps/corpus/wiki.test.raw")
    static var isAvailable: Bool {
        FileManager.default.fileExists(atPath: modelURL.path) && FileManager.default.fileExists(atPath: testSplitURL.path)
    }
    static let skipReason: Comment = "skipped: the real model or corpus is absent under .deps (run make setup)"

    /// The source file, opened once.
    static let file: GGUFFile? = isAvailable ? try? GGUFFile.open(modelURL) : nil
    /// The dense model, dequantized once.
    static let dense: LlamaWeights? = file.flatMap { try? LlamaWeights(gguf: $0) }

    /// Per-layer heads, KV groups and FFN widths vary: every fifth block
    /// (from 1) loses its third KV group with its query heads, every fifth
    /// (from 3) keeps 2 of 3 query heads per group, FFN widths cycle through
    /// 1536, 1472, 1408, 1344; block 20 is dropped whole, block 25 keeps only
    /// its MLP (attention-free), and blocks 5 and 12 gain attention-output and
    /// MLP-down biases. Mild on purpose, so the perplexity stays meaningful.
    static func nonUniform(_ dense: LlamaWeights) throws -> LlamaWeights {
        let c = dense.configuration
        let slices: [BlockSlice] = (0..<c.blockCount).map { layer in
            if layer == 20 { return .dropped }
            let removedCount = 64 * (layer % 4)
            // An evenly spread subset of channels (no importance metric: this checks export, not quality).
            let removed = Set((0..<removedCount).map { ($0 * 1536) / max(1, removedCount) + layer % 3 })
            var slice = BlockSlice(groups: [0, 1, 2], headOffsets: [0, 1, 2],
                                   channels: (0..<1536).filter { !removed.contains($0) })
            switch layer % 5 {
            case 1: slice.groups = [0, 1]
            case 3: slice.headOffsets = [0, 1]
            default: break
            }
            if layer == 25 { slice.groups = [] }
            if layer == 5 || layer == 12 {
                slice.outputBias = Slicing.bias(576, seed: UInt64(100 + layer), scale: 0.02)
                slice.downBias = Slicing.bias(576, seed: UInt64(200 + layer), scale: 0.02)
            }
            return slice
        }
        return try Slicing.prune(dense, slices)
    }

    /// Every kept block: 6 query heads in 3 KV groups (so `hidden_size /
    /// heads` = 96 is not the head size 64) and 1280 MLP channels; block 20
    /// dropped; biases on blocks 5 and 12.
    static func uniform(_ dense: LlamaWeights) throws -> LlamaWeights {
        let slices: [BlockSlice] = (0..<dense.configuration.blockCount).map { layer in
            if layer == 20 { return .dropped }
            var slice = BlockSlice(groups: [0, 1, 2], headOffsets: [0, 1], channels: (0..<1536).filter { $0 % 6 != 5 })
            if layer == 5 || layer == 12 {
                slice.outputBias = Slicing.bias(576, seed: UInt64(300 + layer), scale: 0.02)
                slice.downBias = Slicing.bias(576, seed: UInt64(400 + layer), scale: 0.02)
            }
            return slice
        }
        return try Slicing.prune(dense, slices)
    }

    /// Token ids of the first `count` tokens of the test split (no BOS).
    static func testTokens(_ count: Int) throws -> [Int] {
        let file = try #require(file)
        let tokenizer = try TokenizerLoader.make(from: file.metadata)
        let text = try String(contentsOf: testSplitURL, encoding: .utf8)
        // Tokenize a prefix comfortably longer than needed (≈4 characters per token here).
        var characters = count * 8
        while true {
            let ids = tokenizer.encode(String(text.prefix(characters))).map(Int.init)
            if ids.count > count + 64 || characters >= text.count { return Array(ids.prefix(count)) }
            characters *= 2
        }
    }
}

// MARK: - Fixture

/// `Fixtures/export_reference.json`, written by infra/reference/export/verify_exports.py.
struct ExportReferenceFixture: Decodable {
    struct Shape: Decodable {
        let block_count: Int
        let head_count: [Int]
        let head_count_kv: [Int]
        let feed_forward_length: [Int]
        let parameter_count: Int
        let file_bytes: Int
    }
    struct Perplexity: Decodable {
        let first_n_tokens: Int
        let window: Int
        let tokens_scored: Int
        let swift_ppl: Double
        let llama_cpp_ppl: Double
        let llama_cpp_f32_kv_ppl: Double
    }
    struct Position: Decodable {
        let position: Int
        let top10: [[Double]]
        let logsumexp: Double
    }
    struct GGUFCase: Decodable {
        let architecture: String
        let shape: Shape
        let perplexity: [String: Perplexity]
        let logits_tokens: [Int]
        let llama_cpp_f32_kv_positions: [Position]
        let max_abs_delta_logit_vs_swift_f32_kv: Double
    }
    struct HFCase: Decodable {
        let config: [String: AnyDecodable]
        let logits_tokens: [Int]
        let hf_positions: [Position]
        let max_abs_delta_logit_vs_swift: Double
        let safetensors_bytes: Int
    }
    let nonuniform_gguf_f32: GGUFCase
    let nonuniform_gguf_f16: GGUFCase
    let uniform_hf_f32: HFCase

    static func load() throws -> ExportReferenceFixture {
        let url = try #require(Bundle.module.url(forResource: "export_reference", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(ExportReferenceFixture.self, from: Data(contentsOf: url))
    }
}

/// Any JSON value, for fields only printed or compared loosely.
struct AnyDecodable: Decodable {
    let value: Any
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { value = b }
        else if let i = try? c.decode(Int.self) { value = i }
        else if let d = try? c.decode(Double.self) { value = d }
        else if let s = try? c.decode(String.self) { value = s }
        else if let a = try? c.decode([AnyDecodable].self) { value = a.map(\.value) }
        else if c.decodeNil() { value = NSNull() }
        else { value = try c.decode([String: AnyDecodable].self).mapValues(\.value) }
    }
}
