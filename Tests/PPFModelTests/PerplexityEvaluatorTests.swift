import Foundation
import Testing
@testable import PPFModel
import PPFTensor

private func code(of error: any Error) -> ModelError.Code? { (error as? ModelError)?.code }

/// NLL of a window computed the slow way: full logits, then log-softmax in Double.
private func slowWindowNLL(_ model: LlamaModel, _ window: [Int]) throws -> [Double] {
    let logits = try model.logits(for: window)
    return (0..<(window.count - 1)).map { i in
        let row = logits.row(i).map(Double.init)
        let m = row.max()!
        let lse = m + log(row.map { exp($0 - m) }.reduce(0, +))
        return lse - row[window[i + 1]]
    }
}

@Test func perplexityIsExpOfTheMeanNLLOverIndependentWindows() throws {
    let model = try tinyModel(seed: 41)
    let tokens = randomTokens(10, seed: 12)
    let result = try PerplexityEvaluator(model: model, windowLength: 4).evaluate(tokens)
    // Windows [0,4) [4,8) [8,10): 3 + 3 + 1 predictions, each window in a fresh context.
    let nll = try slowWindowNLL(model, Array(tokens[0..<4])) + slowWindowNLL(model, Array(tokens[4..<8]))
        + slowWindowNLL(model, Array(tokens[8..<10]))
    let mean = nll.reduce(0, +) / Double(nll.count)
    #expect(result.windows == 3)
    #expect(result.tokensCounted == 7)
    #expect(abs(result.windowNLL[2] - nll[6]) < 1e-4)
    #expect(abs(result.nll - mean) < 1e-4)
    #expect(abs(result.perplexity - exp(mean)) < 1e-3 * exp(mean))
    #expect(result.tokensPerSecond > 0)
}

@Test func tokenBudgetUsesOnlyTheFirstTokens() throws {
    let model = try tinyModel(seed: 42)
    let tokens = randomTokens(40, seed: 13)
    let evaluator = try PerplexityEvaluator(model: model, windowLength: 8)
    let budgeted = try evaluator.evaluate(tokens, tokenBudget: 16)
    let prefix = try evaluator.evaluate(Array(tokens[0..<16]))
    // Exact: the same two 8-token windows, in the same order, through the same shapes.
    #expect(budgeted == PerplexityResult(nll: prefix.nll, perplexity: prefix.perplexity, tokensCounted: 14, windows: 2,
                                         seconds: budgeted.seconds, tokensPerSecond: budgeted.tokensPerSecond,
                                         windowNLL: prefix.windowNLL))
}

@Test func aTrailingSingleTokenIsNotAWindow() throws {
    let evaluator = try PerplexityEvaluator(model: tinyModel(), windowLength: 4)
    #expect(evaluator.windows(tokenCount: 9) == [0..<4, 4..<8])
    #expect(evaluator.windows(tokenCount: 10) == [0..<4, 4..<8, 8..<10])
}

@Test func windowLongerThanTheContextThrowsWindowTooLong() throws {
    let model = try tinyModel(contextLength: 64)
    #expect { try PerplexityEvaluator(model: model, windowLength: 65) } throws: { code(of: $0) == .windowTooLong }
    #expect { try PerplexityEvaluator(model: model, windowLength: 1) } throws: { code(of: $0) == .windowTooShort }
}

@Test func emptySplitThrowsEmptySplit() throws {
    let evaluator = try PerplexityEvaluator(model: tinyModel(), windowLength: 8)
    #expect { try evaluator.evaluate([]) } throws: { code(of: $0) == .emptySplit }
    #expect { try evaluator.evaluate([5]) } throws: { code(of: $0) == .emptySplit }
    #expect { try evaluator.evaluate([5, 6, 7], tokenBudget: 1) } throws: { code(of: $0) == .emptySplit }
}

@Test func evaluationOnADedicatedThreadGivesTheSameResult() async throws {
    let evaluator = try PerplexityEvaluator(model: tinyModel(seed: 43), windowLength: 8)
    let tokens = randomTokens(20, seed: 14)
    let direct = try evaluator.evaluate(tokens)
    let detached = try await evaluator.evaluateOnDedicatedThread(tokens)
    // Exact: the same windows and shapes; the OpenBLAS thread count is process-wide, and
    // products this small run single-threaded anyway.
    #expect(direct.nll == detached.nll)
}

@Test func progressReporterHearsEveryWindow() throws {
    final class Recorder: ProgressReporter {
        var events: [String] = []
        func start(total: Int, unit: String) { events.append("start \(total) \(unit)") }
        func update(completed: Int, detail: String) { events.append("\(completed)") }
        func finish() { events.append("finish") }
    }
    let recorder = Recorder()
    _ = try PerplexityEvaluator(model: tinyModel(), windowLength: 4).evaluate(randomTokens(12, seed: 1), progress: recorder)
    #expect(recorder.events == ["start 3 windows", "1", "2", "3", "finish"])
}

@Test func progressBarRendersFilledFractionCountAndDetail() {
    let bar = TerminalProgressBar(width: 10, enabled: false)
    bar.start(total: 4, unit: "windows")
    #expect(bar.render(completed: 2, detail: "ppl 3.000").hasPrefix("[#####.....] 2/4 windows  ppl 3.000"))
    #expect(bar.render(completed: 4, detail: "") == "[##########] 4/4 windows")
}

@Test func corpusReportsAMissingFileAndReadsAPresentOne() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-corpus-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let corpus = Corpus(directory: directory)
    #expect { try corpus.text(of: .validation) } throws: { code(of: $0) == .io }
    try " = Title = \n\n text \n".write(to: corpus.url(for: .test), atomically: true, encoding: .utf8)
    #expect(try corpus.text(of: .test) == " = Title = \n\n text \n")
    #expect(corpus.url(for: .calibration).lastPathComponent == "wiki.calibration.raw")
}
