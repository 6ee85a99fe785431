import Foundation

// MARK: - BaselinePoint

/// A hand-made baseline's perplexity at one target ratio under one importance metric.
public struct BaselinePoint: Codable, Sendable, Equatable {
    /// The policy, e.g. `llm-pruner`.
    public let baseline: String
    /// The importance metric, e.g. `flap`.
    public let metric: String
    /// The target ratio.
    public let ratio: Double
    /// Its perplexity.
    public let perplexity: Double

    /// Creates a point.
    public init(baseline: String, metric: String, ratio: Double, perplexity: Double) {
        self.baseline = baseline
        self.metric = metric
        self.ratio = ratio
        self.perplexity = perplexity
    }
}

// MARK: - BaselineCurves

/// The baselines' perplexity-against-ratio curves: read back from the CSV
/// ``BaselineBenchmark/Report/csv()`` writes, and reduced to each baseline
/// under its best metric, the one every comparison with PPF uses (the
/// strongest form of each hand-made rule, not the weakest).
public enum BaselineCurves {
    /// The points of a baselines CSV (columns `baseline`, `metric`, `target_ratio`, `perplexity`; others are ignored).
    /// - Throws: ``PruningError`` `invalidResults` naming the missing column or the malformed line.
    public static func points(csv: String) throws(PruningError) -> [BaselinePoint] {
        let lines = csv.split(whereSeparator: \.isNewline).map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        guard let header = lines.first else { throw PruningError(.invalidResults, "the baselines CSV is empty") }
        func column(_ name: String) throws(PruningError) -> Int {
            guard let index = header.firstIndex(of: name) else {
                throw PruningError(.invalidResults, "the baselines CSV has no `\(name)` column (header: \(header.joined(separator: ",")))")
            }
            return index
        }
        let b = try column("baseline"), m = try column("metric"), r = try column("target_ratio"), p = try column("perplexity")
        var points: [BaselinePoint] = []
        for (offset, fields) in lines.dropFirst().enumerated() {
            guard fields.count == header.count, let ratio = Double(fields[r]), let perplexity = Double(fields[p]) else {
                throw PruningError(.invalidResults, "line \(offset + 2) of the baselines CSV is malformed: \(fields.joined(separator: ","))")
            }
            points.append(BaselinePoint(baseline: fields[b], metric: fields[m], ratio: ratio, perplexity: perplexity))
        }
        return points
    }

    /// The points of a benchmark run.
    public static func points(_ report: BaselineBenchmark.Report) -> [BaselinePoint] {
        report.rows.map { BaselinePoint(baseline: $0.baseline, metric: $0.metric, ratio: $0.targetRatio, perplexity: $0.perplexity) }
    }

    /// Each baseline's points under its best metric: the metric with the
    /// lowest mean log-perplexity over the baseline's points at `ratios`
    /// (all ratios when nil). Non-finite or non-positive perplexities are
    /// left out. Baselines keep their first-seen order.
    public static func bestMetric(_ points: [BaselinePoint], ratios: [Double]? = nil) -> [BaselinePoint] {
        let wanted = points.filter { point in
            point.perplexity.isFinite && point.perplexity > 0
                && (ratios?.contains { abs($0 - point.ratio) < 1e-9 } ?? true)
        }
        var names: [String] = []
        for point in wanted where !names.contains(point.baseline) { names.append(point.baseline) }
        return names.flatMap { name -> [BaselinePoint] in
            let mine = wanted.filter { $0.baseline == name }
            var metrics: [String] = []
            for point in mine where !metrics.contains(point.metric) { metrics.append(point.metric) }
            func meanLog(_ metric: String) -> Double {
                let values = mine.filter { $0.metric == metric }.map { Foundation.log($0.perplexity) }
                return values.reduce(0, +) / Double(values.count)
            }
            guard let best = metrics.min(by: { meanLog($0) < meanLog($1) }) else { return [] }
            return mine.filter { $0.metric == best }
        }
    }
}
