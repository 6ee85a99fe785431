import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFPredictor
import PPFPruning
import PPFRuntime
import PPFStore
import PPFTensor
import PPFWorkflows

/// `ppf bench noise-floor`: the error the predictor's labels allow (issue #13 §1).
struct NoiseFloorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise-floor",
        abstract: "Measure stored policies on two disjoint validation token sets and print how well the sets agree: the error the labels allow.",
        discussion: """
            Takes --policies of the predictor's measured policies (the largest regime's, spread over \
            their ratios, the sensitivity probes left out), and measures each in this process on the \
            regime's own validation tokens and on the next as many, with perplexity and the KL \
            divergence from the dense model. Prints the raw disagreement, the disagreement once the \
            second text's common shift is removed (the part no predictor can learn), Kendall τ pooled \
            and within a ratio, and how far the first set reproduces the stored measurements. Reads \
            no test tokens.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Policies to measure.")
    var policies: Int = 30

    @Option(parsing: .upToNextOption, help: "Token budgets to try (default: the regime's).")
    var tokens: [Int] = []

    func validate() throws {
        guard policies >= 3 else { throw ValidationError("--policies must be at least 3") }
        guard tokens.allSatisfy({ $0 >= 16 }) else { throw ValidationError("--tokens must be at least 16 each") }
    }

    func run() async throws {
        let settings = CommandLineSettings.current
        let connection = try await StoredAgents.connect()
        let (measured, _) = try await TrainingData.load(modelId: settings.modelId, withImportance: false, on: connection)
        let provenance = try await PolicyRepository.provenance(modelId: settings.modelId, on: connection)
        guard let set = try TrainingSet(measured, profiles: [], withSensitivity: true) else {
            throw UserFacingError("no measurements of '\(settings.modelId)'; bootstrap first (ppf bootstrap)")
        }
        guard let metric = MetricKind(rawValue: set.regime.metric) else {
            throw UserFacingError("the regime's metric '\(set.regime.metric)' is unknown to this build")
        }
        let regime = set.regime
        let inSet = Set(set.samples.map(\.id))
        var stored: [String: (policy: PruningPolicy, perplexity: Double)] = [:]
        for sample in measured where sample.split == regime.split && sample.tokenBudget == regime.tokenBudget
            && sample.window == regime.window && sample.metric == regime.metric {
            let id = sample.policyId.uuidString.lowercased()
            if inSet.contains(id), stored[id] == nil { stored[id] = (sample.policy, sample.perplexity) }
        }
        let chosen = NoiseFloor.spread(Array(stored.keys), count: policies, ratio: { provenance[$0]?.ratio }, id: { $0 })
        let budgets = tokens.isEmpty ? [regime.tokenBudget] : tokens
        let model = model
        let corpus = Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory))
        let cache = CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory))
        let limit = 2 * (budgets.max() ?? regime.tokenBudget)
        let queue = BlockingQueue(label: "ppf.bench.noise-floor")
        let (session, validation) = try await queue.run {
            let checkpoint = try model.load()
            return (try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric, cache: cache, calibrate: true),
                    checkpoint.tokens(of: try corpus.text(of: .validation), limit: limit))
        }
        print("\(chosen.count) of \(stored.count) measured policies (\(regime)); \(Machine.description)")
        print("| tokens | metric | policies | raw APE | APE after the common shift | mean log shift | Kendall τ | τ within a ratio |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        var reproduced: Double?
        for budget in budgets {
            guard validation.count >= 2 * budget else {
                throw UserFacingError("the validation split holds \(validation.count) tokens, fewer than 2 × \(budget)")
            }
            let entries = chosen.compactMap { id in
                stored[id].map { (id: id, policy: $0.policy, kind: PolicySources.kind(of: provenance[id]?.source ?? ""),
                                  ratio: provenance[id]?.ratio) }
            }
            let started = Date()
            let window = regime.window
            let result = try await queue.run {
                try NoiseFloor.measure(session: session, policies: entries, first: Array(validation[0..<budget]),
                                       second: Array(validation[budget..<(2 * budget)]), window: window) { done in
                    FileHandle.standardError.write(Data(String(format: "%d tokens: %d/%d policies (%.0f s)\n", budget, done,
                                                               entries.count, Date().timeIntervalSince(started)).utf8))
                }
            }
            let (perplexity, divergence) = try NoiseFloor.agreement(result.pairs)
            func row(_ name: String, _ a: NoiseFloor.Agreement) -> String {
                String(format: "| %d | %@ | %d | %.1f %% | %.1f %% | %+.4f | %.3f | %.3f |", budget, name, a.count, 100 * a.rawAPE,
                       100 * a.shiftedAPE, a.meanLogShift, a.kendallTau, a.kendallTauWithinRatio)
            }
            print(row("perplexity", perplexity))
            if let divergence { print(row("KL from dense", divergence)) }
            if budget == regime.tokenBudget {
                reproduced = result.pairs.compactMap { pair in
                    stored[pair.policyId].map { abs(pair.first.perplexity / $0.perplexity - 1) }
                }.max()
            }
        }
        if let reproduced {
            print(String(format: "\nthe first set reproduces the stored measurements within %.2g (largest relative difference)", reproduced))
        }
    }
}
