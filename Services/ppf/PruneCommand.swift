import ArgumentParser
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows

/// `ppf prune`: one-shot offline pruning — policy → plan → smaller model → file.
struct Prune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Prune a model with a policy and an importance metric, print what was kept, and export it.",
        discussion: """
            Policies: uniform, llm-pruner, owl, flap, shortgpt (hand-made baselines; docs/pruning.md \
            cites each), file:<policy.json> (the format --save-policy writes; edit it by hand), agent \
            (the newest stored agent's policy for --ratio, model --model-id) or static (the predictor-guided \
            search from the agent's policy, its top --verify-top-k candidates measured on the validation \
            split here, the best measured one exported). agent and static default to the metric of the \
            predictor's measurements. \
            Metrics: magnitude (data-free), wanda-sp, flap (with bias compensation). Calibration \
            statistics are cached in .deps/cache/calibration, so a second run is instant.
            Export: --out x.gguf writes a GGUF llama.cpp loads (architecture `deci` when blocks differ); \
            --out <folder> --format hf writes safetensors + config.json (uniform shapes only).
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Target ratio: fraction of prunable parameters to remove, 0 ≤ r < 1 (not needed for file: policies).")
    var ratio: Double?

    @Option(help: "uniform | llm-pruner | owl | flap | shortgpt | file:<policy.json> | agent | static")
    var policy: String = "uniform"

    @Option(help: "magnitude | wanda-sp | flap (default: wanda-sp; for agent and static, the predictor's metric)")
    var metric: MetricKind?

    @Option(help: "static: candidates measured on the validation split.")
    var verifyTopK: Int = 3

    @Option(help: "Static mode: policies that also seed a search (comma-separated baseline names; empty: only the agent's policy, verifying its top --verify-top-k). The best candidate of each search is verified. Seeding with a hand-made rule (llm-pruner, owl, …) is an ablation: the ratios are then not PPF's alone.")
    var staticStarts: String = "uniform"

    @Option(help: "static: validation tokens per measurement (default: the predictor's measurements').")
    var verifyTokens: Int?

    @Option(help: "static: cem (the predictor-guided search, its top candidates verified: what the agent service's static mode runs) or measured (the evolutionary search selected by validation measurements, from uniform, the agent's policy and the model's sensitivity profile; the finalists measured on 4× the tokens; not yet in the agent service).")
    var staticSearch: StaticSearchKind = .cem

    @Option(help: "Where to write the pruned model (a .gguf file, or a folder with --format hf).")
    var out: String?

    @Option(help: "gguf or hf (safetensors + config.json).")
    var format: ExportFormat = .gguf

    @Option(help: "Weight precision of the export: f16, f32 or bf16.")
    var precision: String = "f16"

    @Option(help: "Write the policy as editable JSON (read back with --policy file:<path>).")
    var savePolicy: String?

    @Option(help: "Calibration windows × 512 tokens from the calibration split.")
    var calibrationWindows: Int = 32

    enum ExportFormat: String, ExpressibleByArgument { case gguf, hf }

    func validate() throws {
        if let ratio, !(ratio.isFinite && ratio >= 0 && ratio < 1) {
            throw ValidationError("--ratio must be in [0, 1), got \(ratio)")
        }
        guard ["f16", "f32", "bf16"].contains(precision) else { throw ValidationError("--precision must be f16, f32 or bf16") }
        guard calibrationWindows >= 1 else { throw ValidationError("--calibration-windows must be at least 1") }
        guard verifyTopK >= 1 else { throw ValidationError("--verify-top-k must be at least 1") }
        if let verifyTokens, verifyTokens < 2 { throw ValidationError("--verify-tokens must be at least 2") }
    }

    func run() async throws {
        let choice = try PruneChoice(parsing: policy)
        var agent: LoadedAgent?
        if choice.needsAgent {
            guard let ratio else { throw UserFacingError("--policy \(policy) needs a target ratio (--ratio)") }
            let connection = try await StoredAgents.connect()
            let loaded = try await StoredAgents.newestAgent(modelId: CommandLineSettings.current.modelId, on: connection)
            guard loaded.agent.ratioRange.contains(ratio) else {
                throw UserFacingError("r = \(ratio) is outside \(loaded.agent.ratioRange.lowerBound)...\(loaded.agent.ratioRange.upperBound), the range the newest agent was trained for")
            }
            agent = loaded
        }
        let chosenMetric: MetricKind
        if let metric {
            chosenMetric = metric
        } else if let agent {
            guard let kind = MetricKind(rawValue: agent.regime.metric) else {
                throw UserFacingError("the predictor's measurements used metric '\(agent.regime.metric)', which this build does not know; pass --metric")
            }
            chosenMetric = kind
        } else {
            chosenMetric = .wandaSP
        }
        let job = PruneJob(checkpointLoader: model, ratio: ratio, choice: choice, policyName: policy,
                           metric: chosenMetric, out: out, format: format, precision: precision, savePolicy: savePolicy,
                           calibrationWindows: calibrationWindows, verifyTopK: verifyTopK, verifyTokens: verifyTokens,
                           staticStarts: staticStarts, staticSearch: staticSearch, agent: agent)
        try await job.run()
    }
}

// MARK: - PruneChoice

/// Where `--policy` comes from: the pruning engine (a baseline or a file) or the agent.
enum PruneChoice: Sendable {
    /// A baseline or a policy file.
    case source(PolicySource)
    /// The newest stored agent's one-shot policy.
    case agent
    /// The predictor-guided search from the agent's policy, verified here.
    case staticSearch

    init(parsing text: String) throws {
        switch text {
        case "agent": self = .agent
        case "static": self = .staticSearch
        default: self = .source(try PolicySource(parsing: text))
        }
    }

    /// Whether a stored agent is needed.
    var needsAgent: Bool {
        if case .source = self { return false }
        return true
    }

    /// OWL and ShortGPT read calibration statistics even with a data-free metric.
    var needsCalibration: Bool {
        if case .source(let source) = self { return source.needsCalibration }
        return false
    }
}

// MARK: - PruneJob

/// The blocking part of `ppf prune`: everything after the stored agent (if any) was read.
struct PruneJob: Sendable {
    let checkpointLoader: ModelOptions
    let ratio: Double?
    let choice: PruneChoice
    let policyName: String
    let metric: MetricKind
    let out: String?
    let format: Prune.ExportFormat
    let precision: String
    let savePolicy: String?
    let calibrationWindows: Int
    let verifyTopK: Int
    let verifyTokens: Int?
    let staticStarts: String
    let staticSearch: StaticSearchKind
    let agent: LoadedAgent?

    /// Calibration, planning, measuring and export block on BLAS and I/O, so they run on `queue`, not on the cooperative pool.
    func run() async throws {
        let queue = BlockingQueue(label: "ppf.prune")
        let settings = CommandLineSettings.current
        let corpus = Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory))
        let (checkpoint, session) = try await queue.run { [self] in
            let checkpoint = try checkpointLoader.load()
            return (checkpoint, try PruningSession.prepare(
                checkpoint: checkpoint, corpus: corpus,
                metric: metric,
                calibration: .standard(contextLength: checkpoint.model.configuration.contextLength, windows: calibrationWindows),
                cache: CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory)),
                calibrate: choice.needsCalibration))
        }
        let chosen: PruningPolicy
        switch choice {
        case .source(let source):
            chosen = try session.policy(source, targetRatio: ratio)
        case .agent:
            guard let agent, let ratio else { throw UserFacingError("--policy agent needs a stored agent and --ratio") }
            try agent.requireTrained(for: checkpoint.model.configuration, modelName: checkpoint.url.lastPathComponent)
            chosen = try agent.agent.policy(forRatio: ratio)
            let prediction = try agent.reward.prediction(for: chosen)
            print(String(format: "agent %@: predicted perplexity %.3f (log std %.4f) under metric %@", agent.record.id.uuidString.lowercased(),
                         exp(prediction.mean), prediction.std, metric.rawValue))
        case .staticSearch:
            guard let agent, let ratio else { throw UserFacingError("--policy static needs a stored agent and --ratio") }
            try agent.requireTrained(for: checkpoint.model.configuration, modelName: checkpoint.url.lastPathComponent)
            let budget = verifyTokens ?? agent.regime.tokenBudget
            let window = min(agent.regime.window, budget)
            let validation = checkpoint.tokens(of: try corpus.text(of: .validation), limit: 4 * budget)
            let log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            switch staticSearch {
            case .measured:
                var search = MeasuredSearchConfiguration()
                search.seed = settings.agentSeed
                let fidelities = try MeasuredSearch.inProcessFidelities(session: session, validation: validation, tokens: budget,
                                                                        window: window, objective: search.objective, queue: queue)
                let sensitivity = try await MeasuredSearch.sensitivity(projection: agent.agent.projection, measurer: fidelities[0])
                log("sensitivity profile (\(search.objective == .klDivergence ? "KL" : "Δ log-ppl") per block): " + sensitivity.map { String(format: "%.3f", $0) }.joined(separator: " "))
                let outcome = try await MeasuredSearch.run(
                    agent: agent, ratio: ratio, fidelities: fidelities, configuration: search, sensitivity: sensitivity,
                    queue: queue, events: { log(MeasuredSearch.line(for: $0, ratio: ratio)) })
                chosen = outcome.best.candidate.candidate.policy
                print(String(format: "measured search: %d measurements, best validation perplexity %.3f (%@ lineage)",
                             outcome.measurementsPerFidelity.reduce(0, +), outcome.bestPerplexity, outcome.best.candidate.origin))
            case .cem:
                let measurer = InProcessMeasurer(session: session, tokens: Array(validation.prefix(budget)), window: window,
                                                 queue: queue)
                var configuration = StaticSearchConfiguration(scoringLike: agent)
                configuration.topK = verifyTopK
                configuration.seed = settings.agentSeed
                let outcome = try await StaticPruning.run(
                    agent: agent, ratio: ratio, configuration: configuration,
                    starts: try StaticPruning.baselineStarts(named: staticStarts.components(separatedBy: ","), ratio: ratio,
                                                              session: session),
                    measurer: measurer, queue: queue, events: { log(StaticPruningLog.line(for: $0, ratio: ratio)) })
                chosen = outcome.best.candidate.policy
                print(String(format: "static search: best of %d measured candidates, validation perplexity %.3f (predicted %.3f)",
                             outcome.measuredCount, outcome.bestMeasurement.perplexity, exp(outcome.best.candidate.prediction.mean)))
            }
        }
        try await queue.run { [self] in try export(chosen, checkpoint: checkpoint, session: session) }
    }

    /// Plans `chosen`, prints the plan, saves the policy and exports the pruned model as asked. Blocks on BLAS and I/O.
    private func export(_ chosen: PruningPolicy, checkpoint: LlamaCheckpoint, session: PruningSession) throws {
        let plan = try session.plan(chosen, targetRatio: ratio)
        print(PlanTable.markdown(plan))
        if let savePolicy {
            try PolicyFile(policy: chosen, source: policyName, targetRatio: ratio).write(to: URL(fileURLWithPath: savePolicy))
            print("policy written to \(savePolicy)")
        }
        guard let out else {
            print("(no --out: nothing exported)")
            return
        }
        let start = Date()
        let pruned = try session.apply(plan)
        let metadata = try GGUFFile.open(checkpoint.url).metadata
        // A plan is deterministic data, so its content hash identifies it.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let planID = String(SHA256.hex(of: Array(try encoder.encode(plan))).prefix(16))
        let provenance = ExportProvenance(planID: planID, achievedRatio: plan.achievedRatio, metric: plan.metric,
                                          sourceSHA256: session.identity.checksum)
        let exportPrecision = ExportPrecision(rawValue: precision) ?? .f16
        do {
            switch format {
            case .gguf:
                _ = try GGUFExporter.export(pruned.weights, sourceMetadata: metadata, to: URL(fileURLWithPath: out),
                                            options: GGUFExportOptions(precision: exportPrecision, provenance: provenance))
            case .hf:
                _ = try HFExporter.export(pruned.weights, sourceMetadata: metadata, to: URL(fileURLWithPath: out),
                                          options: HFExportOptions(precision: exportPrecision, provenance: provenance))
            }
        } catch {
            throw UserFacingError("export to \(out) failed, nothing was written: \(error)")
        }
        print(String(format: "wrote %@ (%@, %@) in %.1f s; achieved ratio %.4f", out, format.rawValue, precision,
                     Date().timeIntervalSince(start), plan.achievedRatio))
    }
}

extension MetricKind: ExpressibleByArgument {}

extension PolicySource {
    /// OWL and ShortGPT read calibration statistics even with a data-free metric.
    var needsCalibration: Bool {
        if case .baseline(let baseline) = self { return baseline == .owl || baseline == .shortGPT }
        return false
    }
}

/// How `--policy static` (and `ppf bench results`' static row) searches.
enum StaticSearchKind: String, ExpressibleByArgument, Sendable { case cem, measured }
