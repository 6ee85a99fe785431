import Foundation
import Testing
@testable import PPFModel

// MARK: - The real SmolLM2-135M checkpoint

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelHasThirtyBlocksOfQuantizedWeights() throws {
    let file = try #require(RealModel.file)
    #expect(file.version == 3)
    #expect(file.alignment == 32)
    #expect(try file.metadata.string("general.architecture") == "llama")
    #expect(try file.metadata.integer("llama.block_count") == 30)
    #expect(try file.metadata.integer("llama.embedding_length") == 576)
    #expect(try file.metadata.integer("llama.feed_forward_length") == 1536)
    #expect(try file.metadata.integerPerLayer("llama.attention.head_count", count: 30) == Array(repeating: 9, count: 30))
    #expect(try file.metadata.integer("llama.attention.head_count_kv") == 3)
    #expect(try file.metadata.double("llama.rope.freq_base") == 100_000)
    #expect(file.tensors.count == 272)
    let blocks = Set(file.tensors.compactMap { $0.name.split(separator: ".").dropFirst().first.flatMap { Int($0) } })
    #expect(blocks == Set(0..<30))
    #expect(Set(file.tensors.map(\.type)) == [.q4_1, .q8_0, .f32])
    #expect(file.tensorInfo(named: "output.weight") == nil)   // the head is tied to the embedding

    let embedding = try file.tensor(named: "token_embd.weight")
    #expect(embedding.type == .q8_0)
    #expect(embedding.dimensions == [576, 49152])
    #expect(embedding.shape == [49152, 576])
    let gate = try file.tensor(named: "blk.0.ffn_gate.weight")
    #expect(gate.type == .q4_1)
    #expect(gate.shape == [1536, 576])
    #expect(try file.tensor(named: "blk.0.ffn_down.weight").shape == [576, 1536])
    #expect(try file.tensor(named: "blk.0.attn_k.weight").shape == [192, 576])
    #expect(try file.tensor(named: "blk.29.attn_norm.weight").type == .f32)

    let tokens = try file.metadata.strings("tokenizer.ggml.tokens")
    #expect(tokens.count == 49152)
    #expect(try file.metadata.strings("tokenizer.ggml.merges").count == 48900)
}

/// Reference values printed by the `gguf` Python package (gguf-py 0.19.0,
/// `gguf.quants.dequantize`) for the same tensors; the whole tensors were
/// compared bit for bit once, these few values pin the result.
@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realTensorsDequantizeLikeTheReferenceImplementation() throws {
    let file = try #require(RealModel.file)
    let embeddingRow0 = try file.dequantize(try file.tensor(named: "token_embd.weight"), rows: 0..<1)
    #expect(embeddingRow0.count == 576)
    #expect(Array(embeddingRow0.prefix(4)) == [-0.106544495, 0.032978058, 0.0481987, -0.022830963])
    let q = try file.dequantize(named: "blk.0.attn_q.weight")
    #expect(q.count == 576 * 576)
    #expect(Array(q.prefix(4)) == [-0.09631348, 0.15734863, -0.09631348, -0.73046875])
    let norm = try file.dequantize(named: "output_norm.weight")
    #expect(Array(norm.prefix(4)) == [1.7578125, 1.8203125, 1.78125, 1.6015625])
}
