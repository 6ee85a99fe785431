import ArgumentParser
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - ppf bootstrap

/// `ppf bootstrap`: phase 1 through the bus. Samples policies, stores them
/// with their evaluation requests (outbox), waits while however many
/// evaluators run measure them, then asks the predictor service to train.
struct Bootstrap: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the predictor's training set: sample policies, have the evaluators measure them, train.",
        discussion: """
            Policies are the hand-made baselines at ratios 0.1…0.6 plus the policy sampler's mix of \
            random allocations, perturbations of the baselines and block drops, deterministic from \
            --seed and deduplicated against every policy already stored for the model. Each becomes \
            an evaluation request (policies, evaluation_requests and the outbox in one transaction) \
            on ppf.evaluation-requests, which every running evaluator shares (`make up EVALUATORS=N`).

            Resumable: a rerun with the same regime (--split, --tokens, --window, --metric) counts \
            the bootstrap requests already stored, re-publishes the unanswered ones under their own \
            ids (evaluators measure a request once) and samples only what is missing. So a larger \
            --samples extends an earlier run, and an interrupted run continues where it stopped.
            """)

    @Option(help: "Policies to measure in this regime (stored ones count).")
    var samples: Int = 300

    @Option(help: "Tokens of the split each measurement reads.")
    var tokens: Int = 1024

    @Option(help: "Window length (tokens) of each perplexity window.")
    var window: Int = 256

    @Option(help: "Target ratios to sample, as a..b.")
    var ratios: RatioRange = RatioRange(0.05...0.7)

    @Option(help: "The corpus split measured (the predictor and search use validation only; test is for reports).")
    var split: String = "validation"

    @Option(help: "Importance metric the evaluators plan with: magnitude, wanda-sp or flap.")
    var metric: MetricKind = .flap

    @Option(help: "Sampler seed.")
    var seed: UInt64 = 2025

    @Option(help: "The model id the services know the model by.")
    var modelId: String = CommandLineSettings.current.modelId

    @Flag(help: "Do not measure the sensitivity profile (the dense model, then each block alone: attention at 3 levels, MLP at 3 levels, dropped), which grounds the predictor; its probes come on top of --samples.")
    var noProfile = false

    @Flag(help: "Only enqueue; do not wait for measurements or train.")
    var noWait = false

    @Flag(help: "Wait for the measurements but do not ask the predictor to train.")
    var noTrain = false

    @Option(help: "Give up waiting after this many minutes (the requests stay queued).")
    var timeoutMinutes: Double = 240

    @OptionGroup var model: ModelOptions

    func validate() throws {
        guard samples > 0 else { throw ValidationError("--samples must be positive") }
        guard window > 0, tokens >= window else { throw ValidationError("--tokens must be ≥ --window > 0") }
        guard ["calibration", "validation", "test"].contains(split) else {
            throw ValidationError("--split must be calibration, validation or test")
        }
        guard split != "test" else {
            throw ValidationError("the test split is reserved for reports; bootstrap on validation")
        }
    }

    func run() async throws {
        let regime = MeasurementRegime(metric: metric.rawValue, split: split, tokenBudget: tokens, window: window)
        let (candidates, probeCount) = try proposals()
        let total = samples + probeCount
        print("bootstrap of '\(modelId)': \(samples) policies"
              + (probeCount > 0 ? " + \(probeCount) sensitivity probes" : "") + ", \(regime)")
        let context = try await ServiceContext.start(serviceName: "ppf", settings: CommandLineSettings.current)
        do {
            let queue = BootstrapQueue(pool: context.pool, producer: context.producerName, modelId: modelId,
                                       regime: regime)
            let queued = try await queue.fill(from: candidates, upTo: total)
            if queued.requestIds.count < total {
                print("note: only \(queued.requestIds.count) distinct policies were available (asked \(total))")
            }
            print("requests: \(queued.requestIds.count) in this regime (\(queued.alreadyMeasured) already measured, "
                  + "\(queued.newlyStored) new, \(queued.republished) re-published)")
            if try await !context.makeOutboxRelay().publishPending() {
                print("(the outbox is being published by a running service's relay)")
            }
            guard !noWait else {
                print("not waiting (--no-wait); follow with `ppf watch measurements` or rerun to resume")
                await context.shutdown()
                return
            }
            try await BootstrapProgress(context: context, requestIds: queued.requestIds)
                .waitForAll(timeout: .seconds(timeoutMinutes * 60))
            if !noTrain {
                try await PredictorTraining.trainAndWait(
                    context: context, modelId: modelId, requestedBy: ProcessInfo.processInfo.environment["USER"] ?? "ppf",
                    log: { print($0) })
            }
        } catch {
            await context.shutdown()
            throw error
        }
        await context.shutdown()
    }

    /// The candidate policies: the sensitivity probes (unless --no-profile),
    /// baselines, then twice `--samples` of the sampler's (the store may
    /// already hold some of them); and how many probes lead.
    private func proposals() throws -> (candidates: [BootstrapCandidate], probes: Int) {
        let checkpoint = try model.load()
        let settings = CommandLineSettings.current
        let cacheDirectory = URL(fileURLWithPath: settings.calibrationCacheDirectory)
        print("preparing baselines (calibration from \(cacheDirectory.path), computed once if missing)…")
        let session = try PruningSession.prepare(
            checkpoint: checkpoint, corpus: Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory)),
            metric: metric, cache: CalibrationCache(directory: cacheDirectory), calibrate: true)
        let candidates = try BootstrapCandidate.proposals(session: session, ratioRange: ratios.range, count: 2 * samples,
                                                          seed: seed, probes: noProfile ? nil : SensitivityProbes())
        return (candidates, candidates.prefix(while: \.isSensitivityProbe).count)
    }
}

/// A closed ratio range given as `a..b` on the command line.
struct RatioRange: ExpressibleByArgument, Sendable {
    let range: ClosedRange<Double>

    init(_ range: ClosedRange<Double>) { self.range = range }

    init?(argument: String) {
        let parts = argument.split(separator: ".", omittingEmptySubsequences: false)
        // "0.05..0.7" splits on every dot; rejoin around the empty piece that marks "..".
        guard let gap = parts.firstIndex(of: ""), gap > 0, gap < parts.count - 1 else { return nil }
        let low = parts[..<gap].joined(separator: "."), high = parts[(gap + 1)...].joined(separator: ".")
        guard let a = Double(low), let b = Double(high), a.isFinite, b.isFinite, 0 <= a, a < b, b < 1 else {
            return nil
        }
        range = a...b
    }
}
