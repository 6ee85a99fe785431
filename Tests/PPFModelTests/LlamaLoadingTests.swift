import Foundation
import Testing
@testable import PPFModel
import PPFTensor

// MARK: - GGUF round trips of tiny models

/// Writes `weights` to a temporary GGUF file, lets `edit` change the writer, and loads it back.
private func roundTrip(_ weights: LlamaWeights, edit: (inout GGUFWriter) throws -> Void = { _ in }) throws -> LlamaWeights {
    try withTemporaryDirectory { directory in
        var writer = try weights.makeGGUFWriter()
        try edit(&writer)
        let url = directory.appendingPathComponent("tiny.gguf")
        try writer.write(to: url)
        return try LlamaWeights(gguf: GGUFFile.open(url))
    }
}

@Test func tinyModelRoundTripsThroughGGUFWithIdenticalLogits() throws {
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 51, tiedOutput: false, withBiases: true)
    let loaded = try roundTrip(weights)
    #expect(loaded.configuration == weights.configuration)
    let tokens = randomTokens(7, seed: 3)
    // Exact: F32 round trip (bit-identical weights), the same tokens through the same shapes.
    #expect(try LlamaModel(weights: loaded).logits(for: tokens) == LlamaModel(weights: weights).logits(for: tokens))
}

@Test func nonUniformModelWithDroppedSublayersRoundTripsThroughGGUF() throws {
    let c = try LlamaConfiguration(blockCount: 3, embeddingLength: 32, headCounts: [4, 0, 2], keyValueHeadCounts: [2, 0, 1],
                                   feedForwardLengths: [48, 16, 0], headDimension: 8, contextLength: 64, vocabularySize: 64)
    let weights = try LlamaWeights.random(configuration: c, seed: 52)
    let loaded = try roundTrip(weights)
    #expect(loaded.configuration == c)
    #expect(loaded.blocks[1].attention == nil && loaded.blocks[2].mlp == nil)
    let tokens = randomTokens(6, seed: 4)
    // Exact: F32 round trip (bit-identical weights), the same tokens through the same shapes.
    #expect(try LlamaModel(weights: loaded).logits(for: tokens) == LlamaModel(weights: weights).logits(for: tokens))
}

@Test func aTensorTheConfigurationDoesNotExplainThrowsUnexpectedTensor() throws {
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 53)
    expectModelError(.unexpectedTensor) {
        _ = try roundTrip(weights) { try $0.addTensor(name: "blk.0.attn_q.bias", shape: [32], values: Array(repeating: 0, count: 32)) }
    }
}

@Test func aMissingTensorThrowsMissingTensor() throws {
    // Claim a third block in the metadata that the file has no tensors for.
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 54)
    expectModelError(.missingTensor) {
        _ = try roundTrip(weights) { writer in
            writer.metadata["llama.block_count"] = .uint32(3)
        }
    }
}

@Test func aTensorOfTheWrongShapeThrowsShapeMismatch() throws {
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 55)
    expectModelError(.shapeMismatch) {
        _ = try roundTrip(weights) { writer in
            writer.metadata["llama.feed_forward_length"] = .uint32(40)
        }
    }
}

@Test func aNonLlamaArchitectureIsRefused() throws {
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 56)
    expectModelError(.invalidConfiguration) {
        _ = try roundTrip(weights) { $0.metadata["general.architecture"] = .string("gpt2") }
    }
}

@Test(arguments: [UInt64(1) << 40, UInt64(1) << 62])
func aCraftedContextLengthIsRefusedBeforeAnythingIsAllocated(contextLength: UInt64) throws {
    // It sizes the RoPE table: 2⁴⁰ positions would allocate without end, 2⁶² overflows the product.
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 57)
    expectModelError(.invalidConfiguration) {
        // Through the model, which builds the table: unbounded, this allocates or traps.
        _ = try LlamaModel(weights: roundTrip(weights) { $0.metadata["llama.context_length"] = .uint64(contextLength) })
    }
}

@Test func everySizeFromAFileIsBounded() throws {
    let weights = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 58)
    for (key, value) in [("llama.block_count", UInt64(1) << 32), ("llama.embedding_length", UInt64(1) << 40),
                         ("llama.vocab_size", UInt64(1) << 40), ("llama.feed_forward_length", UInt64(1) << 40),
                         ("llama.attention.head_count", UInt64(1) << 33), ("llama.attention.key_length", UInt64(1) << 33)] {
        expectModelError(.invalidConfiguration) {
            _ = try roundTrip(weights) { $0.metadata[key] = .uint64(value) }
        }
    }
}

// MARK: - The real SmolLM2-135M checkpoint

/// The real model, loaded once for every test that needs it (dequantization takes seconds in debug).
enum RealLlama {
    static let model: LlamaModel? = RealModel.isAvailable ? try? LlamaModel.load(contentsOf: RealModel.url) : nil
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelLoadsWithTheDocumentedShape() throws {
    let model = try #require(RealLlama.model)
    let c = model.configuration
    #expect(c.blockCount == 30 && c.embeddingLength == 576 && c.vocabularySize == 49152)
    #expect(c.block(0) == .init(queryHeads: 9, keyValueHeads: 3, feedForwardLength: 1536))
    #expect(c.headDimension == 64)
    #expect(c.ropeFrequencyBase == 100_000)
    #expect(abs(c.rmsNormEpsilon - 1e-5) < 1e-9)
    #expect(model.weights.output == nil) // tied head
    #expect(abs(Double(model.weights.parameterCount) / 1e6 - 134.5) < 0.1)
}
