import Foundation
import Testing
@testable import PPFPruning

// MARK: - The benchmark report and the command-line helpers

func row(_ baseline: String, _ metric: String, _ ratio: Double, ppl: Double, dropped: Int = 0) -> BaselineBenchmark.Row {
    BaselineBenchmark.Row(baseline: baseline, metric: metric, targetRatio: ratio, achievedRatio: ratio + 0.0001,
                          prunableParameters: 1000, droppedBlocks: dropped, perplexity: ppl, tokensPerSecond: 300,
                          relativeSpeed: 1.5, policySeconds: 0.1, planSeconds: 0.2, applySeconds: 0.3)
}

@Test func theBenchmarkReportRendersOneLinePerPolicyAndMetricWithEveryRatio() {
    let report = BaselineBenchmark.Report(
        model: "m.gguf", tokenBudget: 8192, windowLength: 512, split: "test", densePerplexity: 20, denseTokensPerSecond: 200,
        calibration: "calibration-32x512", calibrationSeconds: 60, scoringSeconds: ["flap": 0.5],
        rows: [row("uniform", "flap", 0.1, ppl: 25), row("uniform", "flap", 0.2, ppl: 31.234),
               row("shortgpt", "flap", 0.1, ppl: 40, dropped: 3)])
    let markdown = report.markdown()
    #expect(markdown.contains("| policy | metric | r = 0.1 | r = 0.2 |"))
    #expect(markdown.contains("| uniform | flap | 25.00 | 31.23 |"))
    #expect(markdown.contains("| shortgpt | flap | 40.00 | – |"))
    #expect(markdown.contains("0.1001 (3)"))
    #expect(markdown.contains("dense perplexity **20.000**"))
    #expect(markdown.contains("policy + plan + apply per model 0.60 s"))
    let csv = report.csv().split(separator: "\n")
    #expect(csv.count == 4 && csv[1].hasPrefix("uniform,flap,0.1,"))
}
