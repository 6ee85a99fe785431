import ArgumentParser
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows

// MARK: - ppf agent anchor

/// `ppf agent anchor`: measured searches at anchor ratios on validation, the
/// agent distilled toward their winners, a held-out validation check of its
/// answers between the anchors against the agent it came from, and the
/// distilled agent stored as a new agent version only if it measured better.
struct AgentAnchorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "anchor",
        abstract: "Search the best measured policy at a few anchor ratios (validation split), distill the agent toward them and store it.",
        discussion: """
            Each anchor is the winner of a measured search (ranked by the KL divergence from the dense model by \
            default) from uniform, the newest agent's policy and the model's sensitivity profile: no hand-made rule. \
            The distilled agent answers any ratio by interpolating the anchors' actions. Its answers at --check-ratios, \
            the current agent's, the hand-made policies and uniform are scored on a later validation slice the searches \
            never read; the distilled agent is stored (and served at once by the agent service, which re-distills it \
            onto every later predictor version) only when its geometric mean there is no worse than the current \
            agent's (with --no-check, always). Reads no test tokens.
            """)

    @OptionGroup var model: ModelOptions

    @Option(parsing: .upToNextOption, help: "Anchor ratios (keep them apart from the ratios a comparison reads).")
    var ratios: [Double] = [0.15, 0.3, 0.45]

    @Option(help: "Cheap-fidelity validation tokens per measurement (the finalists get 4× as many).")
    var searchTokens: Int = 256

    @Option(help: "Window of every measurement.")
    var window: Int = 256

    @Option(help: "Generations per anchor.")
    var generations: Int = MeasuredSearchConfiguration().generations

    @Option(help: "What the search ranks by: perplexity or kl.")
    var objective: SearchObjective = MeasuredSearchConfiguration().objective

    @Option(parsing: .upToNextOption, help: "Ratios where the distilled agent is checked on held-out validation tokens.")
    var checkRatios: [Double] = [0.2, 0.35, 0.5]

    @Flag(help: "Skip the held-out check.")
    var noCheck = false

    @Option(help: "Where the held-out validation slice of the check starts (after the searches' tokens).")
    var checkOffset: Int = 8192

    @Option(help: "Tokens of that slice.")
    var checkTokens: Int = 2048

    @Flag(help: "Search and check, but store nothing.")
    var dryRun = false

    func validate() throws {
        guard !ratios.isEmpty, ratios.allSatisfy({ $0.isFinite && $0 > 0 && $0 < 1 }) else {
            throw ValidationError("--ratios needs at least one ratio in (0, 1)")
        }
        guard Set(ratios).count == ratios.count else { throw ValidationError("--ratios must not repeat a ratio") }
        guard generations >= 0 else { throw ValidationError("--generations must be ≥ 0") }
        guard searchTokens >= window, window >= 2 else { throw ValidationError("--search-tokens must hold one --window (≥ 2)") }
        guard noCheck || (checkOffset >= 4 * searchTokens && checkTokens >= 2 * window) else {
            throw ValidationError("the check slice must start after the searches' \(4 * searchTokens) tokens and hold two windows")
        }
    }

    func run() async throws {
        let settings = CommandLineSettings.current
        let started = Date()
        let connection = try await StoredAgents.connect()
        let agent = try await StoredAgents.newestAgent(modelId: settings.modelId, on: connection)
        guard let metric = MetricKind(rawValue: agent.regime.metric) else {
            throw UserFacingError("the predictor's metric '\(agent.regime.metric)' is unknown to this build")
        }
        let model = model
        let checkRatios = noCheck ? [] : self.checkRatios
        let limit = checkRatios.isEmpty ? 4 * searchTokens : checkOffset + checkTokens
        let corpus = Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory))
        let cache = CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory))
        let (session, tokens) = try await BlockingQueue(label: "ppf.agent.anchor.load").run {
            let checkpoint = try model.load()
            return (try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric, cache: cache, calibrate: true),
                    checkpoint.tokens(of: try corpus.text(of: .validation), limit: limit))
        }
        try agent.requireTrained(for: session.checkpoint.model.configuration, modelName: session.identity.name)
        guard tokens.count >= limit else {
            throw UserFacingError("the validation split holds \(tokens.count) tokens; this run needs \(limit) (lower --check-offset/--check-tokens)")
        }
        let anchoring = try AgentAnchoring(session: session, agent: agent, validationTokens: Array(tokens.prefix(4 * searchTokens)),
                                           searchTokens: searchTokens, window: window)
        var search = MeasuredSearchConfiguration()
        search.generations = generations
        search.objective = objective
        search.seed = settings.agentSeed
        FileHandle.standardOutput.write(Data("anchoring agent \(agent.versionId.uuidString.lowercased()) of '\(settings.modelId)' at r = \(ratios.map { String($0) }.joined(separator: ", ")): \(generations) generations each, ranked by \(objective == .klDivergence ? "KL divergence from the dense model" : "perplexity"), \(searchTokens)/\(4 * searchTokens) validation tokens, window \(window)\n".utf8))
        let searched = try await anchoring.search(ratios: ratios.sorted(), configuration: search) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        print("\n| anchor r | winner: validation ppl | score | measurements |")
        print("|---:|---:|---:|---:|")
        for item in searched {
            print(String(format: "| %.3f | %.3f | %.4f | %d |", item.anchor.ratio, item.anchor.perplexity ?? .nan,
                         item.anchor.score ?? .nan, item.outcome.measurementsPerFidelity.reduce(0, +)))
        }
        let anchors = searched.map(\.anchor)
        let base = agent.agent
        let fitted = try await BlockingQueue(label: "ppf.agent.anchor.fit").run { try base.distilled(toward: anchors) }
        print(String(format: "\ndistilled toward %d anchors: fit error %.4f logits", anchors.count, fitted.rootMeanSquareError))

        // The held-out check comes first: it decides whether the anchored agent is stored at all.
        var verdict: AgentAnchoring.Verdict?
        if !checkRatios.isEmpty {
            let heldOut = Array(tokens[checkOffset..<(checkOffset + checkTokens)])
            let names = ["anchored agent", "agent before"] + BaselinePolicy.allCases.map(\.rawValue)
            print("\nheld-out validation tokens \(checkOffset)..<\(checkOffset + checkTokens), window \(window):")
            print("| r | " + names.joined(separator: " | ") + " |")
            print("|---:|" + names.map { _ in "---:" }.joined(separator: "|") + "|")
            var anchoredValues: [Double] = [], beforeValues: [Double] = []
            for ratio in checkRatios {
                var policies: [(ratio: Double, policy: PruningPolicy)] = [
                    (ratio, try fitted.agent.policy(forRatio: ratio)), (ratio, try base.policy(forRatio: ratio)),
                ]
                for baseline in BaselinePolicy.allCases {
                    policies.append((ratio, try session.policy(.baseline(baseline), targetRatio: ratio)))
                }
                let values = try await anchoring.perplexities(of: policies, on: heldOut)
                anchoredValues.append(values[0])
                beforeValues.append(values[1])
                print(String(format: "| %.2f | ", ratio) + values.map { String(format: "%.2f", $0) }.joined(separator: " | ") + " |")
            }
            verdict = AgentAnchoring.Verdict(anchored: anchoredValues, before: beforeValues)
            if let verdict { print("\n" + verdict.summary) }
        }

        if dryRun {
            print("not stored (--dry-run)")
        } else if let verdict, !verdict.keepsAnchored {
            print("not stored: the anchored agent measured worse than agent \(agent.versionId.uuidString.lowercased()) on held-out validation, which keeps serving")
        } else {
            let context = try await ServiceContext.start(serviceName: "ppf", settings: settings)
            let stored = try await AgentVersions.anchored(agent, anchors: anchors, fitted: fitted, correlationId: nil,
                                                          producer: context.producerName, pool: context.pool,
                                                          queue: BlockingQueue(label: "ppf.agent.anchor.fit"))
            _ = try? await context.makeOutboxRelay().publishPending()
            let versionId = stored.agent.versionId
            print("agent version \(versionId.uuidString.lowercased())\(stored.inserted ? "" : " (stored already)"): the anchored agent")
            let serving = try await AgentAnchoring.waitUntilServed(versionId: versionId, modelId: settings.modelId,
                                                                   pool: context.pool)
            await context.shutdown()
            switch serving {
            case .served(let instances):
                print("served now by the agent service (\(instances.joined(separator: ", ")))")
            case .noAgentRunning:
                print("no agent service is running; it serves this version when it starts")
            case .timedOut(let behind):
                print("warning: after 120 s some agent instances still serve another version: \(behind.joined(separator: "; "))")
            }
        }
        print(String(format: "\n%.0f s", Date().timeIntervalSince(started)))
    }
}
