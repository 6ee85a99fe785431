import Foundation
import PPFPruning
import PPFReport
import PPFTensor

// MARK: - ResultsReport

/// The results table (issue 6): test perplexity of PPF dynamic, PPF static
/// and every hand-made baseline (its best metric) at each ratio, PPF's
/// reduction against the best baseline and against uniform, the agent's
/// latency and what each PPF row cost in true measurements.
public struct ResultsReport: Sendable {
    /// One measured PPF policy at one ratio.
    public struct PPFRow: Sendable {
        public let ratio: Double
        public let achievedRatio: Double
        public let perplexity: Double
        /// Predicted (validation-regime) perplexity of the chosen policy.
        public let predictedPerplexity: Double
        /// Validation perplexity of the chosen candidate (static only).
        public let validationPerplexity: Double?
        /// True measurements spent choosing it (static: the verified candidates; dynamic: 0).
        public let measurements: Int
        /// Predictor calls and policies scored choosing it.
        public let predictorCalls: Int
        public let policiesScored: Int
        /// Seconds spent choosing it (search and verification; dynamic: the policy's latency).
        public let seconds: Double
    }

    public let command: String
    public let measuredAt: Date
    public let blasThreads: Int
    /// The CPU and the BLAS build and kernel the numbers come from.
    public var machine = Machine.description
    public let model: String
    public let tokens: Int
    public let window: Int
    public let densePerplexity: Double
    public let agentVersion: String
    public let agentTrainedAt: Date
    public let agentTrainingSeconds: Double
    public let predictorVersion: String
    public let predictorSamples: Int
    public let predictorHeldOut: String
    public let metric: String
    public let verifyTopK: Int
    /// Baselines whose policies seeded extra static searches (empty: the agent's search only).
    public let staticStarts: [String]
    /// How PPF static searched, when not by the CEM search with verification (the measured search's settings).
    public var staticMethod: String? = nil
    public let verifyTokens: Int
    public let verifyWindow: Int
    public let ratios: [Double]
    public let dynamic: [PPFRow]
    public let staticRows: [PPFRow]
    public let baselines: [BaselinePoint]
    public let baselineSource: String
    /// `policy(forRatio:)` latency over random ratios, milliseconds.
    public let policyLatencyMedian: Double
    public let policyLatencyP99: Double
    /// One policy scored by the predictor, milliseconds (median).
    public let predictionLatencyMedian: Double

    /// Baselines in first-seen order.
    public var baselineNames: [String] {
        var names: [String] = []
        for point in baselines where !names.contains(point.baseline) { names.append(point.baseline) }
        return names
    }

    public func baseline(_ name: String, at ratio: Double) -> BaselinePoint? {
        baselines.first { $0.baseline == name && abs($0.ratio - ratio) < 1e-9 }
    }

    /// The lowest baseline perplexity at `ratio`.
    public func bestBaseline(at ratio: Double) -> BaselinePoint? {
        baselines.filter { abs($0.ratio - ratio) < 1e-9 }.min { $0.perplexity < $1.perplexity }
    }

    // MARK: - Markdown

    public func markdown() -> String {
        let formatter = ISO8601DateFormatter()
        // Not a number: nothing was predicted (the unscreened measured search asks no predictor).
        func cell(_ value: Double?) -> String {
            guard let value, !value.isNaN else { return "–" }
            return String(format: "%.2f", value)
        }
        func row(_ rows: [PPFRow], _ ratio: Double) -> PPFRow? { rows.first { abs($0.ratio - ratio) < 1e-9 } }
        func reduction(_ ours: Double?, _ theirs: Double?) -> String {
            guard let ours, let theirs, theirs > 0 else { return "–" }
            return String(format: "%+.1f%%", 100 * (theirs - ours) / theirs)
        }
        let header = "| policy | " + ratios.map { "r = \(Self.label($0))" }.joined(separator: " | ") + " |"
        let rule = "|:---|" + ratios.map { _ in "---:" }.joined(separator: "|") + "|"
        var lines = [
            "Measured \(formatter.string(from: measuredAt)) with `\(command)` on \(machine).",
            "",
            "Model \(model) · test split, first \(tokens) tokens, window \(window) · dense perplexity **\(String(format: "%.3f", densePerplexity))**.",
            "Agent \(agentVersion) (trained \(formatter.string(from: agentTrainedAt)) in \(String(format: "%.1f", agentTrainingSeconds)) s) against predictor \(predictorVersion) (\(predictorSamples) measured policies; held out: \(predictorHeldOut)); metric \(metric) for every PPF plan.",
            staticSentence
                + " on the validation split (\(verifyTokens) tokens, window \(verifyWindow)), the best measured one kept. The test split is used only for this table. Baselines: \(baselineSource).",
            "",
            "**Test perplexity** (lower is better)",
            "",
            header, rule,
            "| **PPF dynamic** (agent, no search) | " + ratios.map { cell(row(dynamic, $0)?.perplexity) }.joined(separator: " | ") + " |",
            "| **PPF static** (\(staticMethod == nil ? "search + \(staticStarts.isEmpty ? verifyTopK : staticStarts.count + 1) verified" : "measured search")) | " + ratios.map { cell(row(staticRows, $0)?.perplexity) }.joined(separator: " | ") + " |",
        ]
        for name in baselineNames {
            let metricName = baselines.first { $0.baseline == name }?.metric ?? ""
            lines.append("| \(name) (\(metricName)) | " + ratios.map { cell(baseline(name, at: $0)?.perplexity) }.joined(separator: " | ") + " |")
        }
        lines += [
            "",
            "**Perplexity reduction** (positive: PPF is lower; best baseline per ratio in the last row)",
            "",
            header.replacingOccurrences(of: "| policy |", with: "| PPF against |"), rule,
            "| dynamic vs best baseline | " + ratios.map { reduction(row(dynamic, $0)?.perplexity, bestBaseline(at: $0)?.perplexity) }.joined(separator: " | ") + " |",
            "| dynamic vs uniform | " + ratios.map { reduction(row(dynamic, $0)?.perplexity, baseline("uniform", at: $0)?.perplexity) }.joined(separator: " | ") + " |",
            "| static vs best baseline | " + ratios.map { reduction(row(staticRows, $0)?.perplexity, bestBaseline(at: $0)?.perplexity) }.joined(separator: " | ") + " |",
            "| static vs uniform | " + ratios.map { reduction(row(staticRows, $0)?.perplexity, baseline("uniform", at: $0)?.perplexity) }.joined(separator: " | ") + " |",
            "| (best baseline) | " + ratios.map { bestBaseline(at: $0)?.baseline ?? "–" }.joined(separator: " | ") + " |",
            "",
            "**Achieved ratio, predicted and validation perplexity of the PPF policies**",
            "",
            header, rule,
            "| dynamic: achieved | " + ratios.map { row(dynamic, $0).map { String(format: "%.4f", $0.achievedRatio) } ?? "–" }.joined(separator: " | ") + " |",
            "| dynamic: predicted | " + ratios.map { cell(row(dynamic, $0)?.predictedPerplexity) }.joined(separator: " | ") + " |",
            "| static: achieved | " + ratios.map { row(staticRows, $0).map { String(format: "%.4f", $0.achievedRatio) } ?? "–" }.joined(separator: " | ") + " |",
            "| static: predicted | " + ratios.map { cell(row(staticRows, $0)?.predictedPerplexity) }.joined(separator: " | ") + " |",
            "| static: validation (measured) | " + ratios.map { cell(row(staticRows, $0)?.validationPerplexity) }.joined(separator: " | ") + " |",
            "",
            "**Cost of a PPF row** (per ratio; the predictor's \(predictorSamples) bootstrap measurements are shared by every row and every ratio)",
            "",
            "| | true measurements | predictor calls (policies) | time to choose the policy |",
            "|:---|---:|---:|---:|",
        ]
        let staticMeasurements = staticRows.map(\.measurements)
        let low = staticMeasurements.min() ?? 0, high = staticMeasurements.max() ?? 0
        let staticCount = low == high ? "\(low)" : "\(low)–\(high)"
        let staticCalls = staticRows.first.map { "\($0.predictorCalls) (\($0.policiesScored))" } ?? "–"
        let staticSeconds = staticRows.isEmpty ? 0 : staticRows.map(\.seconds).reduce(0, +) / Double(staticRows.count)
        lines += [
            "| PPF dynamic | 0 | 1 (1) | " + String(format: "%.3f ms median, %.3f ms p99 (agent); %.3f ms to score it", policyLatencyMedian, policyLatencyP99, predictionLatencyMedian) + " |",
            "| PPF static | \(staticCount) (validation) | \(staticCalls) | " + String(format: "%.1f s on average (search + verification)", staticSeconds) + " |",
            "| hand-made baselines | 0 | – | – |",
        ]
        return lines.joined(separator: "\n")
    }

    // MARK: - CSV and chart

    /// A ratio as the table heads it: 0.2, 0.35 (no trailing zeros, no float noise).
    static func label(_ ratio: Double) -> String {
        var text = String(format: "%.4f", ratio)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// How PPF static was found, for the table's preamble.
    var staticSentence: String {
        if let staticMethod { return "PPF static: " + staticMethod }
        let search = staticStarts.isEmpty
            ? "PPF static: CEM search from the agent's policy, its top \(verifyTopK) candidates measured"
            : "PPF static: CEM searches from the agent's policy and from the \(staticStarts.joined(separator: " and ")) policies, the best candidate of each measured"
        return search + (seededByHand ? " (**ablation**: searches seeded with hand-made rules, so these ratios are not PPF's alone)" : "")
    }

    /// Whether a static search started from a hand-made rule other than uniform (an ablation).
    public var seededByHand: Bool { staticStarts.contains { !["uniform", ""].contains($0) } }

    /// The baselines `comparison.csv` holds: the file's documented policy
    /// set (issue 13). The other measured rules stay in the report's table.
    public static let comparisonBaselines: Set<String> = ["llm-pruner", "owl", "uniform"]

    /// The comparison as `ratio,policy,split,tokens,window,perplexity` rows
    /// (`make demo` writes it to `.run/report/comparison.csv`): PPF dynamic,
    /// PPF static and each baseline of `baselinesKept`, all on the test split
    /// with the same tokens and window.
    public func comparisonCSV(baselinesKept: Set<String> = ResultsReport.comparisonBaselines) -> String {
        var lines = ["ratio,policy,split,tokens,window,perplexity"]
        for (name, rows) in [("ppf-dynamic", dynamic), ("ppf-static", staticRows)] {
            for row in rows { lines.append("\(row.ratio),\(name),test,\(tokens),\(window),\(row.perplexity)") }
        }
        for point in baselines where baselinesKept.contains(point.baseline) {
            lines.append("\(point.ratio),\(point.baseline),test,\(tokens),\(window),\(point.perplexity)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func csv() -> String {
        var lines = ["policy,metric,target_ratio,achieved_ratio,perplexity,predicted_perplexity,validation_perplexity,measurements"]
        for (name, rows) in [("ppf-dynamic", dynamic), ("ppf-static", staticRows)] {
            for row in rows {
                lines.append("\(name),\(metric),\(row.ratio),\(row.achievedRatio),\(row.perplexity),\(row.predictedPerplexity),\(row.validationPerplexity.map { "\($0)" } ?? ""),\(row.measurements)")
            }
        }
        for point in baselines {
            lines.append("\(point.baseline),\(point.metric),\(point.ratio),,\(point.perplexity),,,0")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func chart() -> LineChart {
        var series = [
            Series(name: "PPF dynamic", points: dynamic.map { (x: $0.ratio, y: $0.perplexity) }),
            Series(name: "PPF static", points: staticRows.map { (x: $0.ratio, y: $0.perplexity) }),
        ]
        for name in baselineNames {
            let mine = baselines.filter { $0.baseline == name }
            series.append(Series(name: "\(name) (\(mine.first?.metric ?? ""))", points: mine.map { (x: $0.ratio, y: $0.perplexity) }))
        }
        return LineChart(title: "Test perplexity: PPF vs hand-made policies",
                         xLabel: "target ratio (fraction of prunable parameters removed)",
                         yLabel: "perplexity (log scale)", yScale: .log10, series: series)
    }
}
