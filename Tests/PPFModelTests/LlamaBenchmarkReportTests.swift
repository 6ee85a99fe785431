import Testing
@testable import PPFModel
import PPFTensor

// Benchmarks are programs (design habit 15); this only checks that the report is well formed.

@Test func benchmarkReportHasOneRowPerWindowWithExactFLOPCounts() throws {
    let model = try tinyModel(seed: 61)
    let report = try ModelBenchmark.run(model: model, windows: [8, 16], repetitions: 1)
    #expect(report.rows.map(\.window) == [8, 16])
    // Window 8, d 32, hd 8, 4 heads in 2 groups, FFN 48, vocab 64, 2 blocks, one attention chunk:
    // per block q 2·8·32·32 + k,v 2·(2·8·16·32) + o 2·8·32·32 + QKᵀ,PV 2·(2·(2·8)·8·8) + MLP 3·(2·8·48·32)
    // plus the head 2·8·64·32 (the NLL pass scores rows 0 ..< 7 only: 2·7·64·32).
    let perBlock = 2.0 * 8 * 32 * 32 * 2 + 2 * (2.0 * 8 * 16 * 32) + 2 * (2 * (2.0 * 16 * 8 * 8)) + 3 * (2.0 * 8 * 48 * 32)
    #expect(report.rows[0].flopsPerWindow == 2 * perBlock + 2.0 * 7 * 64 * 32)
    let table = report.markdownTable()
    #expect(table.contains("| window | tokens/s |"))
    #expect(table.split(separator: "\n").count == 5) // title, header, rule, two rows (the blank line is skipped)
}

@Test func benchmarkRejectsAWindowBeyondTheContext() throws {
    let model = try tinyModel(contextLength: 32)
    #expect { try ModelBenchmark.run(model: model, windows: [64], repetitions: 1) }
        throws: { ($0 as? ModelError)?.code == .windowTooLong }
}
