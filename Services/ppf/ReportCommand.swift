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
        let connection = try await StoredPredictor.connect()
        let directory = URL(fileURLWithPath: outDir)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let model = modelId
        var md = "# PPF report — \(model)\n\nWritten by `ppf report` at \(ISO8601DateFormatter().string(from: Date())) from PostgreSQL.\n\n"

        // Counts.
        let counts = try await connection.query("""
            SELECT (SELECT count(*) FROM ratio_events WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM ratio_event_outcomes WHERE model_id = \(model) AND status = 'answered')::int,
                   (SELECT count(*) FROM ratio_event_outcomes WHERE model_id = \(model) AND status = 'rejected')::int,
                   (SELECT count(*) FROM plans WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM measurements WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM predictor_versions WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM agent_versions WHERE model_id = \(model))::int,
                   (SELECT count(*) FROM dead_letters)::int
            """).decode((Int, Int, Int, Int, Int, Int, Int, Int).self).first ?? (0, 0, 0, 0, 0, 0, 0, 0)
        md += """
            | ratio events | answered | rejected | plans | measurements | predictor versions | agent versions | dead letters (all models) |
            |---:|---:|---:|---:|---:|---:|---:|---:|
            | \(counts.0) | \(counts.1) | \(counts.2) | \(counts.3) | \(counts.4) | \(counts.5) | \(counts.6) | \(counts.7) |


            """

        // Ratio events: predicted against spot-check measured.
        let events = try await connection.query("""
            SELECT requested_at, target_ratio, mode, status, achieved_ratio, predicted_perplexity,
                   coalesce(spot_check_perplexity, verified_perplexity), answer_ms::float8
              FROM ratio_event_history WHERE model_id = \(model) ORDER BY requested_at DESC LIMIT 40
            """).decode((Date, Double, String, String, Double?, Double?, Double?, Double?).self).reversed()
        md += "## Ratio events (newest 40)\n\n| requested (UTC) | r | mode | status | achieved | predicted ppl | measured ppl | answer (ms) |\n|---|---:|---|---|---:|---:|---:|---:|\n"
        let time = ISO8601DateFormatter()
        func f(_ value: Double?, _ format: String = "%.2f") -> String { value.map { String(format: format, $0) } ?? "–" }
        for event in events {
            md += "| \(time.string(from: event.0)) | \(f(event.1, "%.3f")) | \(event.2) | \(event.3) | \(f(event.4, "%.4f")) | \(f(event.5)) | \(f(event.6)) | \(f(event.7, "%.0f")) |\n"
        }
        let pairs = events.compactMap { event -> (x: Double, y: Double)? in
            guard let predicted = event.5, let measured = event.6 else { return nil }
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
        let measured = try await connection.query("""
            SELECT policy_source, achieved_ratio, perplexity FROM measurement_history
             WHERE model_id = \(model) AND (policy_source = 'agent' OR policy_source LIKE 'baseline:%')
               AND (split, token_budget, window_size) = (
                   SELECT split, token_budget, window_size FROM measurement_history
                    WHERE model_id = \(model) AND reason = 'spot-check' ORDER BY measured_at DESC LIMIT 1)
             ORDER BY achieved_ratio
            """).decode((String, Double, Double).self)
        if !measured.isEmpty {
            var series: [Series] = []
            for source in Set(measured.map(\.0)).sorted() {
                let points = measured.filter { $0.0 == source }.map { (x: $0.1, y: $0.2) }
                series.append(Series(name: source == "agent" ? "PPF agent" : String(source.dropFirst("baseline:".count)),
                                     points: points))
            }
            try LineChart(title: "Measured perplexity against achieved ratio (spot-check regime)",
                          xLabel: "achieved ratio", yLabel: "perplexity (log)", yScale: .log10, series: series)
                .write(to: directory.appendingPathComponent("measured-vs-ratio.png"))
            md += "## Measured perplexity against ratio\n\nAgent policies (spot-checks) and baselines measured the same way.\n\n![measured against ratio](measured-vs-ratio.png)\n\n"
        }

        // Predictor versions.
        let versions = try await connection.query("""
            SELECT created_at, sample_count, held_out_count, kendall_tau, mape FROM predictor_versions
             WHERE model_id = \(model) ORDER BY created_at
            """).decode((Date, Int, Int?, Double?, Double?).self)
        md += "## Predictor versions\n\n| created (UTC) | policies | held out | Kendall τ | MAPE |\n|---|---:|---:|---:|---:|\n"
        for version in versions {
            md += "| \(time.string(from: version.0)) | \(version.1) | \(version.2.map(String.init) ?? "–") | \(f(version.3, "%.3f")) | \(f(version.4.map { 100 * $0 }, "%.2f %%")) |\n"
        }
        let tauPoints = versions.compactMap { version in version.3.map { (x: Double(version.1), y: 100 * $0) } }
        let mapePoints = versions.compactMap { version in version.4.map { (x: Double(version.1), y: 100 * $0) } }
        if tauPoints.count >= 2 {
            try LineChart(title: "Predictor versions: held-out accuracy", xLabel: "measured policies", yLabel: "percent",
                          series: [Series(name: "Kendall tau x 100", points: tauPoints),
                                   Series(name: "MAPE (%)", points: mapePoints)])
                .write(to: directory.appendingPathComponent("predictor-versions.png"))
            md += "\n![predictor versions](predictor-versions.png)\n\n"
        }

        // Evaluators.
        let evaluators = try await connection.query("""
            SELECT evaluator_id, count(*)::int, avg(seconds)::float8, sum(tokens_counted)::float8 / nullif(sum(seconds), 0)
              FROM measurements WHERE model_id = \(model) GROUP BY evaluator_id ORDER BY evaluator_id
            """).decode((String, Int, Double, Double?).self)
        md += "## Evaluators\n\n| evaluator | measurements | mean seconds | tokens/s |\n|---|---:|---:|---:|\n"
        for row in evaluators { md += "| \(row.0) | \(row.1) | \(f(row.2)) | \(f(row.3, "%.0f")) |\n" }

        let url = directory.appendingPathComponent("report.md")
        try md.write(to: url, atomically: true, encoding: .utf8)
        print("wrote \(url.path) and its plots")
    }
}
