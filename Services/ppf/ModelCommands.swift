import ArgumentParser
import Foundation
import PPFModel
import PPFRuntime
import PPFWorkflows
import PPFTensor

/// Options shared by the commands that load a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "The GGUF checkpoint (default: the bundled SmolLM2-135M in --model-dir).",
            completion: .file(extensions: ["gguf"]))
    var model: String?

    /// The checkpoint's location.
    var url: URL {
        if let model { return URL(fileURLWithPath: model) }
        return URL(fileURLWithPath: CommandLineSettings.current.modelDirectory)
            .appendingPathComponent(defaultModelFile)
    }

    /// Loads the checkpoint after setting the BLAS thread count from the settings.
    func load() throws -> LlamaCheckpoint {
        if CommandLineSettings.current.blasThreads > 0 { BLAS.setThreadCount(CommandLineSettings.current.blasThreads) }
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw UserFacingError("no model at \(url.path); run `make setup` or pass --model <file.gguf>")
        }
        return try LlamaCheckpoint.load(contentsOf: url)
    }
}

/// The model `make setup` provisions.
let defaultModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"

// MARK: - ppf eval

/// `ppf eval`: perplexity of a model on a corpus split or a text file.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure perplexity on a corpus split or any raw text file (e.g. WikiText-2's wiki.test.raw).",
        discussion: """
            Text is tokenized without BOS and cut into non-overlapping windows; in each window every \
            position predicts the next token (window − 1 predictions per window), and perplexity is \
            exp(mean NLL). --tokens budgets the first N tokens so evaluations can be quick or thorough.
            """)

    @OptionGroup var model: ModelOptions

    @Option(help: "Corpus split: calibration, validation or test (prepared by `make setup` in --corpus-dir).")
    var split: CorpusSplit?

    @Option(help: "A raw UTF-8 text file to evaluate instead of a split.", completion: .file())
    var text: String?

    @Option(help: "Window length in tokens.")
    var window: Int = 512

    @Option(help: "Score only the first N tokens (default: all).")
    var tokens: Int?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard (split == nil) != (text == nil) else { throw ValidationError("give exactly one of --split or --text") }
        if let tokens, tokens < 2 { throw ValidationError("--tokens must be at least 2") }
    }

    func run() throws {
        let checkpoint = try model.load()
        let progress = TerminalProgressBar()
        let result: PerplexityResult
        let source: String
        if let split {
            source = "\(split.rawValue) split"
            result = try checkpoint.perplexity(of: split, in: Corpus(directory: URL(fileURLWithPath: CommandLineSettings.current.corpusDirectory)),
                                               tokenBudget: tokens, windowLength: window, progress: progress)
        } else {
            let url = URL(fileURLWithPath: text!)
            source = url.lastPathComponent
            let content = try Corpus.text(at: url)
            let ids = tokens.map { checkpoint.tokens(of: content, limit: $0) } ?? checkpoint.tokens(of: content)
            result = try PerplexityEvaluator(model: checkpoint.model, windowLength: window)
                .evaluate(ids, tokenBudget: tokens, progress: progress)
        }
        if json {
            struct Output: Encodable {
                let model: String, source: String, window: Int, tokensCounted: Int, windows: Int
                let nll: Double, perplexity: Double, seconds: Double, tokensPerSecond: Double
            }
            let output = Output(model: model.url.lastPathComponent, source: source, window: window,
                                tokensCounted: result.tokensCounted, windows: result.windows, nll: result.nll,
                                perplexity: result.perplexity, seconds: result.seconds,
                                tokensPerSecond: result.tokensPerSecond)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
        } else {
            print("""
                model       \(model.url.lastPathComponent)
                text        \(source), window \(window), \(result.windows) windows
                tokens      \(result.tokensCounted) predicted
                NLL         \(String(format: "%.6f", result.nll))
                perplexity  \(String(format: "%.4f", result.perplexity))
                speed       \(String(format: "%.0f", result.tokensPerSecond)) tokens/s (\(String(format: "%.1f", result.seconds)) s)
                """)
        }
    }
}

extension CorpusSplit: ExpressibleByArgument {}

// MARK: - ppf generate

/// `ppf generate`: greedy (or sampled) continuation of a prompt.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt with the model (greedy by default).")

    @OptionGroup var model: ModelOptions

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(help: "Most tokens to generate.")
    var maxTokens: Int = 64

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(help: "Seed for sampling (the same seed gives the same text).")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must not be negative") }
    }

    func run() throws {
        let checkpoint = try model.load()
        let text = try checkpoint.generate(prompt, maxTokens: maxTokens,
                                           sampling: Sampling(temperature: temperature, seed: seed))
        print(prompt + text)
    }
}
