import Foundation
import PPFModel
@testable import PPFPruning
import PPFTensor
import Testing

// MARK: - Hand-sliced pruned models (no planner needed)

/// What to keep of one block, for building pruned models directly in tests.
/// Query head `g · groupSize + o` is kept for each kept group `g` and kept
/// offset `o`, so the result is a valid GQA layer.
struct BlockSlice {
    /// Kept KV groups (empty: no attention sublayer).
    var groups: [Int]
    /// Kept query heads within each group (offsets `0..<groupSize`).
    var headOffsets: [Int]
    /// Kept MLP channels (empty: no MLP sublayer).
    var channels: [Int]
    /// Attention-output bias to add, if any.
    var outputBias: [Float]? = nil
    /// MLP-down bias to add, if any.
    var downBias: [Float]? = nil

    /// Keeps the whole block.
    static func whole(_ c: LlamaConfiguration, _ layer: Int) -> BlockSlice {
        let shape = c.block(layer)
        return BlockSlice(groups: Array(0..<shape.keyValueHeads), headOffsets: Array(0..<shape.groupSize),
                          channels: Array(0..<shape.feedForwardLength))
    }

    /// Drops the block whole (an identity).
    static let dropped = BlockSlice(groups: [], headOffsets: [], channels: [])
}

enum Slicing {
    /// The rows `indices` of `m`, in that order.
    static func rows(_ m: Matrix, _ indices: [Int]) throws -> Matrix {
        var storage: [Float] = []
        storage.reserveCapacity(indices.count * m.cols)
        for r in indices { storage += m.row(r) }
        return try Matrix(rows: indices.count, cols: m.cols, storage: storage)
    }

    /// The columns `indices` of `m`, in that order.
    static func columns(_ m: Matrix, _ indices: [Int]) throws -> Matrix {
        var storage: [Float] = []
        storage.reserveCapacity(indices.count * m.rows)
        for r in 0..<m.rows { for c in indices { storage.append(m[r, c]) } }
        return try Matrix(rows: m.rows, cols: indices.count, storage: storage)
    }

    /// Physically slices `weights` block by block (one `BlockSlice` per block).
    static func prune(_ weights: LlamaWeights, _ slices: [BlockSlice]) throws -> LlamaWeights {
        let c = weights.configuration
        let hd = c.headDimension
        precondition(slices.count == c.blockCount, "one slice per block")
        var blocks: [LlamaWeights.Block] = []
        var heads: [Int] = [], kvHeads: [Int] = [], ffn: [Int] = []
        for (layer, slice) in slices.enumerated() {
            let source = weights.blocks[layer]
            let groupSize = c.block(layer).groupSize
            var attention: LlamaWeights.Attention?
            if let a = source.attention, !slice.groups.isEmpty {
                let queryHeads = slice.groups.flatMap { g in slice.headOffsets.map { g * groupSize + $0 } }
                let queryRows = queryHeads.flatMap { h in (h * hd)..<((h + 1) * hd) }
                let kvRows = slice.groups.flatMap { g in (g * hd)..<((g + 1) * hd) }
                attention = LlamaWeights.Attention(
                    norm: a.norm, query: try rows(a.query, queryRows), key: try rows(a.key, kvRows),
                    value: try rows(a.value, kvRows), output: try columns(a.output, queryRows),
                    outputBias: slice.outputBias)
                heads.append(queryHeads.count)
                kvHeads.append(slice.groups.count)
            } else {
                heads.append(0)
                kvHeads.append(0)
            }
            var mlp: LlamaWeights.MLP?
            if let m = source.mlp, !slice.channels.isEmpty {
                mlp = LlamaWeights.MLP(norm: m.norm, gate: try rows(m.gate, slice.channels), up: try rows(m.up, slice.channels),
                                       down: try columns(m.down, slice.channels), downBias: slice.downBias)
                ffn.append(slice.channels.count)
            } else {
                ffn.append(0)
            }
            blocks.append(LlamaWeights.Block(attention: attention, mlp: mlp))
        }
        let configuration = try LlamaConfiguration(
            blockCount: c.blockCount, embeddingLength: c.embeddingLength, headCounts: heads,
            keyValueHeadCounts: kvHeads, feedForwardLengths: ffn, headDimension: hd,
            rmsNormEpsilon: c.rmsNormEpsilon, ropeFrequencyBase: c.ropeFrequencyBase,
            contextLength: c.contextLength, vocabularySize: c.vocabularySize)
        return try LlamaWeights(configuration: configuration, tokenEmbedding: weights.tokenEmbedding, blocks: blocks,
                                outputNorm: weights.outputNorm, output: weights.output)
    }

    /// `count` reproducible values in ±`scale`.
    static func bias(_ count: Int, seed: UInt64, scale: Float = 0.1) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float.random(in: -scale..<scale, using: &g) }
    }
}

// MARK: - Tiny models

enum TinyModels {
    /// 5 blocks of 4 query heads in 2 KV groups (head size 8), FFN 48, d 32, vocab 96.
    static func dense(seed: UInt64 = 7, tied: Bool = true) throws -> LlamaWeights {
        let c = try LlamaConfiguration(blockCount: 5, embeddingLength: 32, headCounts: [4], keyValueHeadCounts: [2],
                                       feedForwardLengths: [48], headDimension: 8, rmsNormEpsilon: 1e-5,
                                       ropeFrequencyBase: 10_000, contextLength: 64, vocabularySize: 96)
        return try LlamaWeights.random(configuration: c, seed: seed, tiedOutput: tied)
    }

    /// A non-uniform pruned model: per-layer heads, KV groups and FFN widths,
    /// block 3 dropped whole, biases on blocks 1 and 4.
    static func nonUniform(tied: Bool = true) throws -> LlamaWeights {
        let dense = try dense(tied: tied)
        let c = dense.configuration
        return try Slicing.prune(dense, [
            BlockSlice.whole(c, 0),
            BlockSlice(groups: [1], headOffsets: [0, 1], channels: Array(stride(from: 0, to: 48, by: 2)),
                       outputBias: Slicing.bias(32, seed: 11), downBias: Slicing.bias(32, seed: 12)),
            BlockSlice(groups: [0, 1], headOffsets: [1], channels: Array(5..<37)),
            .dropped,
            BlockSlice(groups: [0], headOffsets: [0], channels: Array(0..<48), downBias: Slicing.bias(32, seed: 13)),
        ])
    }

    /// A uniform pruned model: every kept block 2 query heads in 2 groups and
    /// 24 channels, block 2 dropped, biases on block 1.
    static func uniform(tied: Bool = true, biases: Bool = true) throws -> LlamaWeights {
        let dense = try dense(tied: tied)
        func kept(_ layer: Int) -> BlockSlice {
            BlockSlice(groups: [0, 1], headOffsets: [layer % 2], channels: Array((layer..<(layer + 24))),
                       outputBias: biases && layer == 1 ? Slicing.bias(32, seed: 21) : nil,
                       downBias: biases && layer == 1 ? Slicing.bias(32, seed: 22) : nil)
        }
        return try Slicing.prune(dense, [kept(0), kept(1), .dropped, kept(3), kept(4)])
    }

    /// Tokenizer and provenance keys of a pretend source checkpoint.
    static func sourceMetadata(vocabulary: Int = 96) -> GGUFMetadata {
        var m = GGUFMetadata()
        m["general.architecture"] = .string("llama")
        m["general.name"] = .string("Tiny Test")
        m["general.license"] = .string("apache-2.0")
        m["general.file_type"] = .uint32(3)
        m["general.quantization_version"] = .uint32(2)
        m["llama.block_count"] = .uint32(5)
        m["llama.rope.scaling.type"] = .string("none")
        m["tokenizer.ggml.model"] = .string("gpt2")
        m["tokenizer.ggml.pre"] = .string("smollm")
        m["tokenizer.ggml.tokens"] = .array(.string((0..<vocabulary).map { "t\($0)" }))
        m["tokenizer.ggml.merges"] = .array(.string(["t 1", "t 2"]))
        m["tokenizer.ggml.bos_token_id"] = .uint32(1)
        m["tokenizer.ggml.eos_token_id"] = .uint32(2)
        return m
    }

    /// A fixed token sequence inside the tiny vocabulary.
    static let tokens = [1, 5, 17, 42, 88, 3, 3, 60, 95, 0, 14, 27]
}

// MARK: - Files

/// Runs `body` with a fresh temporary directory, removed afterwards.
func withTemporaryDirectory<R>(_ body: (URL) throws -> R) throws -> R {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-export-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// The names in `directory` (hidden temporary files included); a marker if it cannot be listed.
func contents(of directory: URL) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()) ?? ["<cannot list \(directory.path)>"]
}

/// Runs `body` and checks it throws an `ExportError` with `code`.
func expectExportError(_ code: ExportError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected ExportError.\(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ExportError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected ExportError.\(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Largest |a − b| over two equally shaped matrices.
func maximumDifference(_ a: Matrix, _ b: Matrix) -> Float {
    precondition(a.rows == b.rows && a.cols == b.cols)
    return zip(a.storage, b.storage).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
