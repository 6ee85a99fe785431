import Foundation
import Testing
@testable import PPFPruning

private func row(_ baseline: String, _ metric: String, _ ratio: Double, _ perplexity: Double) -> BaselineBenchmark.Row {
    BaselineBenchmark.Row(baseline: baseline, metric: metric, targetRatio: ratio, achievedRatio: ratio, prunableParameters: 1,
                          droppedBlocks: 0, perplexity: perplexity, tokensPerSecond: 1, relativeSpeed: 1, policySeconds: 0,
                          planSeconds: 0, applySeconds: 0)
}

@Test func theBaselinesCSVReadsBackToTheRunsPointsAndEachBaselineKeepsItsBestMetric() throws {
    let report = BaselineBenchmark.Report(
        model: "m", tokenBudget: 8, windowLength: 4, split: "test", densePerplexity: 10, denseTokensPerSecond: 1,
        calibration: "c", calibrationSeconds: 0, scoringSeconds: [:],
        rows: [row("uniform", "magnitude", 0.2, 40), row("uniform", "flap", 0.2, 30), row("uniform", "magnitude", 0.4, 90),
               row("uniform", "flap", 0.4, 200), row("owl", "flap", 0.2, 25), row("owl", "flap", 0.4, .infinity)])
    let points = try BaselineCurves.points(csv: report.csv())
    #expect(points == BaselineCurves.points(report), "the CSV holds what the run measured")

    // uniform: mean log over both ratios favours magnitude (log 40 + log 90 < log 30 + log 200).
    let best = BaselineCurves.bestMetric(points)
    #expect(best.filter { $0.baseline == "uniform" }.map(\.metric) == ["magnitude", "magnitude"])
    #expect(best.filter { $0.baseline == "owl" }.map(\.ratio) == [0.2], "a non-finite perplexity is left out")
    // Restricted to r = 0.2, flap is uniform's better metric.
    #expect(BaselineCurves.bestMetric(points, ratios: [0.2]).map(\.metric) == ["flap", "flap"])
}

@Test func aMalformedBaselinesCSVIsANamedError() {
    #expect { _ = try BaselineCurves.points(csv: "baseline,metric,perplexity\nuniform,flap,3\n") } throws: { error in
        (error as? PruningError)?.code == .invalidResults && "\(error)".contains("target_ratio")
    }
    #expect { _ = try BaselineCurves.points(csv: "baseline,metric,target_ratio,perplexity\nuniform,flap,x,3\n") } throws: { error in
        "\(error)".contains("line 2")
    }
}
