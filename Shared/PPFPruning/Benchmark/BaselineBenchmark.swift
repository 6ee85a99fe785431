import Dispatch
import Foundation
import PPFContracts
import PPFModel

// MARK: - BaselineBenchmark

/// The baselines table (issue 4, "Benchmark"): for every target ratio ×
/// baseline policy × importance metric, build the plan, apply it, and measure
/// test-split perplexity with a token budget, the pruned model's tokens/s
/// relative to the dense one, and how long policy, plan and apply take.
///
/// A program, not a test (design habit 15): `ppf bench prune` calls `run`
/// and writes `markdown()` to docs/baselines.md. Identical plans (ShortGPT at
/// whole-block ratios is the same model under every metric) are measured once.
///
/// **Speed.** On a shared machine throughput drifts by 2–4× over a long run,
/// so the relative speed of each pruned model comes from a probe: the dense
/// model and the pruned model each score the same window back to back
/// (`speedProbeRepetitions` times, best taken), and the ratio of their times is reported.
public enum BaselineBenchmark {
    /// What to run.
    public struct Configuration: Sendable {
        /// Target ratios (default 0.1 … 0.5).
        public var ratios: [Double]
        /// Policies (default: all baselines).
        public var baselines: [BaselinePolicy]
        /// Metrics (default: all).
        public var metrics: [MetricKind]
        /// Tokens of the split scored per model (default 8192).
        public var tokenBudget: Int
        /// Perplexity window (default 512).
        public var windowLength: Int
        /// Split scored (default test).
        public var split: CorpusSplit
        /// Baseline hyperparameters (the papers' values).
        public var options: BaselineOptions
        /// Back-to-back timings of one window per model for the relative speed (default 1).
        public var speedProbeRepetitions: Int

        /// The defaults above.
        public init(ratios: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5], baselines: [BaselinePolicy] = BaselinePolicy.allCases,
                    metrics: [MetricKind] = MetricKind.allCases, tokenBudget: Int = 8192, windowLength: Int = 512,
                    split: CorpusSplit = .test, options: BaselineOptions = BaselineOptions(), speedProbeRepetitions: Int = 1) {
            self.ratios = ratios
            self.baselines = baselines
            self.metrics = metrics
            self.tokenBudget = tokenBudget
            self.windowLength = windowLength
            self.split = split
            self.options = options
            self.speedProbeRepetitions = speedProbeRepetitions
        }
    }

    /// One (ratio, baseline, metric) measurement.
    public struct Row: Codable, Sendable, Equatable {
        /// The policy.
        public let baseline: String
        /// The importance metric.
        public let metric: String
        /// The target ratio.
        public let targetRatio: Double
        /// The achieved ratio, exactly.
        public let achievedRatio: Double
        /// Prunable parameters left.
        public let prunableParameters: Int
        /// Blocks dropped whole.
        public let droppedBlocks: Int
        /// Test perplexity.
        public let perplexity: Double
        /// Tokens/s of the pruned model's evaluation.
        public let tokensPerSecond: Double
        /// Dense seconds over pruned seconds for the same window, timed back to back.
        public let relativeSpeed: Double
        /// Seconds to make the policy.
        public let policySeconds: Double
        /// Seconds to make the plan.
        public let planSeconds: Double
        /// Seconds to apply the plan (slicing, bias compensation).
        public let applySeconds: Double
    }

    /// A whole run.
    public struct Report: Codable, Sendable {
        /// The model's file name.
        public let model: String
        /// What was run.
        public let tokenBudget: Int
        /// Perplexity window.
        public let windowLength: Int
        /// Split scored.
        public let split: String
        /// Dense perplexity.
        public let densePerplexity: Double
        /// Dense tokens/s.
        public let denseTokensPerSecond: Double
        /// Calibration spec label.
        public let calibration: String
        /// Seconds the calibration took when it was computed (cached runs report the original time).
        public let calibrationSeconds: Double
        /// Seconds to score every structure, per metric.
        public let scoringSeconds: [String: Double]
        /// One row per (ratio, baseline, metric).
        public let rows: [Row]

        /// The report as markdown: perplexity and relative speed tables, then timings.
        public func markdown() -> String {
            let ratios = Array(Set(rows.map(\.targetRatio))).sorted()
            var keys: [(String, String)] = []
            for row in rows where !keys.contains(where: { $0 == (row.baseline, row.metric) }) { keys.append((row.baseline, row.metric)) }
            func table(_ title: String, _ value: (Row) -> String) -> [String] {
                var lines = [title, "", "| policy | metric | " + ratios.map { String(format: "r = %.1f", $0) }.joined(separator: " | ") + " |",
                             "|:---|:---|" + ratios.map { _ in "---:" }.joined(separator: "|") + "|"]
                for (baseline, metric) in keys {
                    let cells = ratios.map { ratio in
                        rows.first { $0.baseline == baseline && $0.metric == metric && $0.targetRatio == ratio }.map(value) ?? "–"
                    }
                    lines.append("| \(baseline) | \(metric) | " + cells.joined(separator: " | ") + " |")
                }
                return lines + [""]
            }
            var lines = [
                "Model \(model) · \(split) split, first \(tokenBudget) tokens, window \(windowLength) · "
                    + String(format: "dense perplexity **%.3f** at %.0f tokens/s", densePerplexity, denseTokensPerSecond)
                    + " · calibration \(calibration) (" + String(format: "%.1f s)", calibrationSeconds),
                "",
            ]
            lines += table("**Test perplexity** (lower is better)") { String(format: "%.2f", $0.perplexity) }
            lines += table("**Speed relative to dense** (one \(windowLength)-token window, dense and pruned timed back to back)") {
                String(format: "%.2f×", $0.relativeSpeed)
            }
            lines += table("**Achieved ratio** (dropped blocks)") { row in
                String(format: "%.4f", row.achievedRatio) + (row.droppedBlocks > 0 ? " (\(row.droppedBlocks))" : "")
            }
            let scoring = scoringSeconds.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.2f s", $0.value) }
            let perRow = rows.map { $0.policySeconds + $0.planSeconds + $0.applySeconds }
            lines.append(String(format: "Timings: calibration %.1f s; scoring ", calibrationSeconds) + scoring.joined(separator: ", ")
                         + String(format: "; policy + plan + apply per model %.2f s on average (max %.2f s).",
                                  perRow.reduce(0, +) / Double(max(1, perRow.count)), perRow.max() ?? 0))
            return lines.joined(separator: "\n")
        }

        /// Every row as CSV with a header.
        public func csv() -> String {
            let header = "baseline,metric,target_ratio,achieved_ratio,prunable_parameters,dropped_blocks,perplexity,tokens_per_second,relative_speed,policy_s,plan_s,apply_s"
            return ([header] + rows.map { r in
                "\(r.baseline),\(r.metric),\(r.targetRatio),\(r.achievedRatio),\(r.prunableParameters),\(r.droppedBlocks),\(r.perplexity),\(r.tokensPerSecond),\(r.relativeSpeed),\(r.policySeconds),\(r.planSeconds),\(r.applySeconds)"
            }).joined(separator: "\n") + "\n"
        }
    }

    /// Runs the benchmark on `checkpoint` (blocking; BLAS keeps the thread busy for minutes).
    ///
    /// - Parameters:
    ///   - statistics: calibration statistics of this checkpoint (see `Calibration.statistics`).
    ///   - progress: told one line per measured model.
    public static func run(checkpoint: LlamaCheckpoint, corpus: Corpus, statistics: CalibrationStatistics,
                           configuration: Configuration = Configuration(),
                           progress: (@Sendable (String) -> Void)? = nil) throws(PruningError) -> Report {
        let text: String
        do { text = try corpus.text(of: configuration.split) } catch { throw PruningError(wrapping: error) }
        let tokens = checkpoint.tokens(of: text, limit: configuration.tokenBudget)
        let dense = checkpoint.model
        let identity = ModelIdentity(name: checkpoint.url.lastPathComponent, checksum: statistics.modelChecksum)
        func measure(_ model: LlamaModel, _ ids: [Int]? = nil) throws(PruningError) -> PerplexityResult {
            do {
                return try PerplexityEvaluator(model: model, windowLength: configuration.windowLength)
                    .evaluate(ids ?? tokens, tokenBudget: configuration.tokenBudget)
            } catch {
                throw PruningError(wrapping: error)
            }
        }
        let probeWindow = Array(tokens.prefix(configuration.windowLength))
        /// Best seconds of `speedProbeRepetitions` scorings of `probeWindow`.
        func probe(_ model: LlamaModel) throws(PruningError) -> Double {
            var best = Double.infinity
            for _ in 0..<max(1, configuration.speedProbeRepetitions) {
                best = min(best, try measure(model, Array(probeWindow)).seconds)
            }
            return best
        }
        let denseResult = try measure(dense)
        progress?(String(format: "dense: ppl %.3f, %.0f tokens/s", denseResult.perplexity, denseResult.tokensPerSecond))
        var builders: [MetricKind: PlanBuilder] = [:]
        var scoringSeconds: [String: Double] = [:]
        for metric in configuration.metrics {
            let seconds = try timed { () throws(PruningError) in
                builders[metric] = try PlanBuilder(weights: dense.weights, statistics: statistics, metric: metric.metric, model: identity)
            }
            scoringSeconds[metric.rawValue] = seconds
        }
        var measured: [[LayerPlan]: (result: PerplexityResult, speed: Double)] = [:]
        var rows: [Row] = []
        for ratio in configuration.ratios {
            for baseline in configuration.baselines {
                for metric in configuration.metrics {
                    guard let builder = builders[metric] else { continue }
                    var policy = PruningPolicy(layers: [])
                    let policySeconds = try timed { () throws(PruningError) in
                        policy = try baseline.policy(targetRatio: ratio, weights: dense.weights, statistics: statistics,
                                                     scores: builder.scores, options: configuration.options)
                    }
                    var plan: PruningPlan?
                    let planSeconds = try timed { () throws(PruningError) in plan = try builder.plan(policy, targetRatio: ratio) }
                    guard let plan else { continue }
                    var pruned: LlamaWeights?
                    let applySeconds = try timed { () throws(PruningError) in
                        pruned = try PlanApplication.apply(plan, to: dense.weights, statistics: statistics)
                    }
                    guard let pruned else { continue }
                    let result: PerplexityResult, speed: Double
                    if let known = measured[plan.layers] {
                        (result, speed) = known
                    } else {
                        let model: LlamaModel
                        do { model = try LlamaModel(weights: pruned) } catch { throw PruningError(wrapping: error) }
                        result = try measure(model)
                        speed = try probe(dense) / probe(model)
                        measured[plan.layers] = (result, speed)
                    }
                    let row = Row(baseline: baseline.rawValue, metric: metric.rawValue, targetRatio: ratio,
                                  achievedRatio: plan.achievedRatio, prunableParameters: plan.prunableParametersAfter,
                                  droppedBlocks: plan.droppedBlocks.count, perplexity: result.perplexity,
                                  tokensPerSecond: result.tokensPerSecond,
                                  relativeSpeed: speed,
                                  policySeconds: policySeconds, planSeconds: planSeconds, applySeconds: applySeconds)
                    rows.append(row)
                    progress?(String(format: "r %.2f ", ratio) + "\(baseline.rawValue) \(metric.rawValue): "
                              + String(format: "ppl %.3f, %.2f× speed", row.perplexity, row.relativeSpeed))
                }
            }
        }
        return Report(model: identity.name, tokenBudget: configuration.tokenBudget, windowLength: configuration.windowLength,
                      split: configuration.split.rawValue, densePerplexity: denseResult.perplexity,
                      denseTokensPerSecond: denseResult.tokensPerSecond, calibration: statistics.spec.label,
                      calibrationSeconds: statistics.seconds, scoringSeconds: scoringSeconds, rows: rows)
    }

    /// Wall-clock seconds of `body`.
    private static func timed(_ body: () throws(PruningError) -> Void) throws(PruningError) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
