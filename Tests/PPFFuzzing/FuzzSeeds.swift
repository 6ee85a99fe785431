import Foundation
import PPFModel
import PPFPruning
import PPFTensor
import PPFTestSupport

// MARK: - Seeds

extension FuzzTarget {
    /// Valid files the fuzzer starts from, written by the project's own
    /// writers: for GGUF a one-block LLaMA (d = 32, 2 query heads on 1 KV
    /// head, FFN 32) with the tiny test model's byte-level BPE tokenizer, its matrices as F32,
    /// F16 and Q8_0; for safetensors a file with an F32, an F16 and a BF16
    /// tensor. Small, so mutations reach every field quickly.
    public func seeds() throws -> [Data] {
        switch self {
        case .gguf: try Self.ggufSeeds()
        case .safetensors: [try Self.safetensorsSeed()]
        }
    }

    private static func ggufSeeds() throws -> [Data] {
        let configuration = try LlamaConfiguration(
            blockCount: 1, embeddingLength: 32, headCounts: [2], keyValueHeadCounts: [1], feedForwardLengths: [32],
            headDimension: 16, rmsNormEpsilon: 1e-5, ropeFrequencyBase: 10_000, contextLength: 64,
            vocabularySize: TinyModel.vocabulary.tokens.count)
        let weights = try LlamaWeights.random(configuration: configuration, seed: 1)
        let metadata = TinyModel.tokenizerMetadata(name: "PPF fuzz seed")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-fuzz-seeds-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        return try [GGMLType.f32, .f16, .q8_0].map { type in
            let url = folder.appendingPathComponent("\(type).gguf")
            try weights.makeGGUFWriter(baseMetadata: metadata, matrixType: type).write(to: url)
            return try Data(contentsOf: url)
        }
    }

    private static func safetensorsSeed() throws -> Data {
        var writer = SafetensorsWriter()
        try writer.addTensor(name: "model.norm.weight", shape: [4], values: [1, 2, 3, 4], as: .f32)
        try writer.addTensor(name: "lm_head.weight", shape: [2, 3], values: [0.5, -1, 2, 0, 1e-3, 7], as: .f16)
        try writer.addTensor(name: "model.embed_tokens.weight", shape: [3, 2], values: [1, 2, 3, 4, 5, 6], as: .bf16)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-fuzz-seed-\(UUID().uuidString.prefix(8)).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try writer.write(to: url)
        return try Data(contentsOf: url)
    }
}

// MARK: - Mutations without a fuzzer

/// Deterministic byte-level mutations of the seeds, for the replay test that
/// runs in `make test` without libFuzzer: flipped bits, overwritten
/// little-endian integers (0, 1, −1, 2³¹, 2⁴⁰, 2⁶², 2⁶⁴ − 1) at every
/// eighth offset of the header, truncations and duplicated ranges. Not
/// coverage-guided (that is `make fuzz`), but it reaches every length and
/// count field of a small header.
public struct SeedMutator: Sendable {
    private var state: UInt64

    /// A mutator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed | 1 }

    private mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    private static let interesting: [UInt64] = [0, 1, .max, 1 << 31, 1 << 32, 1 << 40, 1 << 62, 0x7FFF_FFFF_FFFF_FFFF]

    /// One mutant of `seed`, whose edits fall within its first `focus` bytes (the header).
    public mutating func mutate(_ seed: Data, focus: Int) -> Data {
        var bytes = [UInt8](seed)
        for _ in 0...(next() % 3) {
            guard !bytes.isEmpty else { break }
            // A truncation shortens what later edits may touch.
            let at = Int(next() % UInt64(max(1, min(focus, bytes.count))))
            switch next() % 5 {
            case 0:
                bytes[at] ^= UInt8(1 << (next() % 8))
            case 1, 2:
                let value = Self.interesting[Int(next() % UInt64(Self.interesting.count))]
                let width = next() % 2 == 0 ? 4 : 8
                let start = at - at % 4
                for i in 0..<width where start + i < bytes.count { bytes[start + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            case 3:
                bytes.removeLast(Int(next() % UInt64(bytes.count)))
            default:
                let length = Int(next() % 64)
                let end = min(bytes.count, at + length)
                bytes.insert(contentsOf: bytes[at..<end], at: at)
            }
        }
        return Data(bytes)
    }
}
