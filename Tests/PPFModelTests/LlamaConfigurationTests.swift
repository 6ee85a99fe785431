import Foundation
import Testing
@testable import PPFModel
import PPFTensor

private func decode(_ json: String) throws -> LlamaConfiguration {
    try JSONDecoder().decode(LlamaConfiguration.self, from: Data(json.utf8))
}

private func code(of error: any Error) -> ModelError.Code? { (error as? ModelError)?.code }

@Test func configurationDecodesGGUFNamedKeysWithScalarPerLayerValues() throws {
    let c = try decode("""
    {"llama.block_count": 30, "llama.embedding_length": 576, "llama.feed_forward_length": 1536,
     "llama.attention.head_count": 9, "llama.attention.head_count_kv": 3,
     "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 100000,
     "llama.context_length": 8192, "llama.vocab_size": 49152, "llama.rope.dimension_count": 64}
    """)
    #expect(c.headDimension == 64)
    #expect(c.headCounts == Array(repeating: 9, count: 30))
    #expect(c.block(7) == .init(queryHeads: 9, keyValueHeads: 3, feedForwardLength: 1536))
    #expect(c.block(7).groupSize == 3)
    #expect(c.ropeFrequencyBase == 100_000)
}

@Test func configurationDecodesPerLayerArraysAndDroppedSublayers() throws {
    let c = try decode("""
    {"llama.block_count": 3, "llama.embedding_length": 32, "llama.feed_forward_length": [48, 0, 0],
     "llama.attention.head_count": [4, 2, 0], "llama.attention.head_count_kv": [2, 1, 0],
     "llama.attention.key_length": 8, "llama.context_length": 64, "llama.vocab_size": 64}
    """)
    #expect(c.blocks.map(\.hasAttention) == [true, true, false])
    #expect(c.blocks.map(\.hasMLP) == [true, false, false])
    #expect(c.maximumQueryWidth == 32)
}

@Test func configurationRoundTripsThroughJSON() throws {
    let original = try LlamaConfiguration(blockCount: 3, embeddingLength: 32, headCounts: [4, 2, 0],
                                          keyValueHeadCounts: [2, 2, 0], feedForwardLengths: [48, 16, 0],
                                          headDimension: 8, contextLength: 64, vocabularySize: 64)
    let data = try JSONEncoder().encode(original)
    #expect(try JSONDecoder().decode(LlamaConfiguration.self, from: data) == original)
    #expect(String(decoding: data, as: UTF8.self).contains("\"llama.attention.head_count_kv\""))
}

@Test func headsThatDoNotSplitIntoKVGroupsAreRejected() {
    #expect { try LlamaConfiguration(blockCount: 1, embeddingLength: 32, headCounts: [4], keyValueHeadCounts: [3],
                                     feedForwardLengths: [8], contextLength: 8, vocabularySize: 8) }
        throws: { code(of: $0) == .invalidConfiguration }
}

@Test func queryHeadsWithoutKVHeadsAreRejected() {
    #expect { try LlamaConfiguration(blockCount: 1, embeddingLength: 32, headCounts: [4], keyValueHeadCounts: [0],
                                     feedForwardLengths: [8], contextLength: 8, vocabularySize: 8) }
        throws: { code(of: $0) == .invalidConfiguration }
}

@Test func perLayerArrayOfTheWrongLengthIsRejected() {
    #expect { try LlamaConfiguration(blockCount: 3, embeddingLength: 32, headCounts: [4, 4],
                                     feedForwardLengths: [8], contextLength: 8, vocabularySize: 8) }
        throws: { code(of: $0) == .invalidConfiguration }
}

@Test func nonUniformHeadsWithoutKeyLengthAreRejected() {
    #expect { try LlamaConfiguration(blockCount: 2, embeddingLength: 32, headCounts: [4, 2],
                                     feedForwardLengths: [8], contextLength: 8, vocabularySize: 8) }
        throws: { code(of: $0) == .invalidConfiguration }
}

@Test func partialRotaryEmbeddingIsRejected() {
    #expect {
        try decode("""
        {"llama.block_count": 1, "llama.embedding_length": 32, "llama.feed_forward_length": 8,
         "llama.attention.head_count": 4, "llama.rope.dimension_count": 4,
         "llama.context_length": 8, "llama.vocab_size": 8}
        """)
    } throws: { code(of: $0) == .invalidConfiguration }
}

@Test func weightsOfTheWrongShapeThrowShapeMismatch() throws {
    let c = try tinyConfiguration()
    let good = try LlamaWeights.random(configuration: c, seed: 1)
    var blocks = good.blocks
    blocks[1].mlp?.up = Matrix(rows: 47, cols: 32)
    #expect {
        try LlamaWeights(configuration: c, tokenEmbedding: good.tokenEmbedding, blocks: blocks,
                         outputNorm: good.outputNorm, output: nil)
    } throws: { code(of: $0) == .shapeMismatch }
}

@Test func weightsForASublayerTheConfigurationDropsThrowUnexpectedTensor() throws {
    let full = try LlamaWeights.random(configuration: tinyConfiguration(), seed: 1)
    let pruned = try LlamaConfiguration(blockCount: 2, embeddingLength: 32, headCounts: [4, 0], keyValueHeadCounts: [2, 0],
                                        feedForwardLengths: [48], headDimension: 8, contextLength: 64, vocabularySize: 64)
    #expect {
        try LlamaWeights(configuration: pruned, tokenEmbedding: full.tokenEmbedding, blocks: full.blocks,
                         outputNorm: full.outputNorm, output: nil)
    } throws: { code(of: $0) == .unexpectedTensor }
}

@Test func nonUniformModelWithADroppedBlockMatchesTheNaiveForwardPass() throws {
    // Block 0: 4 heads / 2 KV / FFN 48; block 1: 2 heads / 1 KV, no MLP; block 2: 0 heads / FFN 16; block 3 dropped.
    let c = try LlamaConfiguration(blockCount: 4, embeddingLength: 32, headCounts: [4, 2, 0, 0],
                                   keyValueHeadCounts: [2, 1, 0, 0], feedForwardLengths: [48, 0, 16, 0],
                                   headDimension: 8, contextLength: 64, vocabularySize: 64)
    let model = try LlamaModel(weights: .random(configuration: c, seed: 5, withBiases: true))
    let tokens = randomTokens(10, seed: 1)
    let logits = try model.logits(for: tokens)
    let reference = naiveLogits(model, tokens)
    for i in 0..<tokens.count { #expect(maxAbsDifference(logits.row(i), reference[i].map(Float.init)) < 1e-4) }
}

@Test func aDroppedBlockIsAnIdentity() throws {
    // The same two blocks, with and without a third, dropped block, give identical logits.
    let two = try tinyModel(seed: 8)
    let c3 = try LlamaConfiguration(blockCount: 3, embeddingLength: 32, headCounts: [4, 4, 0], keyValueHeadCounts: [2, 2, 0],
                                    feedForwardLengths: [48, 48, 0], headDimension: 8, contextLength: 64, vocabularySize: 64)
    let three = try LlamaModel(weights: LlamaWeights(
        configuration: c3, tokenEmbedding: two.weights.tokenEmbedding,
        blocks: two.weights.blocks + [.init(attention: nil, mlp: nil)],
        outputNorm: two.weights.outputNorm, output: nil))
    let tokens = randomTokens(9, seed: 2)
    #expect(try two.logits(for: tokens) == three.logits(for: tokens))
}
