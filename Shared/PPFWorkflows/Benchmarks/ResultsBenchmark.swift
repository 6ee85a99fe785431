import Dispatch
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
import PPFTensor

// MARK: - ResultsBenchmark

/// The results table (`ppf bench results`, docs/results.md): PPF dynamic
/// (the agent's policy) and PPF static (``StaticPruning`` with in-process
/// verification on the validation split) against every hand-made baseline
/// under its best metric, all scored on the test split, which nothing else reads.
public struct ResultsBenchmark: Sendable {
    /// What to measure.
    public struct Configuration: Sendable {
        /// Target ratios.
        public var ratios: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5]
        /// Test-split tokens per pruned model, and their window.
        public var tokens = 8192
        public var window = 512
        /// Static mode: candidates verified without starts; validation tokens per verification (nil: the predictor's).
        public var verifyTopK = 3
        public var verifyTokens: Int?
        /// Static mode: the window of every validation measurement; nil: the
        /// comparison's ``window`` (capped at the verification tokens), so PPF
        /// static is selected in the windows it is compared in (chosen on
        /// validation, docs/results.md).
        public var verifyWindow: Int?
        /// Static mode: policies that also seed a search. Uniform by default:
        /// seeding with a hand-made rule (`llm-pruner`, `owl`) is an
        /// ablation, labelled so in the table, because the claim is that no
        /// person designed PPF's ratios.
        public var staticStarts: [String] = ["uniform"]
        /// The hand-made policies compared with (default: every one).
        public var baselinePolicies: [BaselinePolicy] = BaselinePolicy.allCases
        /// Measure every baseline under PPF's metric (the predictor's), so
        /// all rows share metric and tokens; false: each baseline under its
        /// best metric of all.
        public var baselinesInPPFMetric = false
        /// The baselines CSV to read; nil, or a missing file, measures the baselines in this run.
        public var baselinesCSV: String?
        /// Calibration windows × 512 tokens.
        public var calibrationWindows = 32
        /// The static search's seed.
        public var seed: UInt64 = 0
        /// PPF static by ``MeasuredSearch`` (selection by validation
        /// measurements at the verification tokens, then 4× as many for the
        /// finalists) instead of the predictor-guided CEM search with verified
        /// candidates; nil: CEM.
        public var measuredSearch: MeasuredSearchConfiguration?
        /// The command line, recorded beside the numbers.
        public var command = "ppf bench results"

        /// The defaults of `ppf bench results`.
        public init() {}
    }

    /// The base model.
    public let checkpoint: LlamaCheckpoint
    /// The corpus and the calibration cache.
    public let corpus: Corpus
    public let cache: CalibrationCache
    /// The agent and the row of its predictor.
    public let agent: LoadedAgent
    public let predictor: PredictorVersionRecord
    /// What to measure.
    public let configuration: Configuration
    /// Told one line per step.
    public let log: @Sendable (String) -> Void

    /// A benchmark of `agent` on `checkpoint`.
    public init(checkpoint: LlamaCheckpoint, corpus: Corpus, cache: CalibrationCache, agent: LoadedAgent,
                predictor: PredictorVersionRecord, configuration: Configuration, log: @escaping @Sendable (String) -> Void) {
        self.checkpoint = checkpoint
        self.corpus = corpus
        self.cache = cache
        self.agent = agent
        self.predictor = predictor
        self.configuration = configuration
        self.log = log
    }

    private var ratios: [Double] { configuration.ratios }
    private var tokens: Int { configuration.tokens }
    private var window: Int { configuration.window }

    /// Every plan, apply and measurement, on a queue of its own (BLAS), not on the cooperative pool.
    /// - Throws: ``WorkflowError`` for an agent of other shapes or an unknown metric; what measuring throws.
    public func run() async throws -> ResultsReport {
        let queue = BlockingQueue(label: "ppf.bench.results")
        let calibration = CalibrationSpec.standard(contextLength: checkpoint.model.configuration.contextLength,
                                                  windows: configuration.calibrationWindows)
        let verifyTopK = configuration.verifyTopK, staticStarts = configuration.staticStarts
        let heldOut = predictor.heldOut.map {
            String(format: "%d policies, Kendall τ %.3f, MAPE %.1f%%", $0.count, $0.kendallTau, 100 * $0.mape)
        } ?? "none"
        guard let metric = MetricKind(rawValue: agent.regime.metric) else {
            throw WorkflowError("the predictor's measurements used metric '\(agent.regime.metric)', which this build does not know")
        }
        try agent.requireTrained(for: checkpoint.model.configuration, modelName: checkpoint.url.lastPathComponent)
        let checkpoint = checkpoint, corpus = corpus, cache = cache
        let session = try await queue.run {
            try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric, calibration: calibration,
                                       cache: cache)
        }
        let testTokens = checkpoint.tokens(of: try corpus.text(of: .test), limit: tokens)
        let verifyBudget = configuration.verifyTokens ?? agent.regime.tokenBudget
        let verifyWindow = min(configuration.verifyWindow ?? window, verifyBudget)
        let validationTokens = checkpoint.tokens(of: try corpus.text(of: .validation), limit: verifyBudget)
        let onTest = InProcessMeasurer(session: session, tokens: testTokens, window: window, queue: queue)
        let onValidation = InProcessMeasurer(session: session, tokens: validationTokens, window: verifyWindow, queue: queue)
        let dense = try await queue.run { [self] in
            try PerplexityEvaluator(model: checkpoint.model, windowLength: window).evaluate(testTokens, tokenBudget: testTokens.count).perplexity
        }
        log(String(format: "dense: test ppl %.3f", dense))
        let latency = try await queue.run { [self] in try latencies() }

        // The measured search's fidelities and the model's sensitivity profile do not depend on the ratio: once.
        let searchFidelities = try configuration.measuredSearch.map { measured in
            try MeasuredSearch.inProcessFidelities(
                session: session, validation: checkpoint.tokens(of: try corpus.text(of: .validation), limit: 4 * verifyBudget),
                tokens: verifyBudget, window: verifyWindow, objective: measured.objective, queue: queue)
        } ?? []
        var sensitivity: [Double]?
        if let measured = configuration.measuredSearch, measured.profileStart {
            sensitivity = try await MeasuredSearch.sensitivity(projection: agent.agent.projection, measurer: searchFidelities[0])
            log("sensitivity profile (\(measured.objective == .klDivergence ? "KL" : "Δ log-ppl") per block): " + (sensitivity ?? []).map { String(format: "%.3f", $0) }.joined(separator: " "))
        }
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
            let chosen: SearchCandidate, validation: Double
            let measurements: Int, predictorCalls: Int, policiesScored: Int, label: String
            if let measured = self.configuration.measuredSearch {
                var settings = measured
                settings.seed = self.configuration.seed
                let outcome = try await MeasuredSearch.run(
                    agent: agent, ratio: ratio, fidelities: searchFidelities, configuration: settings, sensitivity: sensitivity,
                    queue: queue, events: { event in log(MeasuredSearch.line(for: event, ratio: ratio)) })
                (chosen, validation) = (outcome.best.candidate.candidate, outcome.bestPerplexity)
                measurements = outcome.measurementsPerFidelity.reduce(0, +)
                (predictorCalls, policiesScored) = (settings.generations + 1,
                                                    outcome.measured.count + settings.generations * settings.offspring)
                label = " (measured search)"
            } else {
                var settings = StaticSearchConfiguration(scoringLike: agent)
                settings.topK = verifyTopK
                settings.seed = self.configuration.seed
                let outcome = try await StaticPruning.run(
                    agent: agent, ratio: ratio, configuration: settings,
                    starts: try StaticPruning.baselineStarts(named: staticStarts, ratio: ratio, session: session),
                    measurer: onValidation, queue: queue, events: { event in log(StaticPruningLog.line(for: event, ratio: ratio)) })
                (chosen, validation) = (outcome.best.candidate, outcome.bestMeasurement.perplexity)
                (measurements, predictorCalls, policiesScored) = (outcome.measuredCount, outcome.rewardCalls, outcome.policiesScored)
                label = ""
            }
            let searchSeconds = Double(DispatchTime.now().uptimeNanoseconds - searchStart) / 1e9
            let staticPerplexity = try await queue.run { try onTest.timedPerplexity(of: chosen.policy, ratio: ratio).perplexity }
            staticRows.append(ResultsReport.PPFRow(
                ratio: ratio, achievedRatio: chosen.achievedRatio, perplexity: staticPerplexity,
                predictedPerplexity: exp(chosen.prediction.mean), validationPerplexity: validation, measurements: measurements,
                predictorCalls: predictorCalls, policiesScored: policiesScored, seconds: searchSeconds))
            log(String(format: "r %.2f: PPF static%@ test ppl %.3f (validation %.3f, %d measurements)", ratio, label,
                       staticPerplexity, validation, measurements))
        }

        let (points, source) = try await queue.run { [self] in
            try baselinePoints(checkpoint: checkpoint, corpus: corpus, cache: cache, calibration: calibration, metric: metric)
        }
        let (policyMedian, policyP99, predictionMedian) = latency
        var report = ResultsReport(
            command: configuration.command, measuredAt: Date(), blasThreads: BLAS.threadCount, model: checkpoint.url.lastPathComponent,
            tokens: tokens, window: window, densePerplexity: dense, agentVersion: agent.record.id.uuidString.lowercased(),
            agentTrainedAt: agent.record.createdAt, agentTrainingSeconds: agent.record.summary.trainingSeconds,
            predictorVersion: agent.predictorVersionId.uuidString.lowercased(), predictorSamples: predictor.sampleCount,
            predictorHeldOut: heldOut, metric: metric.rawValue, verifyTopK: verifyTopK,
            staticStarts: staticStarts.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
            verifyTokens: validationTokens.count, verifyWindow: verifyWindow, ratios: ratios, dynamic: dynamic,
            staticRows: staticRows, baselines: points, baselineSource: source, policyLatencyMedian: policyMedian,
            policyLatencyP99: policyP99, predictionLatencyMedian: predictionMedian)
        if let measured = configuration.measuredSearch {
            report.staticMethod = "measured search (uniform, the agent's policy\(measured.profileStart ? " and the policy of the model's measured sensitivity profile (one probe per block)" : "") as starts, \(measured.generations) generations of \(measured.offspring) offspring, \(measured.measuredPerGeneration) measured per generation \(measured.screensWithPredictor ? "after the predictor's screen" : "unscreened"), ranked by \(measured.objective == .klDivergence ? "the KL divergence from the dense model" : "perplexity"), \(measured.finalists) finalists measured again on \(4 * verifyBudget) tokens, windows of \(verifyWindow))"
        }
        return report
    }

    /// The agent's latency over 1000 random ratios, and the predictor's for one policy (milliseconds).
    private func latencies() throws -> (median: Double, p99: Double, prediction: Double) {
        var generator = SeededGenerator(seed: 7)
        var policyTimes: [Double] = []
        var predictionTimes: [Double] = []
        for index in 0..<1000 {
            let ratio = generator.nextUniform(in: agent.agent.ratioRange)
            let start = DispatchTime.now().uptimeNanoseconds
            let policy = try agent.agent.policy(forRatio: ratio)
            let middle = DispatchTime.now().uptimeNanoseconds
            policyTimes.append(Double(middle - start) / 1e6)
            if index % 5 == 0 {
                _ = try agent.reward.prediction(for: policy)
                predictionTimes.append(Double(DispatchTime.now().uptimeNanoseconds - middle) / 1e6)
            }
        }
        return (Statistics.median(policyTimes), Statistics.quantile(policyTimes, 0.99), Statistics.median(predictionTimes))
    }

    /// Each chosen baseline's perplexity per ratio under PPF's metric or its
    /// best one (``BaselineCurves/bestMetric(_:ratios:)``). Blocks on BLAS.
    private func baselinePoints(checkpoint: LlamaCheckpoint, corpus: Corpus, cache: CalibrationCache,
                                calibration: CalibrationSpec, metric: MetricKind) throws -> ([BaselinePoint], String) {
        let metrics = configuration.baselinesInPPFMetric ? [metric] : MetricKind.allCases
        let policies = configuration.baselinePolicies
        let points: [BaselinePoint]
        let source: String
        if let baselinesCSV = configuration.baselinesCSV, FileManager.default.fileExists(atPath: baselinesCSV) {
            let csvURL = URL(fileURLWithPath: baselinesCSV)
            points = try BaselineCurves.points(csv: try String(contentsOf: csvURL, encoding: .utf8))
            source = "read from \(baselinesCSV) (`make bench-prune`: test split, 8192 tokens, window 512 unless run otherwise)"
                + (tokens == 8192 && window == 512 ? ""
                    : ". **Not comparable:** the PPF rows here were measured on \(tokens) tokens in windows of \(window); pass --measure-baselines")
            if tokens != 8192 || window != 512 {
                log("warning: the baselines CSV holds 8192-token / window-512 measurements, the PPF rows use \(tokens) / \(window); use --measure-baselines to compare like with like")
            }
        } else {
            log("measuring the baselines (\(ratios.count) ratios × \(policies.count) policies × \(metrics.count) metrics)")
            let statistics = try Calibration.statistics(checkpoint: checkpoint, corpus: corpus, spec: calibration, cache: cache)
            let report = try BaselineBenchmark.run(
                checkpoint: checkpoint, corpus: corpus, statistics: statistics,
                configuration: BaselineBenchmark.Configuration(ratios: ratios, baselines: policies, metrics: metrics,
                                                               tokenBudget: tokens, windowLength: window)
            ) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            points = BaselineCurves.points(report)
            source = "measured in this run on the same tokens"
        }
        let chosen = points.filter { point in
            policies.contains { $0.rawValue == point.baseline } && metrics.contains { $0.rawValue == point.metric }
        }
        return (BaselineCurves.bestMetric(chosen, ratios: ratios),
                source + (configuration.baselinesInPPFMetric ? "; every baseline under PPF's metric (\(metric.rawValue))" : "; each baseline under its best metric"))
    }
}
