import Foundation
import PPFModel
@testable import PPFPruning
import PPFTensor
import Testing

// MARK: - Producing the exports that llama.cpp and HF transformers check

/// Where `writeReferenceExportsWhenAsked` puts its files; unset, it does nothing.
/// Used once by infra/reference/export/verify_exports.py (see docs/export.md).
private let referenceDirectory = ProcessInfo.processInfo.environment["PPF_EXPORT_REFERENCE_DIR"]

/// The perplexity settings: the fast one the CI re-checks, and the standard one.
let referencePerplexitySettings: [(name: String, tokens: Int, window: Int)] = [("w128_n1024", 1024, 128), ("w512_n4096", 4096, 512)]

@Test(.enabled(if: referenceDirectory != nil && ExportReference.isAvailable,
               "set PPF_EXPORT_REFERENCE_DIR (and run make setup) to write the reference exports"))
func writeReferenceExportsWhenAsked() throws {
    let directory = URL(fileURLWithPath: try #require(referenceDirectory))
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let file = try #require(ExportReference.file)
    let dense = try #require(ExportReference.dense)
    let tokens = try ExportReference.testTokens(4096)
    var results: [String: Any] = ["tokens": tokens]

    // Non-uniform → GGUF (deci), in F32 and F16; the engine re-reads each file and scores it.
    let nonUniform = try ExportReference.nonUniform(dense)
    for precision in [ExportPrecision.f32, .f16] {
        let name = "nonuniform-\(precision.rawValue).gguf"
        let url = directory.appendingPathComponent(name)
        let summary = try GGUFExporter.export(nonUniform, sourceMetadata: file.metadata, to: url, options: GGUFExportOptions(
            precision: precision, provenance: ExportProvenance(planID: "reference-nonuniform", metric: "hand-sliced")))
        let model = try LlamaModel.load(contentsOf: url)
        var perplexity: [String: Any] = [:]
        for setting in referencePerplexitySettings {
            let result = try PerplexityEvaluator(model: model, windowLength: setting.window).evaluate(tokens, tokenBudget: setting.tokens)
            perplexity[setting.name] = ["ppl": result.perplexity, "mean_nll": result.nll, "tokens_scored": result.tokensCounted]
        }
        let logits = try model.logits(for: Array(tokens.prefix(16)))
        try Data(bytes: logits.storage, count: logits.count * 4).write(to: directory.appendingPathComponent("swift-logits-\(name).f32"))
        let c = model.configuration
        results[name] = [
            "architecture": summary.architecture.rawValue, "perplexity": perplexity,
            "shape": ["block_count": c.blockCount, "head_count": c.headCounts, "head_count_kv": c.keyValueHeadCounts,
                      "feed_forward_length": c.feedForwardLengths, "parameter_count": model.weights.parameterCount,
                      "file_bytes": try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int ?? -1],
        ] as [String: Any]
    }

    // Uniform → HF folder in F32; the engine's logits on the same tokens.
    let uniform = try ExportReference.uniform(dense)
    let folder = directory.appendingPathComponent("uniform-hf-f32")
    try HFExporter.export(uniform, sourceMetadata: file.metadata, to: folder, options: HFExportOptions(
        precision: .f32, provenance: ExportProvenance(planID: "reference-uniform", metric: "hand-sliced")))
    let model = try LlamaModel(weights: uniform)
    let logits = try model.logits(for: Array(tokens.prefix(64)))
    try Data(bytes: logits.storage, count: logits.count * 4).write(to: directory.appendingPathComponent("swift-logits-uniform-hf-f32.f32"))
    let result = try PerplexityEvaluator(model: model, windowLength: 128).evaluate(tokens, tokenBudget: 1024)
    results["uniform-hf-f32"] = ["perplexity": ["w128_n1024": ["ppl": result.perplexity, "mean_nll": result.nll,
                                                               "tokens_scored": result.tokensCounted]]]
    let json = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
    try json.write(to: directory.appendingPathComponent("swift_results.json"))
}
