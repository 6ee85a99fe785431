import ArgumentParser
import Foundation
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows

/// `ppf bench search`: one trial of the measured search's settings on the
/// validation split only, for choosing them without reading the test split.
struct SearchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Try the measured search's settings on validation: search on a prefix, score the winner, its starts and the hand-made policies on a later, unseen slice.",
        discussion: "Uses the newest stored agent of --model-id and the metric of its predictor's measurements. Reads no test tokens.")

    @OptionGroup var model: ModelOptions

    @Option(parsing: .upToNextOption, help: "Target ratios.")
    var ratios: [Double] = [0.2, 0.35, 0.5]

    @Option(help: "Cheap-fidelity validation tokens (the finalists get 4× as many).")
    var searchTokens: Int = 256

    @Option(help: "Window of every measurement (the comparison's, 256 in make demo).")
    var window: Int = 256

    @Option(help: "Where the held-out validation slice starts (after the search's tokens).")
    var evaluationOffset: Int = 8192

    @Option(help: "Tokens of the held-out validation slice.")
    var evaluationTokens: Int = 4096

    @Option(help: "Generations.") var generations: Int = MeasuredSearchConfiguration().generations
    @Option(help: "Offspring per generation.") var offspring: Int = 48
    @Option(help: "Offspring measured per generation.") var measured: Int = 4
    @Option(help: "Action coordinates per mutation.") var coordinates: Int = 3
    @Option(help: "Mutation standard deviation (logit units).") var scale: Double = 0.6
    @Option(help: "Finalists measured at the higher fidelity.") var finalists: Int = 4
    @Option(parsing: .upToNextOption, help: "Multipliers of the mutation scale, one drawn per mutated coordinate (e.g. 1 3 8 for occasional long jumps).")
    var scaleMultipliers: [Double] = MeasuredSearchConfiguration().mutationScaleMultipliers
    @Flag(help: "Let the predictor pick which offspring are measured (default: unscreened).") var screen = false
    @Flag(help: "Measure the model's sensitivity profile first and start a search from the policy it suggests.")
    var profile = false
    @Option(help: "How strongly the sensitivity start follows the profile.") var profileScale: Double = 2.5
    @Option(help: "What the search ranks by on its validation tokens: perplexity or kl (the divergence from the dense model).")
    var objective: SearchObjective = MeasuredSearchConfiguration().objective

    func run() async throws {
        let settings = CommandLineSettings.current
        let connection = try await StoredAgents.connect()
        let agent = try await StoredAgents.newestAgent(modelId: settings.modelId, on: connection)
        guard let metric = MetricKind(rawValue: agent.regime.metric) else {
            throw UserFacingError("the predictor's metric '\(agent.regime.metric)' is unknown to this build")
        }
        let model = model, limit = evaluationOffset + evaluationTokens
        let corpus = Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory))
        let cache = CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory))
        let (session, tokens) = try await BlockingQueue(label: "ppf.bench.search.load").run {
            let checkpoint = try model.load()
            return (try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric, cache: cache, calibrate: true),
                    checkpoint.tokens(of: try corpus.text(of: .validation), limit: limit))
        }
        try agent.requireTrained(for: session.checkpoint.model.configuration, modelName: session.identity.name)
        let trial = try SearchTrial(session: session, agent: agent, validationTokens: tokens, searchTokens: searchTokens,
                                    window: window, evaluationRange: evaluationOffset..<limit)
        var search = MeasuredSearchConfiguration()
        search.generations = generations
        search.offspring = offspring
        search.measuredPerGeneration = measured
        search.mutatedCoordinates = coordinates
        search.mutationScale = scale
        search.finalists = finalists
        search.mutationScaleMultipliers = scaleMultipliers
        search.screensWithPredictor = screen
        search.seed = settings.agentSeed
        search.profileScale = profileScale
        search.objective = objective
        let sensitivity = profile ? try await trial.sensitivity(objective: objective) : nil
        if let sensitivity {
            print("sensitivity (\(objective == .klDivergence ? "KL" : "Δ log-ppl"), block 0 → \(sensitivity.count - 1)): "
                  + sensitivity.map { String(format: "%.3f", $0) }.joined(separator: " "))
        }
        let names = ["measured search", "uniform (projected)", "agent"] + (profile ? ["sensitivity start"] : []) + ["llm-pruner", "owl", "uniform"]
        print("| r | " + names.joined(separator: " | ") + " | measurements |")
        print("|---:|" + names.map { _ in "---:" }.joined(separator: "|") + "|---:|")
        for ratio in ratios {
            let result = try await trial.run(ratio: ratio, configuration: search, sensitivity: sensitivity,
                                             baselines: [.llmPruner, .owl, .uniform]) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            print(String(format: "| %.2f | ", ratio) + result.heldOut.map { String(format: "%.2f", $0.perplexity) }.joined(separator: " | ")
                  + " | \(result.search.measurementsPerFidelity.reduce(0, +)) |")
        }
    }
}

extension SearchObjective: ExpressibleByArgument {}
