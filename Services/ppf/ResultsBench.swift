import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
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

    @Option(help: "Static mode: policies that also seed a search (comma-separated baseline names; empty: only the agent's policy, verifying its top --verify-top-k). The best candidate of each search is verified. Seeding with a hand-made rule (llm-pruner, owl, …) is an ablation: the ratios are then not PPF's alone.")
    var staticStarts: String = "uniform"

    @Option(help: "Static mode: validation tokens per measurement (default: the predictor's measurements').")
    var verifyTokens: Int?

    @Option(help: "The baselines CSV (`ppf bench prune --write docs/baselines.md` writes docs/baselines.csv).")
    var baselines: String = "docs/baselines.csv"

    @Flag(help: "Measure the baselines in this run instead of reading --baselines.")
    var measureBaselines = false

    @Option(help: "The hand-made policies compared with (comma-separated; default: all).")
    var baselinePolicies: String?

    @Flag(help: "Measure every baseline under PPF's metric (the predictor's), so all rows share metric and tokens; default: each baseline under its best metric.")
    var baselinesInPpfMetric = false

    @Option(help: "Also write the comparison as ratio,policy,split,tokens,window,perplexity rows to this CSV.")
    var comparisonCsv: String?

    @Option(help: "How PPF static searches: cem (the predictor-guided search, its candidates verified; what the agent service's static mode runs) or measured (an evolutionary search ranked by validation measurements of the KL divergence from the dense model, from uniform, the agent and the sensitivity profile; what make demo runs).")
    var staticSearch: StaticSearchKind = .cem

    @Option(help: "Measured search: generations (4 policies measured in each, after the starts).")
    var searchGenerations: Int = MeasuredSearchConfiguration().generations

    @Option(help: "Static mode: the window of each validation measurement (default: --window, capped at the validation tokens).")
    var verifyWindow: Int?

    @Option(help: "Calibration windows × 512 tokens.")
    var calibrationWindows: Int = 32

    @Option(help: "Write the table to this markdown file (and CSV and PNG beside it).")
    var write: String?

    func validate() throws {
        guard !ratios.isEmpty, ratios.allSatisfy({ $0 > 0 && $0 < 1 }) else { throw ValidationError("--ratios must lie in (0, 1)") }
        guard tokens >= 2, window >= 2, window <= tokens else { throw ValidationError("need 2 ≤ --window ≤ --tokens") }
        guard verifyTopK >= 1 else { throw ValidationError("--verify-top-k must be at least 1") }
        if let verifyTokens, verifyTokens < 2 { throw ValidationError("--verify-tokens must be at least 2") }
        if let verifyWindow, verifyWindow < 2 { throw ValidationError("--verify-window must be at least 2") }
    }

    func run() async throws {
        let settings = CommandLineSettings.current
        let connection = try await StoredAgents.connect()
        let agent = try await StoredAgents.newestAgent(modelId: settings.modelId, on: connection)
        guard let predictor = try await PredictorVersionRepository.find(id: agent.predictorVersionId, on: connection) else {
            throw UserFacingError("the agent's predictor version is not stored")
        }
        var configuration = ResultsBenchmark.Configuration()
        configuration.ratios = ratios
        configuration.tokens = tokens
        configuration.window = window
        configuration.verifyTopK = verifyTopK
        configuration.verifyTokens = verifyTokens
        configuration.verifyWindow = verifyWindow
        configuration.staticStarts = staticStarts.components(separatedBy: ",")
        configuration.baselinesCSV = measureBaselines ? nil : baselines
        if let baselinePolicies {
            configuration.baselinePolicies = try baselinePolicies.split(separator: ",")
                .map { try BaselinePolicy(named: $0.trimmingCharacters(in: .whitespaces)) }
        }
        configuration.baselinesInPPFMetric = baselinesInPpfMetric
        if staticSearch == .measured {
            var search = MeasuredSearchConfiguration()
            search.generations = searchGenerations
            configuration.measuredSearch = search
        }
        configuration.calibrationWindows = calibrationWindows
        configuration.seed = settings.agentSeed
        configuration.command = (["ppf", "bench", "results"] + CommandLine.arguments.dropFirst(3)).joined(separator: " ")
        let model = model
        let checkpoint = try await BlockingQueue(label: "ppf.bench.load").run { try model.load() }
        let report = try await ResultsBenchmark(
            checkpoint: checkpoint, corpus: Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory)),
            cache: CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory)),
            agent: agent, predictor: predictor, configuration: configuration
        ) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }.run()
        let markdown = report.markdown()
        print(markdown)
        if let write {
            let url = URL(fileURLWithPath: write)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try MarkdownSections.replace(section: "bench-results", in: url, title: "Results", with: markdown)
            try report.csv().write(to: url.deletingPathExtension().appendingPathExtension("csv"), atomically: true, encoding: .utf8)
            let png = url.deletingPathExtension().appendingPathExtension("png")
            try report.chart().write(to: png, width: 800, height: 500)
            print("\nwrote the bench-results section of \(write), its CSV and \(png.lastPathComponent)")
        }
        if let comparisonCsv {
            let url = URL(fileURLWithPath: comparisonCsv)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try report.comparisonCSV().write(to: url, atomically: true, encoding: .utf8)
            print("wrote \(comparisonCsv)")
        }
    }
}

