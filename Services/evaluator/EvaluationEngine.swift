import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime

// MARK: - EvaluationEngine

/// The base model held in memory, with what measurements reuse: one
/// ``PruningSession`` per importance metric (its calibration statistics come
/// from the on-disk cache) and the tokenized prefix of each (split, budget).
///
/// Every step that touches BLAS or the tokenizer runs on one
/// ``BlockingQueue``, never on the cooperative pool; the queue is serial, so
/// measurements in one process never compete for the cores they are timed on.
actor EvaluationEngine {
    /// One measurement's numbers.
    struct Outcome: Sendable {
        let nll: Double
        let perplexity: Double
        let tokensCounted: Int
        let achievedRatio: Double
        /// Plan, apply and forward passes (excludes a first-use calibration or tokenization).
        let seconds: Double
    }

    /// The build of the model engine, recorded with every measurement so
    /// numbers from different engines are never mixed. Bump it when the
    /// forward pass, the plan application or the perplexity definition changes.
    static let version = "ppf-swift-fp32/1"

    /// The dense base model.
    nonisolated let checkpoint: LlamaCheckpoint
    /// Blocks of the base model; a policy must have one entry per block.
    nonisolated var blockCount: Int { checkpoint.model.configuration.blockCount }
    /// The longest window the model accepts.
    nonisolated var contextLength: Int { checkpoint.model.configuration.contextLength }

    private let corpus: Corpus
    private let cache: CalibrationCache
    private let queue: BlockingQueue
    private var sessions: [MetricKind: PruningSession] = [:]
    private var profiles: [MetricKind: ImportanceProfile] = [:]
    private var storedProfiles: Set<MetricKind> = []
    private var prefixes: [PrefixKey: [Int]] = [:]

    private struct PrefixKey: Hashable {
        let split: CorpusSplit
        let tokenBudget: Int
    }

    private init(checkpoint: LlamaCheckpoint, corpus: Corpus, cache: CalibrationCache, queue: BlockingQueue) {
        self.checkpoint = checkpoint
        self.corpus = corpus
        self.cache = cache
        self.queue = queue
    }

    /// Loads the checkpoint at `url` on `queue`.
    /// - Throws: `ModelError` `.io` when the file is missing, or what loading the GGUF throws.
    static func load(url: URL, corpus: Corpus, cache: CalibrationCache, queue: BlockingQueue) async throws -> EvaluationEngine {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.io, "no model at \(url.path); run `make setup`, or set PPF_MODEL_DIR / PPF_MODEL_FILE")
        }
        let checkpoint = try await queue.run { try LlamaCheckpoint.load(contentsOf: url) }
        return EvaluationEngine(checkpoint: checkpoint, corpus: corpus, cache: cache, queue: queue)
    }

    /// Applies `policy` under `metric` and measures perplexity on the first
    /// `tokenBudget` tokens of `split` in windows of `window` tokens.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the policy cannot be
    ///   planned or applied (the same request would fail the same way again);
    ///   other errors (a missing corpus, calibration I/O) are the environment's and are retried.
    func measure(policy: PruningPolicy, metric: MetricKind, split: CorpusSplit, tokenBudget: Int, window: Int,
                 progress: StatusProgress) async throws -> Outcome {
        let session = try await session(for: metric)
        let tokens = try await prefix(of: split, tokenBudget: tokenBudget)
        return try await queue.run { () throws -> Outcome in
            let started = Date()
            let model: LlamaModel
            let achieved: Double
            do throws(PruningError) {
                let plan = try session.plan(policy, targetRatio: nil)
                achieved = plan.achievedRatio
                model = try session.apply(plan)
            } catch {
                throw EnvelopeRejection.invalidPayload("the policy cannot be planned or applied under \(metric.rawValue): \(error.message)")
            }
            // A test can hold the process here and SIGKILL it mid-evaluation (nothing is written yet).
            FaultInjection.holdIfRequested(at: FaultInjection.duringMeasurement)
            let result: PerplexityResult
            do throws(ModelError) {
                let evaluator = try PerplexityEvaluator(model: model, windowLength: window)
                result = try evaluator.evaluate(tokens, tokenBudget: tokenBudget, progress: progress)
            } catch {
                throw EnvelopeRejection.invalidPayload("the pruned model cannot be measured: \(error.message)")
            }
            return Outcome(nll: result.nll, perplexity: result.perplexity, tokensCounted: result.tokensCounted,
                           achievedRatio: achieved, seconds: Date().timeIntervalSince(started))
        }
    }

    // MARK: - Importance profiles

    /// The metric's importance profile when this process has not stored it
    /// yet (the predictor's plan-derived features), else nil. Computed once,
    /// from the same plan builder the measurements use.
    func profileToStore(metric: MetricKind, modelId: String) async throws -> ImportanceProfile? {
        guard !storedProfiles.contains(metric) else { return nil }
        if let profile = profiles[metric] { return profile }
        let session = try await session(for: metric)
        let profile = try await queue.run { try ImportanceProfile(builder: session.builder, modelId: modelId) }
        profiles[metric] = profile
        return profile
    }

    /// Records that the metric's profile is stored.
    func profileStored(metric: MetricKind) {
        storedProfiles.insert(metric)
    }

    // MARK: - Reused state

    /// The calibration the pruner plans this model with (the default 32 windows
    /// of 512 tokens, or of the context length when the model's is shorter),
    /// so a measured policy is pruned exactly as the pruner would prune it.
    nonisolated var calibration: CalibrationSpec {
        CalibrationSpec(windowLength: min(CalibrationSpec().windowLength, contextLength))
    }

    /// The metric's session, prepared on first use (calibrating, or reading the cache, when the metric needs it).
    private func session(for metric: MetricKind) async throws -> PruningSession {
        if let session = sessions[metric] { return session }
        let checkpoint = checkpoint, corpus = corpus, cache = cache, calibration = calibration
        let session = try await queue.run {
            try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric, calibration: calibration,
                                       cache: cache)
        }
        sessions[metric] = session
        return session
    }

    /// The first `tokenBudget` tokens of `split`, tokenized on first use.
    private func prefix(of split: CorpusSplit, tokenBudget: Int) async throws -> [Int] {
        let key = PrefixKey(split: split, tokenBudget: tokenBudget)
        if let tokens = prefixes[key] { return tokens }
        let checkpoint = checkpoint, corpus = corpus
        let tokens = try await queue.run {
            checkpoint.tokens(of: try corpus.text(of: split), limit: tokenBudget)
        }
        prefixes[key] = tokens
        return tokens
    }
}
