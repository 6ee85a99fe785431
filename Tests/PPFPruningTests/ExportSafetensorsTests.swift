import Foundation
import PPFModel
@testable import PPFPruning
import PPFTensor
import Testing

// MARK: - The safetensors format

@Test func safetensorsWriterRoundTripsHeaderAndValuesInEveryDType() throws {
    let values: [Float] = [0, 1, -2.5, 3.14159265, 1e-3, -65_000, 123.456, 7]
    var writer = SafetensorsWriter(metadata: ["format": "pt", "note": "a/b \"quoted\""])
    try writer.addTensor(name: "a.f32", shape: [2, 4], values: values, as: .f32)
    try writer.addTensor(name: "b.f16", shape: [8], values: values, as: .f16)
    try writer.addTensor(name: "c.bf16", shape: [4, 2], values: values, as: .bf16)
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("t.safetensors")
        try writer.write(to: url)
        let bytes = try Data(contentsOf: url)
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + length) % 8 == 0, "the data section starts 8-byte aligned")
        #expect(bytes.count == 8 + length + 8 * 4 + 8 * 2 + 8 * 2)
        let file = try SafetensorsFile(contentsOf: url)
        #expect(file.metadata == ["format": "pt", "note": "a/b \"quoted\""])
        #expect(file.tensors["a.f32"] == .init(name: "a.f32", dtype: .f32, shape: [2, 4], dataOffsets: 0..<32))
        #expect(file.tensors["b.f16"] == .init(name: "b.f16", dtype: .f16, shape: [8], dataOffsets: 32..<48))
        #expect(file.tensors["c.bf16"] == .init(name: "c.bf16", dtype: .bf16, shape: [4, 2], dataOffsets: 48..<64))
        #expect(try file.values(of: "a.f32") == values)
        #expect(try file.values(of: "b.f16") == values.map { HalfPrecision.float(fromHalf: HalfPrecision.half(from: $0)) })
        let bf16 = try file.values(of: "c.bf16")
        #expect(zip(bf16, values).allSatisfy { abs($0 - $1) <= abs($1) / 128 }, "\(bf16)")
        #expect(bf16[1] == 1 && bf16[7] == 7, "small integers are exact in bfloat16")
    }
}

@Test func malformedSafetensorsHeadersAreNamedErrors() throws {
    func file(_ header: String, data: Int) -> Data {
        var bytes = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array(header.utf8))
        bytes.append(contentsOf: [UInt8](repeating: 0, count: data))
        return bytes
    }
    let cases: [(String, Data)] = [
        ("too short", Data([1, 2, 3])),
        ("length past the end", Data([255, 0, 0, 0, 0, 0, 0, 0, 123])),
        ("not JSON", file("{nope", data: 0)),
        ("unknown dtype", file(#"{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: 8)),
        ("shape vs bytes", file(#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8)),
        ("gap", file(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8)),
        ("trailing bytes", file(#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 8)),
        // 2³² × 2³² elements overflow Int: a crafted header must not trap.
        ("shape overflow", file(#"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: 8)),
    ]
    for (label, bytes) in cases {
        do {
            _ = try SafetensorsFile(bytes: bytes, name: label)
            Issue.record("\(label): accepted")
        } catch {
            #expect(error.code == .malformedFile, "\(label): \(error)")
        }
    }
    let good = try SafetensorsFile(bytes: file(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 8))
    #expect(try good.values(of: "x") == [0, 0])
}

// MARK: - RoPE row order

@Test func ropeRowOrderMovesAdjacentPairsIntoHalvesPerHead() throws {
    // Two heads of size 4; row r holds the value r. GGUF pairs (0,1), (2,3); HF pairs (0,2), (1,3).
    let gguf = try Matrix(rows: 8, cols: 1, storage: (0..<8).map(Float.init))
    let hf = RoPERowOrder.halfSplit(fromInterleaved: gguf, headDimension: 4)
    #expect(hf.storage == [0, 2, 1, 3, 4, 6, 5, 7])
    #expect(RoPERowOrder.interleaved(fromHalfSplit: hf, headDimension: 4) == gguf)
    // Head size 8: GGUF rows 0..7 = pairs (0,1)(2,3)(4,5)(6,7) → HF first half 0,2,4,6 then 1,3,5,7.
    let eight = try Matrix(rows: 8, cols: 2, storage: (0..<16).map(Float.init))
    #expect(RoPERowOrder.halfSplit(fromInterleaved: eight, headDimension: 8).storage
            == [0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15])
}

// MARK: - HF export

/// Rebuilds PPF weights from an HF export folder (Q/K rows back to GGUF order),
/// the inverse the export must satisfy exactly.
private func readBack(_ dir: URL) throws -> LlamaWeights {
    let file = try SafetensorsFile(contentsOf: dir.appendingPathComponent(HFExporter.weightsFileName))
    let config = try JSONDecoder().decode(HFLlamaConfig.self, from: Data(contentsOf: dir.appendingPathComponent("config.json")))
    func matrix(_ name: String) throws -> Matrix {
        let info = try #require(file.tensors[name], "missing \(name)")
        return try Matrix(rows: info.shape[0], cols: info.shape[1], storage: file.values(of: name))
    }
    func vector(_ name: String) throws -> [Float] { try file.values(of: name) }
    let hd = config.headDim
    let c = try LlamaConfiguration(
        blockCount: config.numHiddenLayers, embeddingLength: config.hiddenSize, headCounts: [config.numAttentionHeads],
        keyValueHeadCounts: [config.numKeyValueHeads], feedForwardLengths: [config.intermediateSize], headDimension: hd,
        rmsNormEpsilon: Float(config.rmsNormEps), ropeFrequencyBase: Float(config.ropeTheta),
        contextLength: config.maxPositionEmbeddings, vocabularySize: config.vocabSize)
    let blocks = try (0..<config.numHiddenLayers).map { i in
        LlamaWeights.Block(
            attention: .init(norm: try vector(HFLlamaTensorName.attentionNorm(i)),
                             query: RoPERowOrder.interleaved(fromHalfSplit: try matrix(HFLlamaTensorName.query(i)), headDimension: hd),
                             key: RoPERowOrder.interleaved(fromHalfSplit: try matrix(HFLlamaTensorName.key(i)), headDimension: hd),
                             value: try matrix(HFLlamaTensorName.value(i)), output: try matrix(HFLlamaTensorName.output(i)),
                             outputBias: config.attentionBias ? try vector(HFLlamaTensorName.attentionBias(i, "o_proj")) : nil),
            mlp: .init(norm: try vector(HFLlamaTensorName.feedForwardNorm(i)), gate: try matrix(HFLlamaTensorName.gate(i)),
                       up: try matrix(HFLlamaTensorName.up(i)), down: try matrix(HFLlamaTensorName.down(i)),
                       downBias: config.mlpBias ? try vector(HFLlamaTensorName.mlpBias(i, "down_proj")) : nil))
    }
    return try LlamaWeights(configuration: c, tokenEmbedding: matrix(HFLlamaTensorName.tokenEmbedding), blocks: blocks,
                            outputNorm: vector(HFLlamaTensorName.outputNorm),
                            output: config.tieWordEmbeddings ? nil : matrix(HFLlamaTensorName.output))
}

@Test func uniformModelWithDroppedBlockExportsToHFAndReadsBackToIdenticalLogits() throws {
    let pruned = try TinyModels.uniform()
    let before = try LlamaModel(weights: pruned).logits(for: TinyModels.tokens)
    try withTemporaryDirectory { root in
        let dir = root.appendingPathComponent("hf")
        let summary = try HFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: dir, options: HFExportOptions(
            precision: .f32, provenance: ExportProvenance(planID: "p-7", achievedRatio: 0.5)))
        #expect(summary.removedBlockIndices == [2] && summary.tokenizerSkipped == nil)
        #expect(contents(of: dir) == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
        let config = summary.configuration
        #expect(config.numHiddenLayers == 4 && config.hiddenSize == 32 && config.intermediateSize == 24)
        #expect(config.numAttentionHeads == 2 && config.numKeyValueHeads == 2 && config.headDim == 8)
        #expect(config.tieWordEmbeddings && config.attentionBias && config.mlpBias)
        #expect(config.rmsNormEps == 1e-5 && config.ropeTheta == 10_000 && config.vocabSize == 96)
        #expect(config.torchDtype == "float32" && config.bosTokenId == 1 && config.eosTokenId == 2)
        #expect(config.ppfPlanId == "p-7" && config.ppfAchievedRatio == 0.5 && config.ppfSourceBlockIndex == [0, 1, 3, 4])
        let file = try SafetensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
        #expect(file.metadata["format"] == "pt" && file.metadata["ppf_plan_id"] == "p-7")
        #expect(file.tensors[HFLlamaTensorName.output] == nil, "a tied head is not written")
        #expect(file.tensors["model.layers.3.self_attn.q_proj.weight"]?.shape == [16, 32])
        #expect(file.tensors["model.layers.4.self_attn.q_proj.weight"] == nil)
        // The bias flags are model-wide: zero q/k/v/gate/up biases, and zero o/down biases where the block had none.
        #expect(try file.values(of: "model.layers.0.self_attn.q_proj.bias") == Array(repeating: 0, count: 16))
        #expect(try file.values(of: "model.layers.0.self_attn.o_proj.bias") == Array(repeating: 0, count: 32))
        #expect(try file.values(of: "model.layers.1.self_attn.o_proj.bias") == pruned.blocks[1].attention!.outputBias!)
        #expect(try file.values(of: "model.layers.1.mlp.up_proj.bias") == Array(repeating: 0, count: 24))
        // Q rows are reordered (not merely copied), and reading back undoes it exactly.
        #expect(try file.values(of: "model.layers.0.self_attn.q_proj.weight") != pruned.blocks[0].attention!.query.storage)
        let after = try LlamaModel(weights: readBack(dir)).logits(for: TinyModels.tokens)
        // Exact: F32 weights read back bit for bit (row reordering undone), the same shapes in the
        // same order; the zero o/down biases written for blocks without one add exactly +0.
        #expect(after.storage == before.storage, "max |Δlogit| \(maximumDifference(after, before))")
    }
}

@Test func modelWithoutBiasesHasNoBiasTensorsAndAnUntiedHeadIsWritten() throws {
    try withTemporaryDirectory { root in
        let dir = root.appendingPathComponent("hf")
        let summary = try HFExporter.export(try TinyModels.uniform(tied: false, biases: false),
                                            sourceMetadata: TinyModels.sourceMetadata(), to: dir)
        #expect(!summary.configuration.attentionBias && !summary.configuration.mlpBias)
        #expect(!summary.configuration.tieWordEmbeddings && summary.configuration.torchDtype == "float16")
        #expect(!summary.tensorNames.contains { $0.hasSuffix(".bias") })
        let file = try SafetensorsFile(contentsOf: dir.appendingPathComponent("model.safetensors"))
        #expect(file.tensors[HFLlamaTensorName.output]?.dtype == .f16)
        #expect(file.tensors[HFLlamaTensorName.outputNorm]?.dtype == .f32)
    }
}

@Test func nonUniformModelIsRefusedForHFAndLeavesNoFolder() throws {
    try withTemporaryDirectory { root in
        let dir = root.appendingPathComponent("hf")
        let model = try TinyModels.nonUniform()
        do {
            try HFExporter.export(model, sourceMetadata: TinyModels.sourceMetadata(), to: dir)
            Issue.record("per-layer shapes must be refused for HF")
        } catch let error as ExportError {
            #expect(error.code == .unexpressible)
            #expect(error.message.contains("GGUF"), "the message says what to do instead: \(error.message)")
        }
        #expect(contents(of: root) == [], "no folder and no file")
        // An existing folder stays empty.
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false)
        expectExportError(.unexpressible) {
            try HFExporter.export(try TinyModels.nonUniform(), sourceMetadata: TinyModels.sourceMetadata(), to: dir)
        }
        #expect(contents(of: dir) == [])
    }
}

@Test func attentionFreeBlockIsRefusedForHF() throws {
    let dense = try TinyModels.dense()
    let c = dense.configuration
    let pruned = try Slicing.prune(dense, [.whole(c, 0), BlockSlice(groups: [], headOffsets: [], channels: Array(0..<48)),
                                           .whole(c, 2), .whole(c, 3), .whole(c, 4)])
    try withTemporaryDirectory { root in
        expectExportError(.unexpressible) {
            try HFExporter.export(pruned, sourceMetadata: TinyModels.sourceMetadata(), to: root.appendingPathComponent("hf"))
        }
        #expect(contents(of: root) == [])
    }
}

// MARK: - Tokenizer files

@Test func tokenizerJSONIsRebuiltFromTheGGUFVocabulary() throws {
    var source = TinyModels.sourceMetadata()
    source["tokenizer.ggml.token_type"] = .array(.int32((0..<96).map { $0 < 3 ? 3 : ($0 == 3 ? 4 : 1) }))
    source["tokenizer.chat_template"] = .string("{{ messages }}")
    let files = try HFTokenizerFiles.make(from: source, contextLength: 64).get()
    let json = try #require(try JSONSerialization.jsonObject(with: Data(files.tokenizerJSON)) as? [String: Any])
    let model = try #require(json["model"] as? [String: Any])
    #expect(model["type"] as? String == "BPE")
    #expect((model["vocab"] as? [String: Int])?.count == 96)
    #expect((model["vocab"] as? [String: Int])?["t42"] == 42)
    #expect(model["merges"] as? [String] == ["t 1", "t 2"])
    let pre = try #require(json["pre_tokenizer"] as? [String: Any])
    let steps = try #require(pre["pretokenizers"] as? [[String: Any]])
    #expect(steps.map { $0["type"] as? String } == ["Digits", "ByteLevel"], "smollm splits digits, then the GPT-2 regex")
    let added = try #require(json["added_tokens"] as? [[String: Any]])
    #expect(added.map { $0["id"] as? Int } == [0, 1, 2, 3])
    #expect(added.map { $0["special"] as? Bool } == [true, true, true, false])
    let config = try #require(try JSONSerialization.jsonObject(with: Data(files.tokenizerConfigJSON)) as? [String: Any])
    #expect(config["bos_token"] as? String == "t1" && config["eos_token"] as? String == "t2")
    #expect(config["add_bos_token"] as? Bool == false && config["chat_template"] as? String == "{{ messages }}")
}

@Test func unknownPreTokenizerSkipsTheTokenizerFilesWithAReason() throws {
    var source = TinyModels.sourceMetadata()
    source["tokenizer.ggml.pre"] = .string("qwen2")
    try withTemporaryDirectory { root in
        let dir = root.appendingPathComponent("hf")
        let summary = try HFExporter.export(try TinyModels.uniform(), sourceMetadata: source, to: dir)
        #expect(summary.tokenizerSkipped?.contains("qwen2") == true)
        #expect(contents(of: dir) == ["config.json", "model.safetensors"])
    }
}
