import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFTensor
import PPFWorkflows

/// `ppf bench prefix-cache`: the evaluator's measurements per minute with and without the dense prefix cache.
struct PrefixCacheBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefix-cache",
        abstract: "Measurements per minute of the evaluator's measuring path with and without the dense prefix cache, and proof that both score the same.",
        discussion: """
            Takes every --stride-th of `ppf bootstrap`'s candidates (the sensitivity probes, the \
            hand-made baselines at 0.1…0.6, --samples sampler draws), in the order an evaluator meets \
            them, and measures each twice in this process on the validation split: first with the \
            cache off, then with an empty cache of --cache-mb that fills as it goes. Prints the time, \
            measurements per minute and blocks skipped per kind of policy, and the largest relative \
            perplexity difference between the passes. Reads no test tokens.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Tokens of the validation split per measurement (the bootstrap's default).")
    var tokens: Int = 1024

    @Option(help: "Window length.")
    var window: Int = 256

    @Option(help: "Importance metric the policies are planned with.")
    var metric: MetricKind = .flap

    @Option(help: "Sampler draws among the bootstrap candidates (the bootstrap's default).")
    var samples: Int = 300

    @Option(help: "Measure every n-th candidate.")
    var stride: Int = 8

    @Option(help: "The cache's budget in MiB.")
    var cacheMb: Int = CommandLineSettings.current.prefixCacheMegabytes

    @Option(help: "Replace the prefix-cache section of this markdown file with the results.")
    var write: String?

    func validate() throws {
        guard tokens >= 2, window >= 2, tokens >= window else { throw ValidationError("need --tokens ≥ --window ≥ 2") }
        guard stride >= 1, samples >= 1 else { throw ValidationError("--stride and --samples must be positive") }
        guard cacheMb > 0 else { throw ValidationError("--cache-mb must be positive (the cached pass needs a cache)") }
    }

    func run() async throws {
        let settings = CommandLineSettings.current
        if settings.blasThreads > 0 { BLAS.setThreadCount(settings.blasThreads) }
        let engine = try await BaseModelEngine.load(
            url: model.url, corpus: Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory)),
            cache: CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory)),
            queue: BlockingQueue(label: "ppf.bench.prefix-cache"), prefixCacheBytes: cacheMb << 20)
        let policies = try await PrefixCacheBenchmark.policies(engine: engine, metric: metric, samples: samples,
                                                              stride: stride, seed: 2025)
        print("\(policies.count) policies, \(tokens) validation tokens in windows of \(window); \(Machine.description)")
        let started = Date()
        let report = try await PrefixCacheBenchmark.run(
            engine: engine, policies: policies, metric: metric, split: .validation, tokenBudget: tokens, window: window,
            cacheBytes: cacheMb << 20
        ) { pass, done, total in
            if done % 10 == 0 || done == total {
                FileHandle.standardError.write(Data(String(format: "%@: %d/%d (%.0f s)\n", pass, done, total,
                                                           Date().timeIntervalSince(started)).utf8))
            }
        }
        let table = report.markdownTable()
        print(table)
        if let write {
            let command = (["ppf", "bench", "prefix-cache"] + CommandLine.arguments.dropFirst(3)).joined(separator: " ")
            let section = """
                Measured \(ISO8601DateFormatter().string(from: Date())) on \(Machine.description). \
                Reproduce: `make bench-prefix-cache` (runs `\(command)`).

                \(table)
                """
            try MarkdownSections.replace(section: "bench-prefix-cache", in: URL(fileURLWithPath: write),
                                         title: "Dense prefix cache: measurements per minute", with: section)
            print("\nwrote the bench-prefix-cache section of \(write)")
        }
    }
}
