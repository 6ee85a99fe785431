import ArgumentParser
import Foundation
import PPFReport
import PPFStore

// MARK: - ppf report

/// `ppf report`: a markdown report with PNG plots of what the database holds.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a markdown report with PNG plots of what PostgreSQL holds: ratio events, predictions against measurements, predictor versions, evaluators.",
        discussion: "Everything comes from the audit views (ratio_event_history, measurement_history) and the version tables.")

    @Option(help: "Folder for report.md and its plots.")
    var outDir: String = ".run/report"

    @Option(help: "The model id.")
    var modelId: String = CommandLineSettings.current.modelId

    func run() async throws {
        let connection = try await StoredAgents.connect()
        let directory = URL(fileURLWithPath: outDir)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let model = modelId
        var md = "# PPF report — \(model)\n\nWritten by `ppf report` at \(ISO8601DateFormatter().string(from: Date())) from PostgreSQL.\n\n"

        // Counts.
        let counts = try await ReportRepository.counts(modelId: model, on: connection)
        md += """
            | ratio events | answered | rejected | plans | measurements | predictor versions | agent versions | dead letters (all models) |
            |---:|---:|---:|---:|---:|---:|---:|---:|
            | \(counts.ratioEvents) | \(counts.answered) | \(counts.rejected) | \(counts.plans) | \(counts.measurements) | \(counts.predictorVersions) | \(counts.agentVersions) | \(counts.deadLetters) |


            """

        // Ratio events: predicted against spot-check measured.
        let events = try await ReportRepository.recentEvents(modelId: model, limit: 40, on: connection)
        md += "## Ratio events (newest 40)\n\n| requested (UTC) | r | mode | status | achieved | predicted ppl | measured ppl | answer (ms) |\n|---|---:|---|---|---:|---:|---:|---:|\n"
        let time = ISO8601DateFormatter()
        func f(_ value: Double?, _ format: String = "%.2f") -> String { value.map { String(format: format, $0) } ?? "–" }
        for event in events {
            md += "| \(time.string(from: event.requestedAt)) | \(f(event.targetRatio, "%.3f")) | \(event.mode) | \(event.status) | "
                + "\(f(event.achievedRatio, "%.4f")) | \(f(event.predictedPerplexity)) | \(f(event.measuredPerplexity)) | "
                + "\(f(event.answerMilliseconds, "%.0f")) |\n"
        }
        let pairs = events.compactMap { event -> (x: Double, y: Double)? in
            guard let predicted = event.predictedPerplexity, let measured = event.measuredPerplexity else { return nil }
            return (x: measured, y: predicted)
        }
        if pairs.count >= 2 {
            try ScatterChart(title: "Agent policies: predicted against measured", xLabel: "measured perplexity (spot-check, log)",
                             yLabel: "predicted perplexity (log)", xScale: .log10, yScale: .log10,
                             series: [Series(name: "ratio events", points: pairs)], diagonal: true)
                .write(to: directory.appendingPathComponent("predicted-vs-measured.png"))
            md += "\n![predicted against measured](predicted-vs-measured.png)\n\n"
        }

        // Measured perplexity against ratio: agent spot-checks and baselines in the same regime.
        let measured = try await ReportRepository.agentAndBaselineMeasurements(modelId: model, on: connection)
        if !measured.isEmpty {
            var series: [Series] = []
            for source in Set(measured.map(\.source)).sorted() {
                let points = measured.filter { $0.source == source }.map { (x: $0.achievedRatio, y: $0.perplexity) }
                series.append(Series(name: source == "agent" ? "PPF agent" : String(source.dropFirst("baseline:".count)),
                                     points: points))
            }
            try LineChart(title: "Measured perplexity against achieved ratio (spot-check regime)",
                          xLabel: "achieved ratio", yLabel: "perplexity (log)", yScale: .log10, series: series)
                .write(to: directory.appendingPathComponent("measured-vs-ratio.png"))
            md += "## Measured perplexity against ratio\n\nAgent policies (spot-checks) and baselines measured the same way.\n\n![measured against ratio](measured-vs-ratio.png)\n\n"
        }

        // Predictor versions.
        let versions = try await ReportRepository.predictorVersions(modelId: model, on: connection)
        md += "## Predictor versions\n\n| created (UTC) | policies | held out | Kendall τ | MAPE |\n|---|---:|---:|---:|---:|\n"
        for version in versions {
            md += "| \(time.string(from: version.createdAt)) | \(version.sampleCount) | \(version.heldOutCount.map(String.init) ?? "–") | "
                + "\(f(version.kendallTau, "%.3f")) | \(f(version.mape.map { 100 * $0 }, "%.2f %%")) |\n"
        }
        let tauPoints = versions.compactMap { version in version.kendallTau.map { (x: Double(version.sampleCount), y: 100 * $0) } }
        let mapePoints = versions.compactMap { version in version.mape.map { (x: Double(version.sampleCount), y: 100 * $0) } }
        if tauPoints.count >= 2 {
            try LineChart(title: "Predictor versions: held-out accuracy", xLabel: "measured policies", yLabel: "percent",
                          series: [Series(name: "Kendall tau x 100", points: tauPoints),
                                   Series(name: "MAPE (%)", points: mapePoints)])
                .write(to: directory.appendingPathComponent("predictor-versions.png"))
            md += "\n![predictor versions](predictor-versions.png)\n\n"
        }

        // Evaluators.
        let evaluators = try await ReportRepository.evaluators(modelId: model, on: connection)
        md += "## Evaluators\n\n| evaluator | measurements | mean seconds | tokens/s |\n|---|---:|---:|---:|\n"
        for row in evaluators {
            md += "| \(row.evaluatorId) | \(row.measurements) | \(f(row.meanSeconds)) | \(f(row.tokensPerSecond, "%.0f")) |\n"
        }

        let url = directory.appendingPathComponent("report.md")
        try md.write(to: url, atomically: true, encoding: .utf8)
        print("wrote \(url.path) and its plots")
    }
}
