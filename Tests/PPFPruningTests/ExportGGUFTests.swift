import Foundation
import PPFModel
@testable import PPFPruning
import PPFTensor
import Testing

// MARK: - GGUF export: round trip through PPF's own loader

@Test func nonUniformModelWithDroppedBlockAndBiasesReadsBackBitIdenticalInF32() throws {
    let pruned = try TinyModels.nonUniform()
    let before = try LlamaModel(weights: pruned).logits(for: TinyModels.tokens)
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("pruned.gguf")
        let summary = try GGUFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: url,
                                              options: GGUFExportOptions(precision: .f32))
        #expect(summary.architecture == .deci)
        #expect(summary.blockCount == 4 && summary.removedBlockIndices == [3])
        let reread = try LlamaModel.load(contentsOf: url)
        #expect(reread.configuration.blockCount == 4)
        #expect(reread.configuration.headCounts == [4, 2, 2, 1])
        #expect(reread.configuration.keyValueHeadCounts == [2, 1, 2, 1])
        #expect(reread.configuration.feedForwardLengths == [48, 24, 32, 48])
        #expect(reread.weights.blocks[1].attention?.outputBias == pruned.blocks[1].attention?.outputBias)
        #expect(reread.weights.blocks[3].mlp?.downBias == pruned.blocks[4].mlp?.downBias)
        #expect(reread.weights.blocks[3].attention?.outputBias == nil)
        let after = try reread.logits(for: TinyModels.tokens)
        // Exact: F32 weights read back bit for bit, and the dropped block was an identity that
        // ran no product, so the same gemm shapes run in the same order.
        #expect(after.storage == before.storage, "max |Δlogit| \(maximumDifference(after, before))")
    }
}

@Test func f16ExportRoundsEachWeightOnceAndKeepsLogitsClose() throws {
    let pruned = try TinyModels.nonUniform(tied: false)
    let before = try LlamaModel(weights: pruned).logits(for: TinyModels.tokens)
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("pruned-f16.gguf")
        try GGUFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: url)  // default precision: F16
        let file = try GGUFFile.open(url)
        #expect(file.tensorInfo(named: "blk.0.attn_q.weight")?.type == .f16)
        #expect(file.tensorInfo(named: "output.weight")?.type == .f16)
        #expect(file.tensorInfo(named: "blk.0.attn_norm.weight")?.type == .f32)
        #expect(file.tensorInfo(named: "blk.1.attn_output.bias")?.type == .f32)
        let reread = try LlamaModel.load(contentsOf: url)
        // Every matrix value is the binary16 rounding of the source value, exactly.
        let rounded = pruned.blocks[4].mlp!.down.storage.map { HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0)) }
        #expect(reread.weights.blocks[3].mlp!.down.storage == rounded)
        #expect(rounded != pruned.blocks[4].mlp!.down.storage, "F16 must actually round some weights")
        // Biases and norms stay exact.
        #expect(reread.weights.blocks[1].mlp?.downBias == pruned.blocks[1].mlp?.downBias)
        let after = try reread.logits(for: TinyModels.tokens)
        let delta = maximumDifference(after, before)
        let scale = before.storage.reduce(0) { max($0, abs($1)) }
        // 2⁻¹¹ relative rounding per weight, through 4 blocks: well under 1% of the logit scale.
        #expect(delta > 0 && delta < 0.01 * scale, "max |Δlogit| \(delta), logit scale \(scale)")
    }
}

@Test func attentionFreeBlockAfterTheFirstExportsAndReadsBack() throws {
    let dense = try TinyModels.dense()
    let c = dense.configuration
    let pruned = try Slicing.prune(dense, [
        .whole(c, 0), BlockSlice(groups: [], headOffsets: [], channels: Array(0..<16)),
        .whole(c, 2), .whole(c, 3), .whole(c, 4),
    ])
    let before = try LlamaModel(weights: pruned).logits(for: TinyModels.tokens)
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("attention-free.gguf")
        let summary = try GGUFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: url,
                                              options: GGUFExportOptions(precision: .f32))
        #expect(summary.architecture == .deci && summary.blockCount == 5)
        let reread = try LlamaModel.load(contentsOf: url)
        #expect(reread.configuration.headCounts == [4, 0, 4, 4, 4])
        // Exact: F32 weights read back bit for bit, the same shapes in the same order.
        #expect(try reread.logits(for: TinyModels.tokens).storage == before.storage)
    }
}

// MARK: - Metadata

@Test func nonUniformExportIsDeciWithPerLayerArraysAndExplicitHeadSize() throws {
    let source = TinyModels.sourceMetadata()
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("pruned.gguf")
        try GGUFExporter.export(try TinyModels.nonUniform(), sourceMetadata: source, to: url, options: GGUFExportOptions(
            precision: .f32, provenance: ExportProvenance(planID: "plan-42", achievedRatio: 0.3125, metric: "wanda-sp")))
        let m = try GGUFFile.open(url).metadata
        #expect(try m.string("general.architecture") == "deci")
        #expect(try m.integer("deci.block_count") == 4)
        #expect(m["deci.attention.head_count"] == .array(.int32([4, 2, 2, 1])))
        #expect(m["deci.attention.head_count_kv"] == .array(.int32([2, 1, 2, 1])))
        #expect(m["deci.feed_forward_length"] == .array(.int32([48, 24, 32, 48])))
        #expect(try m.integer("deci.attention.key_length") == 8)
        #expect(try m.integer("deci.attention.value_length") == 8)
        #expect(try m.integer("deci.rope.dimension_count") == 8)
        #expect(try m.integer("deci.embedding_length") == 32)
        #expect(m["deci.rope.scaling.type"] == .string("none"), "unmodelled source keys follow the architecture")
        #expect(!m.keys.contains { $0.hasPrefix("llama.") }, "no key of the other architecture: \(m.keys)")
        for key in source.keys where key.hasPrefix("tokenizer.") {
            #expect(m[key] == source[key], "\(key) must be carried over unchanged")
        }
        #expect(try m.string("general.name") == "Tiny Test (PPF pruned)")
        #expect(try m.string("general.license") == "apache-2.0")
        #expect(try m.integer("general.file_type") == 0)
        #expect(!m.contains("general.quantization_version"))
        #expect(try m.string("ppf.plan_id") == "plan-42")
        #expect(m["ppf.achieved_ratio"] == .float64(0.3125))
        #expect(try m.string("ppf.metric") == "wanda-sp")
        #expect(m["ppf.source_block_index"] == .array(.int32([0, 1, 2, 4])))
        #expect(try m.integer("ppf.format_version") == Int(GGUFExporter.formatVersion))
        let names = try GGUFFile.open(url).tensors.map(\.name)
        #expect(names.contains("blk.3.ffn_down.bias") && !names.contains { $0.hasPrefix("blk.4.") })
    }
}

@Test func uniformExportIsLlamaWithScalarCounts() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("uniform.gguf")
        let summary = try GGUFExporter.export(try TinyModels.uniform(), sourceMetadata: TinyModels.sourceMetadata(), to: url)
        #expect(summary.architecture == .llama && summary.precision == .f16)
        let m = try GGUFFile.open(url).metadata
        #expect(try m.string("general.architecture") == "llama")
        #expect(m["llama.block_count"] == .uint32(4))
        #expect(m["llama.attention.head_count"] == .uint32(2))
        #expect(m["llama.attention.head_count_kv"] == .uint32(2))
        #expect(m["llama.feed_forward_length"] == .uint32(24))
        #expect(try m.integer("llama.attention.key_length") == 8, "32 / 2 heads would be 16: the head size must be explicit")
        #expect(try m.integer("general.file_type") == 1)
        #expect(m["ppf.source_block_index"] == .array(.int32([0, 1, 3, 4])))
    }
}

// MARK: - What GGUF (for llama.cpp) cannot express: clear errors, no file

@Test func forcingLlamaOnANonUniformModelThrowsUnexpressibleAndWritesNothing() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("x.gguf")
        expectExportError(.unexpressible) {
            try GGUFExporter.export(try TinyModels.nonUniform(), sourceMetadata: TinyModels.sourceMetadata(), to: url,
                                    options: GGUFExportOptions(architecture: .llama))
        }
        #expect(contents(of: dir) == [])
    }
}

@Test func blockWithAttentionButNoMLPIsRefusedWithoutWritingAFile() throws {
    let dense = try TinyModels.dense()
    let c = dense.configuration
    let pruned = try Slicing.prune(dense, [
        .whole(c, 0), .whole(c, 1), BlockSlice(groups: [0], headOffsets: [0, 1], channels: []), .whole(c, 3), .whole(c, 4),
    ])
    try withTemporaryDirectory { dir in
        expectExportError(.unexpressible) {
            try GGUFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: dir.appendingPathComponent("x.gguf"))
        }
        #expect(contents(of: dir) == [])
    }
}

@Test func firstKeptBlockWithoutAttentionIsRefused() throws {
    let dense = try TinyModels.dense()
    let c = dense.configuration
    let pruned = try Slicing.prune(dense, [
        .dropped, BlockSlice(groups: [], headOffsets: [], channels: Array(0..<8)), .whole(c, 2), .whole(c, 3), .whole(c, 4),
    ])
    try withTemporaryDirectory { dir in
        do {
            try GGUFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: dir.appendingPathComponent("x.gguf"))
            Issue.record("an attention-free first block must be refused")
        } catch let error as ExportError {
            #expect(error.code == .unexpressible)
            #expect(error.message.contains("block 1"), "the message names the block before renumbering: \(error.message)")
        }
        #expect(contents(of: dir) == [])
    }
}

@Test func modelWithEveryBlockDroppedIsRefused() throws {
    let pruned = try Slicing.prune(try TinyModels.dense(), Array(repeating: .dropped, count: 5))
    try withTemporaryDirectory { dir in
        expectExportError(.unexpressible) {
            try GGUFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: dir.appendingPathComponent("x.gguf"))
        }
        #expect(contents(of: dir) == [])
    }
}

@Test func weightBeyondTheF16RangeIsRefusedInF16ButExportsInF32() throws {
    let dense = try TinyModels.dense()
    var blocks = dense.blocks
    var up = blocks[2].mlp!.up
    up.withUnsafeMutableBufferPointer { $0[5] = 70_000 }
    blocks[2].mlp!.up = up
    let weights = try LlamaWeights(configuration: dense.configuration, tokenEmbedding: dense.tokenEmbedding,
                                   blocks: blocks, outputNorm: dense.outputNorm, output: nil)
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("big.gguf")
        expectExportError(.unrepresentableValue) {
            try GGUFExporter.export(weights, sourceMetadata: TinyModels.sourceMetadata(), to: url,
                                    options: GGUFExportOptions(precision: .f16))
        }
        #expect(contents(of: dir) == [])
        try GGUFExporter.export(weights, sourceMetadata: TinyModels.sourceMetadata(), to: url,
                                options: GGUFExportOptions(precision: .f32))
        #expect(try LlamaModel.load(contentsOf: url).weights.blocks[2].mlp!.up.storage[5] == 70_000)
    }
}

@Test func nanWeightIsRefusedInEveryPrecision() throws {
    let dense = try TinyModels.dense()
    var blocks = dense.blocks
    blocks[0].attention!.outputBias = Array(repeating: .nan, count: 32)
    let weights = try LlamaWeights(configuration: dense.configuration, tokenEmbedding: dense.tokenEmbedding,
                                   blocks: blocks, outputNorm: dense.outputNorm, output: nil)
    try withTemporaryDirectory { dir in
        for precision in ExportPrecision.allCases {
            expectExportError(.unrepresentableValue) {
                try GGUFExporter.export(weights, sourceMetadata: TinyModels.sourceMetadata(), to: dir.appendingPathComponent("nan.gguf"),
                                        options: GGUFExportOptions(precision: precision))
            }
        }
        #expect(contents(of: dir) == [])
    }
}

@Test func failedExportLeavesAnExistingFileUntouched() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("model.gguf")
        try GGUFExporter.export(try TinyModels.uniform(), sourceMetadata: TinyModels.sourceMetadata(), to: url)
        let before = try Data(contentsOf: url)
        expectExportError(.unexpressible) {
            try GGUFExporter.export(try TinyModels.nonUniform(), sourceMetadata: TinyModels.sourceMetadata(), to: url,
                                    options: GGUFExportOptions(architecture: .llama))
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(contents(of: dir) == ["model.gguf"])
    }
}

@Test func unwritableDestinationIsAnIOErrorThatMayBeRetried() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("missing-folder/model.gguf")
        do {
            try GGUFExporter.export(try TinyModels.uniform(), sourceMetadata: TinyModels.sourceMetadata(), to: url)
            Issue.record("writing into a missing folder must fail")
        } catch let error as ExportError {
            #expect(error.code == .io && error.isRetriable)
        }
    }
}
