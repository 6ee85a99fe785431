import ArgumentParser
import Dispatch
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
import PPFTensor
import PPFWorkflows

// MARK: - ppf bench results

/// `ppf bench results`: the results table (docs/results.md, .csv, .png).
struct ResultsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "PPF dynamic and static against every baseline (its best metric): test perplexity at each ratio, reductions, latency, measurements spent.",
        discussion: """
            Uses the newest stored agent version of --model-id and the predictor it was trained against (train \
            one with `ppf agent train`). PPF dynamic is the agent's policy; PPF static searches from it with \
            the predictor and measures its top --verify-top-k candidates on the validation split, keeping the \
            best measured one. Every PPF plan uses the metric of the predictor's measurements. Only this table \
            touches the test split. Baselines come from --baselines (the CSV `ppf bench prune --write` \
            writes, measured on the same split, tokens and window by default) or, with --measure-baselines or \
            when that file is missing, are measured in this run.
            """)

    @OptionGroup var model: ModelOptions

    @Option(parsing: .upToNextOption, help: "Target ratios.")
    var ratios: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5]

    @Option(help: "Test-split tokens scored per pruned model (keep equal to the baselines').")
    var tokens: Int = 8192

    @Option(help: "Window length (keep equal to the baselines').")
    var window: Int = 512

    @Option(help: "Static mode: candidates measured on the validation split per ratio.")
    var verifyTopK: Int = 3

    @Option(help: "Static mode: baselines whose policies also seed a search (comma-separated; empty: search only from the agent's policy, verifying its top --verify-top-k). The best candidate of each search is verified.")
    var staticStarts: String = "llm-pruner,owl"

    @Option(help: "Static mode: validation tokens per measurement (default: the predictor's measurements').")
    var verifyTokens: Int?

    @Option(help: "The baselines CSV (`ppf bench prune --write docs/baselines.md` writes docs/baselines.csv).")
    var baselines: String = "docs/baselines.csv"

    @Flag(help: "Measure the baselines in this run instead of reading --baselines.")
    var measureBaselines = false

    @Option(help: "Calibration windows × 512 tokens.")
    var calibrationWindows: Int = 32

    @Option(help: "Write the table to this markdown file (and CSV and PNG beside it).")
    var write: String?

    func validate() throws {
        guard !ratios.isEmpty, ratios.allSatisfy({ $0 > 0 && $0 < 1 }) else { throw ValidationError("--ratios must lie in (0, 1)") }
        guard tokens >= 2, window >= 2, window <= tokens else { throw ValidationError("need 2 ≤ --window ≤ --tokens") }
        guard verifyTopK >= 1 else { throw ValidationError("--verify-top-k must be at least 1") }
        if let verifyTokens, verifyTokens < 2 { throw ValidationError("--verify-tokens must be at least 2") }
    }

    func run() async throws {
        let settings = CommandLineSettings.current
        let connection = try await StoredAgents.connect()
        let agent = try await StoredAgents.newestAgent(modelId: settings.modelId, on: connection)
        guard let predictor = try await PredictorVersionRepository.find(id: agent.predictorVersionId, on: connection) else {
            throw UserFacingError("the agent's predictor version is not stored")
        }
        let heldOut = predictor.heldOut.map {
            String(format: "%d policies, Kendall τ %.3f, MAPE %.1f%%", $0.count, $0.kendallTau, 100 * $0.mape)
        } ?? "none"
        let command = (["ppf", "bench", "results"] + CommandLine.arguments.dropFirst(3)).joined(separator: " ")
        let job = ResultsJob(checkpointLoader: model, agent: agent, predictorSamples: predictor.sampleCount,
                             predictorHeldOut: heldOut, ratios: ratios, tokens: tokens, window: window,
                             verifyTopK: verifyTopK, verifyTokens: verifyTokens, staticStarts: staticStarts,
                             baselinesCSV: baselines,
                             measureBaselines: measureBaselines, calibrationWindows: calibrationWindows, command: command)
        let report = try await job.run()
        let markdown = report.markdown()
        print(markdown)
        if let write {
            let url = URL(fileURLWithPath: write)
            try MarkdownSections.replace(section: "bench-results", in: url, title: "Results", with: markdown)
            try report.csv().write(to: url.deletingPathExtension().appendingPathExtension("csv"), atomically: true, encoding: .utf8)
            let png = url.deletingPathExtension().appendingPathExtension("png")
            try report.chart().write(to: png, width: 800, height: 500)
            print("\nwrote the bench-results section of \(write), its CSV and \(png.lastPathComponent)")
        }
    }
}

// MARK: - ResultsJob

/// The blocking part of `ppf bench results`: every plan, apply and measurement.
struct ResultsJob: Sendable {
    let checkpointLoader: ModelOptions
    let agent: LoadedAgent
    let predictorSamples: Int
    let predictorHeldOut: String
    let ratios: [Double]
    let tokens: Int
    let window: Int
    let verifyTopK: Int
    let verifyTokens: Int?
    let staticStarts: String
    let baselinesCSV: String
    let measureBaselines: Bool
    let calibrationWindows: Int
    let command: String

    private func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// Plans, applies and measures on `queue` (BLAS), not on the cooperative pool.
    func run() async throws -> ResultsReport {
        let settings = CommandLineSettings.current
        let queue = BlockingQueue(label: "ppf.bench.results")
        let corpus = Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory))
        let cache = CalibrationCache(directory: URL(fileURLWithPath: repositoryRoot()).appendingPathComponent(".deps/cache/calibration"))
        let calibration = CalibrationSpec(windows: calibrationWindows)
        guard let metric = MetricKind(rawValue: agent.regime.metric) else {
            throw UserFacingError("the predictor's measurements used metric '\(agent.regime.metric)', which this build does not know")
        }
        let (checkpoint, session) = try await queue.run { [self] in
            let checkpoint = try checkpointLoader.load()
            try agent.requireTrained(for: checkpoint.model.configuration, modelName: checkpoint.url.lastPathComponent)
            return (checkpoint, try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric,
                                                           calibration: calibration, cache: cache))
        }
        let testTokens = checkpoint.tokens(of: try corpus.text(of: .test), limit: tokens)
        let verifyBudget = verifyTokens ?? agent.regime.tokenBudget
        let verifyWindow = min(agent.regime.window, verifyBudget)
        let validationTokens = checkpoint.tokens(of: try corpus.text(of: .validation), limit: verifyBudget)
        let onTest = InProcessMeasurer(session: session, tokens: testTokens, window: window, queue: queue)
        let onValidation = InProcessMeasurer(session: session, tokens: validationTokens, window: verifyWindow, queue: queue)
        let dense = try await queue.run { [self] in
            try PerplexityEvaluator(model: checkpoint.model, windowLength: window).evaluate(testTokens, tokenBudget: testTokens.count).perplexity
        }
        log(String(format: "dense: test ppl %.3f", dense))
        let latency = try await queue.run { [self] in try latencies() }

        var dynamic: [ResultsReport.PPFRow] = []
        var staticRows: [ResultsReport.PPFRow] = []
        for ratio in ratios {
            guard agent.agent.ratioRange.contains(ratio) else {
                log("r \(ratio): outside the agent's range \(agent.agent.ratioRange); skipped")
                continue
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let policy = try agent.agent.policy(forRatio: ratio)
            let policySeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let prediction = try agent.reward.prediction(for: policy)
            let perplexity = try await queue.run { try onTest.timedPerplexity(of: policy, ratio: ratio).perplexity }
            dynamic.append(ResultsReport.PPFRow(
                ratio: ratio, achievedRatio: try agent.agent.budget.achievedRatio(policy), perplexity: perplexity,
                predictedPerplexity: exp(prediction.mean), validationPerplexity: nil, measurements: 0, predictorCalls: 1,
                policiesScored: 1, seconds: policySeconds))
            log(String(format: "r %.2f: PPF dynamic test ppl %.3f (predicted %.3f)", ratio, perplexity, exp(prediction.mean)))

            let searchStart = DispatchTime.now().uptimeNanoseconds
            var configuration = StaticSearchConfiguration()
            configuration.topK = verifyTopK
            configuration.seed = settings.agentSeed
            let outcome = try await StaticPruning.run(
                agent: agent, ratio: ratio, configuration: configuration,
                starts: try StaticPruning.baselineStarts(named: staticStarts.components(separatedBy: ","), ratio: ratio,
                                                          session: session),
                measurer: onValidation, queue: queue, events: { event in log(StaticPruningLog.line(for: event, ratio: ratio)) })
            let searchSeconds = Double(DispatchTime.now().uptimeNanoseconds - searchStart) / 1e9
            let chosen = outcome.best.candidate
            let staticPerplexity = try await queue.run { try onTest.timedPerplexity(of: chosen.policy, ratio: ratio).perplexity }
            staticRows.append(ResultsReport.PPFRow(
                ratio: ratio, achievedRatio: chosen.achievedRatio, perplexity: staticPerplexity,
                predictedPerplexity: exp(chosen.prediction.mean), validationPerplexity: outcome.bestMeasurement.perplexity,
                measurements: outcome.measuredCount, predictorCalls: outcome.rewardCalls,
                policiesScored: outcome.policiesScored, seconds: searchSeconds))
            log(String(format: "r %.2f: PPF static test ppl %.3f (validation %.3f)", ratio, staticPerplexity, outcome.bestMeasurement.perplexity))
        }

        let (points, source) = try await queue.run { [self] in
            try baselinePoints(checkpoint: checkpoint, corpus: corpus, cache: cache, calibration: calibration)
        }
        let (policyMedian, policyP99, predictionMedian) = latency
        return ResultsReport(
            command: command, measuredAt: Date(), blasThreads: BLAS.threadCount, model: checkpoint.url.lastPathComponent,
            tokens: tokens, window: window, densePerplexity: dense, agentVersion: agent.record.id.uuidString.lowercased(),
            agentTrainedAt: agent.record.createdAt, agentTrainingSeconds: agent.record.summary.trainingSeconds,
            predictorVersion: agent.predictorVersionId.uuidString.lowercased(), predictorSamples: predictorSamples,
            predictorHeldOut: predictorHeldOut, metric: metric.rawValue, verifyTopK: verifyTopK,
            staticStarts: staticStarts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
            verifyTokens: validationTokens.count, verifyWindow: verifyWindow, ratios: ratios, dynamic: dynamic,
            staticRows: staticRows, baselines: points, baselineSource: source, policyLatencyMedian: policyMedian,
            policyLatencyP99: policyP99, predictionLatencyMedian: predictionMedian)
    }

    /// The agent's latency over 1000 random ratios, and the predictor's for one policy (milliseconds).
    private func latencies() throws -> (median: Double, p99: Double, prediction: Double) {
        var generator = SeededGenerator(seed: 7)
        var policyTimes: [Double] = []
        var predictionTimes: [Double] = []
        for index in 0..<1000 {
            let ratio = Double.random(in: agent.agent.ratioRange, using: &generator)
            let start = DispatchTime.now().uptimeNanoseconds
            let policy = try agent.agent.policy(forRatio: ratio)
            let middle = DispatchTime.now().uptimeNanoseconds
            policyTimes.append(Double(middle - start) / 1e6)
            if index % 5 == 0 {
                _ = try agent.reward.prediction(for: policy)
                predictionTimes.append(Double(DispatchTime.now().uptimeNanoseconds - middle) / 1e6)
            }
        }
        policyTimes.sort()
        predictionTimes.sort()
        return (policyTimes[policyTimes.count / 2], policyTimes[policyTimes.count * 99 / 100],
                predictionTimes[predictionTimes.count / 2])
    }

    /// Each baseline's perplexity per ratio under its best metric (``BaselineCurves/bestMetric(_:ratios:)``). Blocks on BLAS.
    private func baselinePoints(checkpoint: LlamaCheckpoint, corpus: Corpus, cache: CalibrationCache,
                                calibration: CalibrationSpec) throws -> ([BaselinePoint], String) {
        let points: [BaselinePoint]
        let source: String
        let csvURL = URL(fileURLWithPath: baselinesCSV)
        if !measureBaselines, FileManager.default.fileExists(atPath: csvURL.path) {
            points = try BaselineCurves.points(csv: try String(contentsOf: csvURL, encoding: .utf8))
            source = "read from \(baselinesCSV) (`make bench-prune`: test split, 8192 tokens, window 512 unless run otherwise)"
                + (tokens == 8192 && window == 512 ? ""
                    : ". **Not comparable:** the PPF rows here were measured on \(tokens) tokens in windows of \(window); pass --measure-baselines")
            if tokens != 8192 || window != 512 {
                log("warning: the baselines CSV holds 8192-token / window-512 measurements, the PPF rows use \(tokens) / \(window); use --measure-baselines to compare like with like")
            }
        } else {
            log("measuring the baselines (\(ratios.count) ratios × \(BaselinePolicy.allCases.count) policies × \(MetricKind.allCases.count) metrics)")
            let statistics = try Calibration.statistics(checkpoint: checkpoint, corpus: corpus, spec: calibration, cache: cache)
            let report = try BaselineBenchmark.run(
                checkpoint: checkpoint, corpus: corpus, statistics: statistics,
                configuration: BaselineBenchmark.Configuration(ratios: ratios, tokenBudget: tokens, windowLength: window)
            ) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            points = BaselineCurves.points(report)
            source = "measured in this run on the same tokens"
        }
        return (BaselineCurves.bestMetric(points, ratios: ratios), source)
    }
}
