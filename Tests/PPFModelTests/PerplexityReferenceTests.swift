import Foundation
import Testing
@testable import PPFModel
import PPFTensor

// MARK: - Perplexity against llama.cpp and numpy fp32 (infra/reference)

private struct PerplexityFixture: Decodable {
    struct Block: Decodable {
        let tokens_scored: Int
        let mean_nll: Double
        let ppl: Double
        let per_window_mean_nll: [Double]
    }
    struct Setting: Decodable {
        let first_n_tokens: Int
        let window: Int
        let windows: Int
        let llama_cpp: Block
        let numpy_fp32: Block
    }
    let corpus_sha256: String
    let settings: [String: Setting]
}

/// The PPF metric on the first 1024 test-split tokens at window 128 (the
/// fast case; the 4096-token window-512 case is measured by `ppf eval`).
///
/// Tolerances: against llama.cpp, 1% of perplexity (its Q8_1-quantized
/// activations moved the mean NLL by 0.004 ≈ 0.4% here); against the numpy
/// fp32 forward pass, which does PPF's arithmetic, 1e-3 in mean NLL and in
/// every window's mean NLL (observed fp32 noise: ~3e-5).
@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelPerplexityMatchesLlamaCppWithinOnePercent() throws {
    let model = try #require(RealLlama.model)
    let file = try #require(RealModel.file)
    let fixture = try JSONDecoder().decode(PerplexityFixture.self, from: Data(contentsOf:
        ReferenceFixtures.directory.appendingPathComponent("perplexity_reference.json")))
    let setting = try #require(fixture.settings["w128_n1024"])
    let checkpoint = LlamaCheckpoint(model: model, tokenizer: try TokenizerLoader.make(from: file.metadata), url: RealModel.url)
    let corpus = Corpus(directory: RealModel.url.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("corpus"))

    let text = try corpus.text(of: .test)
    let tokens = checkpoint.tokens(of: text, limit: setting.first_n_tokens)
    try #require(tokens.count == setting.first_n_tokens)
    let evaluator = try PerplexityEvaluator(model: model, windowLength: setting.window)
    let result = try evaluator.evaluate(tokens)

    let hint = "if the corpus was regenerated, its sha256 must be \(fixture.corpus_sha256) (the fixture's)"
    #expect(result.windows == setting.windows)
    #expect(result.tokensCounted == setting.llama_cpp.tokens_scored)
    #expect(abs(result.perplexity - setting.llama_cpp.ppl) / setting.llama_cpp.ppl < 0.01,
            "PPF ppl \(result.perplexity) vs llama.cpp \(setting.llama_cpp.ppl); \(hint)")
    #expect(abs(result.nll - setting.numpy_fp32.mean_nll) < 1e-3,
            "PPF mean NLL \(result.nll) vs numpy fp32 \(setting.numpy_fp32.mean_nll); \(hint)")

    // Window by window, so a failure points at the window that differs.
    #expect(result.windowNLL.count == setting.numpy_fp32.per_window_mean_nll.count)
    for (index, (ours, reference)) in zip(result.windowNLL, setting.numpy_fp32.per_window_mean_nll).enumerated() {
        #expect(abs(ours - reference) < 1e-3, "window \(index): mean NLL \(ours) vs numpy fp32 \(reference)")
    }
}
