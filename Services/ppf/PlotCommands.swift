import ArgumentParser
import Foundation
import PPFPruning
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
    /// Perplexity against ratio, one series per baseline under its best metric (``BaselineCurves/bestMetric(_:ratios:)``).
    static func chart(_ points: [BaselinePoint]) -> LineChart {
        let best = BaselineCurves.bestMetric(points)
        var names: [String] = []
        for point in best where !names.contains(point.baseline) { names.append(point.baseline) }
        let series = names.map { name in
            let mine = best.filter { $0.baseline == name }
            return Series(name: "\(name) (\(mine[0].metric))", points: mine.map { (x: $0.ratio, y: $0.perplexity) })
        }
        return LineChart(title: "Test perplexity against pruning ratio", xLabel: "target ratio (fraction of prunable parameters removed)",
                         yLabel: "perplexity (log scale)", yScale: .log10, series: series)
    }

    /// Parses `csv` and writes the chart to `url`.
    static func write(csv: String, to url: URL) throws {
        try chart(BaselineCurves.points(csv: csv)).write(to: url, width: 800, height: 500)
    }
}
