import ArgumentParser
import Foundation
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows
import PPFTensor

/// `ppf bench …`: benchmark programs (speed targets live here, never in tests).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print tables (and update docs/benchmarks.md with --write).",
        subcommands: [ModelBench.self, PruneBench.self, PredictorSpeedBench.self, ResultsBench.self, SearchBench.self, NoiseFloorBench.self,
                      LoadBench.self, PrefixCacheBench.self])
}

/// `ppf bench model`: forward-pass throughput against the sgemm peak of the same run.
struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Evaluation throughput at several windows, GFLOP/s against the measured sgemm peak, peak RSS.",
        discussion: """
            With --llama-cpp-python pointing at a Python that has llama-cpp-python installed, the same \
            GGUF is also scored by llama.cpp at each window in the same run, and the table gives the ratio.
            """)

    @OptionGroup var model: ModelOptions

    @Option(parsing: .upToNextOption, help: "Window lengths.")
    var windows: [Int] = [128, 512, 2048]

    @Option(help: "Timed windows per length (after one warm-up).")
    var repetitions: Int = 3

    @Option(help: "A Python interpreter with llama-cpp-python, to compare against llama.cpp.")
    var llamaCppPython: String?

    @Option(help: "Replace the model-engine section of this markdown file with the results.")
    var write: String?

    func run() throws {
        let checkpoint = try model.load()
        let report = try ModelBenchmark.run(model: checkpoint.model, windows: windows, repetitions: repetitions)
        var table = report.markdownTable()
        if let python = llamaCppPython {
            var lines = ["", "| window | PPF tokens/s | llama.cpp tokens/s | PPF / llama.cpp |", "|---:|---:|---:|---:|"]
            for row in report.rows {
                let theirs = try LlamaCppThroughput.measure(python: python, model: model.url, window: row.window,
                                                            repetitions: repetitions)
                lines.append(String(format: "| %d | %.0f | %.0f | %.2f× |", row.window, row.tokensPerSecond,
                                    theirs, row.tokensPerSecond / theirs))
            }
            table += "\n" + lines.joined(separator: "\n")
        }
        print(table)
        if let write {
            let command = (["ppf", "bench", "model"] + CommandLine.arguments.dropFirst(3)).joined(separator: " ")
            let section = """
                Measured \(ISO8601DateFormatter().string(from: Date())) on \(Machine.description). \
                Reproduce: `make bench-model` (runs `\(command)`).

                \(table)
                """
            try MarkdownSections.replace(section: "bench-model", in: URL(fileURLWithPath: write),
                                         title: "Model engine throughput", with: section)
            print("\nwrote the bench-model section of \(write)")
        }
    }
}

/// llama.cpp's throughput on the same scoring job, through llama-cpp-python.
enum LlamaCppThroughput {
    /// Tokens per second for scoring `window` tokens with all logits, median of `repetitions`.
    static func measure(python: String, model: URL, window: Int, repetitions: Int) throws -> Double {
        let script = URL(fileURLWithPath: repositoryRoot()).appendingPathComponent("infra/reference/llama_cpp_throughput.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path, "--model", model.path, "--window", "\(window)",
                             "--repetitions", "\(repetitions)", "--threads", "\(BLAS.threadCount)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let value = Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw UserFacingError("llama.cpp throughput run failed (status \(process.terminationStatus)) with \(python)")
        }
        return value
    }
}

/// Replaces a marked section of a markdown file, keeping the rest.
enum MarkdownSections {
    /// Writes `content` between `<!-- NAME:start -->` and `<!-- NAME:end -->`,
    /// appending the section (with `title`) when the markers are absent.
    static func replace(section name: String, in url: URL, title: String, with content: String) throws {
        let start = "<!-- \(name):start -->", end = "<!-- \(name):end -->"
        var text = (try? String(contentsOf: url, encoding: .utf8)) ?? "# Benchmarks\n"
        let block = "\(start)\n\(content)\n\(end)"
        if let lower = text.range(of: start), let upper = text.range(of: end), lower.upperBound <= upper.lowerBound {
            text.replaceSubrange(lower.lowerBound..<upper.upperBound, with: block)
        } else {
            text += "\n## \(title)\n\n\(block)\n"
        }
        try text.write(to: url, atomically: true, encoding: .utf8)
    }
}

/// `ppf bench prune`: the hand-made baselines the agent must beat.
struct PruneBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Test-split perplexity of every baseline policy × metric at several ratios, speed vs dense, timings.",
        discussion: "Writes the markdown table to --write (docs/baselines.md) and the rows as CSV next to it.")

    @OptionGroup var model: ModelOptions

    @Option(parsing: .upToNextOption, help: "Target ratios.")
    var ratios: [Double] = [0.1, 0.2, 0.3, 0.4, 0.5]

    @Option(help: "Test-split tokens scored per pruned model.")
    var tokens: Int = 8192

    @Option(help: "Window length.")
    var window: Int = 512

    @Option(help: "Calibration windows × 512 tokens.")
    var calibrationWindows: Int = 32

    @Option(help: "Write the table to this markdown file (and CSV beside it).")
    var write: String?

    func run() throws {
        let checkpoint = try model.load()
        let corpus = Corpus(directory: URL(fileURLWithPath: CommandLineSettings.current.corpusDirectory))
        let cache = CalibrationCache(directory: URL(fileURLWithPath: CommandLineSettings.current.calibrationCacheDirectory))
        let statistics = try Calibration.statistics(checkpoint: checkpoint, corpus: corpus,
                                                    spec: .standard(contextLength: checkpoint.model.configuration.contextLength, windows: calibrationWindows), cache: cache)
        let report = try BaselineBenchmark.run(
            checkpoint: checkpoint, corpus: corpus, statistics: statistics,
            configuration: BaselineBenchmark.Configuration(ratios: ratios, tokenBudget: tokens, windowLength: window)
        ) { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        let command = (["ppf", "bench", "prune"] + CommandLine.arguments.dropFirst(3)).joined(separator: " ")
        let markdown = """
            Measured \(ISO8601DateFormatter().string(from: Date())) with `\(command)` on \(Machine.description).

            \(report.markdown())
            """
        print(markdown)
        if let write {
            // Only the generated tables are replaced; the analysis around them stays.
            let url = URL(fileURLWithPath: write)
            try MarkdownSections.replace(section: "bench-prune", in: url, title: "Baselines", with: markdown)
            let csv = report.csv()
            try csv.write(to: url.deletingPathExtension().appendingPathExtension("csv"), atomically: true, encoding: .utf8)
            let png = url.deletingPathExtension().appendingPathExtension("png")
            try BaselinesChart.write(csv: csv, to: png)
            print("\nwrote the bench-prune section of \(write), its CSV and \(png.lastPathComponent)")
        }
    }
}
