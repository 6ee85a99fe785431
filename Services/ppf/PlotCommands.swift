import ArgumentParser
import Foundation
import PPFReport

/// `ppf plot …`: charts drawn from result files.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw PNG charts from benchmark results.",
        subcommands: [PlotBaselines.self])
}

/// `ppf plot baselines <csv> --out <png>`: perplexity against ratio from docs/baselines.csv.
struct PlotBaselines: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baselines",
        abstract: "Perplexity against ratio, one line per baseline policy (its best metric), log y.")

    @Argument(help: "The CSV `ppf bench prune --write` wrote (docs/baselines.csv).")
    var csv: String

    @Option(help: "The PNG to write.")
    var out: String

    func run() throws {
        let text: String
        do {
            text = try String(contentsOf: URL(fileURLWithPath: csv), encoding: .utf8)
        } catch {
            throw UserFacingError("cannot read \(csv): \(error.localizedDescription)")
        }
        try BaselinesChart.write(csv: text, to: URL(fileURLWithPath: out))
        print("wrote \(out)")
    }
}

/// The baselines chart, shared by `ppf plot baselines` and `ppf bench prune --write`.
enum BaselinesChart {
    /// One CSV row's fields the chart needs.
    struct Row {
        let baseline, metric: String
        let ratio, perplexity: Double
    }

    /// Parses the rows of a baselines CSV (needs columns baseline, metric, target_ratio, perplexity).
    static func rows(csv: String) throws -> [Row] {
        let lines = csv.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { throw UserFacingError("the baselines CSV is empty") }
        func column(_ name: String) throws -> Int {
            guard let index = header.firstIndex(of: name) else {
                throw UserFacingError("the baselines CSV has no `\(name)` column (header: \(header.joined(separator: ",")))")
            }
            return index
        }
        let b = try column("baseline"), m = try column("metric"), r = try column("target_ratio"), p = try column("perplexity")
        return try lines.dropFirst().enumerated().map { offset, fields in
            guard fields.count == header.count, let ratio = Double(fields[r]), let perplexity = Double(fields[p]) else {
                throw UserFacingError("line \(offset + 2) of the baselines CSV is malformed: \(fields.joined(separator: ","))")
            }
            return Row(baseline: fields[b], metric: fields[m], ratio: ratio, perplexity: perplexity)
        }
    }

    /// Perplexity against ratio, one series per baseline using its best metric: the lowest mean log-perplexity.
    static func chart(rows: [Row]) -> LineChart {
        var baselines: [String] = []
        for row in rows where !baselines.contains(row.baseline) { baselines.append(row.baseline) }
        let series = baselines.compactMap { baseline -> Series? in
            let mine = rows.filter { $0.baseline == baseline && $0.perplexity.isFinite && $0.perplexity > 0 }
            var metrics: [String] = []
            for row in mine where !metrics.contains(row.metric) { metrics.append(row.metric) }
            let meanLog: (String) -> Double = { metric in
                let values = mine.filter { $0.metric == metric }.map { log($0.perplexity) }
                return values.reduce(0, +) / Double(values.count)
            }
            guard let best = metrics.min(by: { meanLog($0) < meanLog($1) }) else { return nil }
            let points = mine.filter { $0.metric == best }.map { (x: $0.ratio, y: $0.perplexity) }
            return Series(name: "\(baseline) (\(best))", points: points)
        }
        return LineChart(title: "Test perplexity against pruning ratio", xLabel: "target ratio (fraction of prunable parameters removed)",
                         yLabel: "perplexity (log scale)", yScale: .log10, series: series)
    }

    /// Parses `csv` and writes the chart to `url`.
    static func write(csv: String, to url: URL) throws {
        try chart(rows: rows(csv: csv)).write(to: url, width: 800, height: 500)
    }
}
