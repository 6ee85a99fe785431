import Foundation
import Testing
@testable import PPFModel

// MARK: - Inspection report

@Test func reportSummarisesMetadataTensorsAndParameterKinds() throws {
    try withTemporaryDirectory { dir in
        let url = dir.appendingPathComponent("tiny.gguf")
        var writer = GGUFWriter()
        writer.metadata["general.architecture"] = .string("llama")
        writer.metadata["tokenizer.ggml.tokens"] = .array(.string(["<s>", "a\nb", "c", "d", "e"]))
        writer.metadata["llama.block_count"] = .uint32(1)
        try writer.addTensor(name: "token_embd.weight", shape: [5, 4], values: [Float](repeating: 0, count: 20))
        try writer.addTensor(name: "blk.0.attn_q.weight", shape: [4, 4], values: [Float](repeating: 0, count: 16), as: .f16)
        try writer.addTensor(name: "blk.0.ffn_down.weight", shape: [4, 8], values: [Float](repeating: 0, count: 32))
        try writer.addTensor(name: "blk.0.attn_norm.weight", shape: [4], values: [Float](repeating: 1, count: 4))
        try writer.write(to: url)
        let file = try GGUFFile.open(url)

        let counts = GGUFInspection.parameterCounts(for: file)
        #expect(counts == [.embedding: 20, .attentionQuery: 16, .mlpDown: 32, .norm: 4])

        let report = GGUFInspection.report(for: file)
        #expect(report.contains("Metadata (3 keys)"))
        #expect(report.contains("array<string>"))
        #expect(report.contains("[5] [\"<s>\", \"a\\nb\", \"c\", …]"))
        #expect(report.contains("Tensors (4)"))
        #expect(report.contains("blk.0.attn_q.weight"))
        #expect(report.contains("4 × 8"))          // ffn_down shown outer × inner
        #expect(report.contains("(tied to the embedding)"))
        let prunable = try #require(report.split(separator: "\n").first { $0.contains("prunable") })
        #expect(prunable.contains("48"))           // q (16) + down (32)
        let total = try #require(report.split(separator: "\n").first { $0.hasPrefix("  total") })
        #expect(total.hasSuffix("72"))
    }
}

@Test(.enabled(if: RealModel.isAvailable, RealModel.skipReason))
func realModelReportCountsAboutOneHundredThirtyFiveMillionParameters() throws {
    let file = try #require(RealModel.file)
    let counts = GGUFInspection.parameterCounts(for: file)
    #expect(counts[.embedding] == 49152 * 576)
    #expect(counts[.attentionQuery] == 30 * 576 * 576)
    #expect(counts[.attentionKey] == 30 * 192 * 576)
    #expect(counts[.mlpGate] == 30 * 1536 * 576)
    #expect(counts[.norm] == 61 * 576)
    #expect(counts[.outputHead] == nil)
    let total = counts.values.reduce(0, +)
    #expect((134_000_000...135_000_000).contains(total))
    let report = GGUFInspection.report(for: file)
    #expect(report.contains("Tensors (272)"))
    #expect(report.contains("[49152]"))
}
