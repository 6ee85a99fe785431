import Foundation
import Testing
import PPFContracts
import PPFModel
@testable import PPFPruning
import PPFTensor

// MARK: - Tiny models built in code (no download)

/// SmolLM2's head layout in miniature: 9 query heads in 3 KV groups (hd = 4),
/// d = 24, FFN 40, 4 blocks, vocab 50; so the attention levels are SmolLM2's
/// `1 − g(m+1)/12`.
func tinyConfiguration(blocks: Int = 4) throws -> LlamaConfiguration {
    try LlamaConfiguration(blockCount: blocks, embeddingLength: 24, headCounts: [9], keyValueHeadCounts: [3],
                           feedForwardLengths: [40], headDimension: 4, rmsNormEpsilon: 1e-5, ropeFrequencyBase: 10_000,
                           contextLength: 64, vocabularySize: 50)
}

func tinyWeights(seed: UInt64 = 7, blocks: Int = 4, withBiases: Bool = false) throws -> LlamaWeights {
    try LlamaWeights.random(configuration: tinyConfiguration(blocks: blocks), seed: seed, withBiases: withBiases)
}

func randomTokens(_ count: Int, vocabulary: Int = 50, seed: UInt64) -> [Int] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Int.random(in: 0..<vocabulary, using: &g) }
}

/// Calibration of a tiny model on random tokens (4 windows of 16).
func tinyStatistics(_ weights: LlamaWeights, seed: UInt64 = 3) throws -> CalibrationStatistics {
    let spec = CalibrationSpec(windows: 4, windowLength: 16)
    return try Calibration.collect(model: LlamaModel(weights: weights), tokens: randomTokens(64, seed: seed), spec: spec,
                                   modelChecksum: "tiny-\(seed)", corpusChecksum: "random-\(seed)")
}

let tinyIdentity = ModelIdentity(name: "tiny", checksum: "tiny")

/// A random policy: attention and MLP ratios anywhere in [0, 0.95], some blocks dropped (never all).
func randomPolicy(blocks: Int, using g: inout SeededGenerator, dropProbability: Double = 0.2) -> PruningPolicy {
    var layers = (0..<blocks).map { _ in
        LayerPolicy(attentionRatio: Double.random(in: 0...0.8, using: &g),
                    mlpRatio: Double.random(in: 0...0.95, using: &g),
                    dropped: Double.random(in: 0..<1, using: &g) < dropProbability)
    }
    if layers.allSatisfy(\.dropped) { layers[0].dropped = false }
    return PruningPolicy(layers: layers)
}

func maxAbsDifference(_ x: Matrix, _ y: Matrix) -> Float {
    zip(x.storage, y.storage).map { abs($0 - $1) }.max() ?? 0
}

/// Expects `body` to throw a ``PruningError`` with `code`.
func expectPruningError(_ code: PruningError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected PruningError.\(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as PruningError {
        #expect(error.code == code, "got \(error)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected PruningError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - The real SmolLM2-135M checkpoint

/// The real checkpoint provisioned by `make setup`, if present.
enum RealModel {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let url = root.appendingPathComponent(".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    static var isAvailable: Bool { FileManager.default.fileExists(atPath: url.path) }
    static let skipReason: Comment = "skipped: the real model is absent at .deps/models/SmolLM2-135M-Instruct.Q4_1.gguf (run make setup)"
    /// Loaded once for every test that needs it.
    static let model: LlamaModel? = isAvailable ? try? LlamaModel.load(contentsOf: RealModel.url) : nil
}
