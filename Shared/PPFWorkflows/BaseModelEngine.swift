import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore

// MARK: - BaseModelEngine

/// The dense base model a service holds in memory, with everything plans and
/// measurements reuse: one ``PruningSession`` per importance metric (scores
/// computed once; calibration statistics read from the shared cache or
/// collected on first use), the tokenized prefix of each (split, budget), and
/// the calibration statistics a stored plan names. The pruner plans and
/// exports with it, the evaluator measures, model-host builds served models.
///
/// Every step that touches BLAS, the tokenizer or the file system runs on one
/// serial ``BlockingQueue``, never on the cooperative pool; measurements in
/// one process therefore never compete for the cores they are timed on.
public actor BaseModelEngine {
    /// The dense base model (weights and tokenizer).
    public nonisolated let checkpoint: LlamaCheckpoint
    /// Its GGUF metadata (tokenizer, `general.*`), carried into exports.
    public nonisolated let sourceMetadata: GGUFMetadata
    /// The checkpoint file.
    public nonisolated let url: URL
    /// Blocks of the base model; a policy or plan must have one entry per block.
    public nonisolated var blockCount: Int { checkpoint.model.configuration.blockCount }
    /// The longest window the model accepts.
    public nonisolated var contextLength: Int { checkpoint.model.configuration.contextLength }

    /// The build of the model engine, recorded with every measurement so
    /// numbers from different engines are never mixed. Bump it when the
    /// forward pass, the plan application or the perplexity definition changes.
    public static let version = "ppf-swift-fp32/1"

    private let corpus: Corpus
    private let cache: CalibrationCache
    private let queue: BlockingQueue
    private var sessions: [MetricKind: PruningSession] = [:]
    private var prefixes: [PrefixKey: [Int]] = [:]
    private var statistics: [CalibrationSpec: CalibrationStatistics] = [:]
    private var profiles: [MetricKind: ImportanceProfile] = [:]
    private var storedProfiles: Set<MetricKind> = []
    private var fileChecksum: String?
    /// Bytes the dense prefix cache may hold (0: no cache).
    private var prefixCacheBytes: Int
    /// The dense states of the regime measured last (one regime at a time, so memory stays within the budget).
    private var prefixCache: (key: PrefixCacheKey, cache: DensePrefixCache)?

    /// The default bound of the dense prefix cache, 512 MiB: a boundary costs
    /// 4·d bytes per token, so SmolLM2-135M (d = 576, 29 inner boundaries)
    /// keeps every boundary up to 8,192 tokens per regime (the demo's 256-token
    /// regime takes 17 MB), and a 7B model (d = 4,096) every fourth at 4,096 tokens.
    public static let defaultPrefixCacheBytes = 512 << 20

    private struct PrefixCacheKey: Hashable {
        let split: CorpusSplit
        let tokenBudget: Int
        let window: Int
    }

    private struct PrefixKey: Hashable {
        let split: CorpusSplit
        let tokenBudget: Int
    }

    private init(checkpoint: LlamaCheckpoint, sourceMetadata: GGUFMetadata, url: URL, corpus: Corpus,
                 cache: CalibrationCache, queue: BlockingQueue, prefixCacheBytes: Int) {
        self.prefixCacheBytes = max(0, prefixCacheBytes)
        self.checkpoint = checkpoint
        self.sourceMetadata = sourceMetadata
        self.url = url
        self.corpus = corpus
        self.cache = cache
        self.queue = queue
    }

    /// Loads the checkpoint at `url` on `queue`, which all later work uses too.
    /// - Parameter prefixCacheBytes: the bound of the dense prefix cache
    ///   measurements start from (``DensePrefixCache``); 0 turns it off.
    /// - Throws: `ModelError` `.io` when the file is missing, or what loading the GGUF throws.
    public static func load(url: URL, corpus: Corpus, cache: CalibrationCache, queue: BlockingQueue,
                            prefixCacheBytes: Int = defaultPrefixCacheBytes) async throws -> BaseModelEngine {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.io, "no model at \(url.path); run `make setup`, or set PPF_MODEL_DIR / PPF_MODEL_FILE")
        }
        let (checkpoint, metadata) = try await queue.run {
            (try LlamaCheckpoint.load(contentsOf: url), try GGUFFile.open(url).metadata)
        }
        return BaseModelEngine(checkpoint: checkpoint, sourceMetadata: metadata, url: url, corpus: corpus, cache: cache,
                               queue: queue, prefixCacheBytes: prefixCacheBytes)
    }

    /// Loads the model a service is configured with (`PPF_MODEL_DIR`/`PPF_MODEL_FILE`), reading the corpus and the
    /// calibration cache its settings name.
    public static func load(settings: Settings, queue: BlockingQueue) async throws -> BaseModelEngine {
        try await load(url: URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile),
                       corpus: Corpus(directory: URL(fileURLWithPath: settings.corpusDirectory)),
                       cache: CalibrationCache(directory: URL(fileURLWithPath: settings.calibrationCacheDirectory)),
                       queue: queue, prefixCacheBytes: settings.prefixCacheMegabytes << 20)
    }

    /// Loads the model of a service's start-up, saying so in its status
    /// (`model`, activity "loading model") and log (where from, how long, how
    /// many blocks), as the pruner, the evaluator and model-host start.
    public static func load(for context: ServiceContext, status: ServiceStatus, queue: BlockingQueue) async throws
        -> BaseModelEngine {
        let settings = context.settings
        let url = URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile)
        status.serve(modelId: settings.modelId)
        status.set(activity: "loading model")
        context.logger.info("loading model '\(settings.modelId)' from \(url.path)")
        let started = Date()
        let engine = try await load(settings: settings, queue: queue)
        context.logger.info("model '\(settings.modelId)' loaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: \(engine.blockCount) blocks")
        return engine
    }

    /// The calibration every plan of this model uses: the default 32 windows
    /// of 512 tokens, or of the context length when the model's is shorter.
    /// Plans record it, so the evaluator prunes a measured policy exactly as
    /// the pruner would, and model-host recomputes (or reads) the same statistics.
    public nonisolated var calibration: CalibrationSpec {
        CalibrationSpec.standard(contextLength: contextLength)
    }

    /// SHA-256 of the checkpoint file (computed once): a plan made for another file is refused.
    public func checksum() async throws -> String {
        if let fileChecksum { return fileChecksum }
        let url = url
        let computed = try await queue.run { try SHA256.hex(ofFileAt: url) }
        fileChecksum = computed
        return computed
    }

    /// The metric's session, prepared on first use (calibrating, or reading the cache, when the metric needs it).
    public func session(for metric: MetricKind) async throws -> PruningSession {
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
    public func prefix(of split: CorpusSplit, tokenBudget: Int) async throws -> [Int] {
        let key = PrefixKey(split: split, tokenBudget: tokenBudget)
        if let tokens = prefixes[key] { return tokens }
        let checkpoint = checkpoint, corpus = corpus
        let tokens = try await queue.run { checkpoint.tokens(of: try corpus.text(of: split), limit: tokenBudget) }
        prefixes[key] = tokens
        return tokens
    }

    // MARK: - Planning (the pruner)

    /// The plan of `policy` under `metric`.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the policy cannot
    ///   be planned (the same policy would fail the same way again); other
    ///   errors (calibration I/O, a missing corpus) are the environment's.
    public func plan(_ policy: PruningPolicy, metric: MetricKind) async throws -> PruningPlan {
        let session = try await session(for: metric)
        return try await queue.run { () throws -> PruningPlan in
            // A test can hold the process here and SIGKILL it mid-planning (nothing is stored yet).
            FaultInjection.holdIfRequested(at: FaultInjection.duringPlanning)
            do throws(PruningError) {
                // No target check here: the policy's author computed its achieved ratio;
                // the caller compares the two.
                return try session.plan(policy, targetRatio: nil)
            } catch {
                throw EnvelopeRejection.invalidPayload("the policy cannot be planned under \(metric.rawValue): \(error.message)")
            }
        }
    }

    /// Applies `plan` and writes the pruned model to `url` as GGUF (F16, `llama`
    /// or `deci` as the shapes require), with the plan id in its `ppf.*` keys.
    /// - Throws: `PruningError` or `ExportError`; no file is left behind on failure.
    public func export(_ plan: PruningPlan, metric: MetricKind, planId: UUID, to url: URL) async throws -> GGUFExportSummary {
        let session = try await session(for: metric)
        let metadata = sourceMetadata
        return try await queue.run {
            let pruned = try session.apply(plan)
            let provenance = ExportProvenance(planID: planId.uuidString.lowercased(), achievedRatio: plan.achievedRatio,
                                              metric: plan.metric, sourceSHA256: session.identity.checksum)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            return try GGUFExporter.export(pruned.weights, sourceMetadata: metadata, to: url,
                                           options: GGUFExportOptions(provenance: provenance))
        }
    }

    // MARK: - Measuring (the evaluator)

    /// One measurement's numbers.
    public struct Measurement: Sendable {
        /// Mean negative log-likelihood per scored token.
        public let nll: Double
        /// `exp(nll)`.
        public let perplexity: Double
        /// Tokens scored.
        public let tokensCounted: Int
        /// The achieved ratio of the plan measured.
        public let achievedRatio: Double
        /// Plan, apply and forward passes (excludes a first-use calibration or tokenization).
        public let seconds: Double
        /// Blocks per window the dense prefix cache spared (0 without a hit).
        public let blocksSkippedPerWindow: Double
    }

    /// Changes the bound of the dense prefix cache; 0 turns it off and frees
    /// it. The cached states are dropped either way (a benchmark measures both).
    public func setPrefixCache(bytes: Int) {
        prefixCacheBytes = max(0, bytes)
        prefixCache = nil
    }

    /// What the current regime's prefix cache has done, or nil without one.
    public var prefixCacheCounters: DensePrefixCache.Counters? { prefixCache?.cache.counters }

    /// The block boundaries the current regime's prefix cache keeps, or nil without one.
    public var prefixCacheBoundaries: [Int]? { prefixCache?.cache.boundaries }

    /// The prefix cache of a regime, made on its first measurement (replacing another regime's).
    private func prefixCache(split: CorpusSplit, tokenBudget: Int, window: Int, tokens: [Int]) throws -> DensePrefixCache? {
        guard prefixCacheBytes > 0 else { return nil }
        let key = PrefixCacheKey(split: split, tokenBudget: tokenBudget, window: window)
        if let prefixCache, prefixCache.key == key { return prefixCache.cache }
        let used = Array(tokens.prefix(tokenBudget))
        guard used.count >= 2, window >= 2 else { return nil }  // the evaluator rejects these with its own errors
        let made = try DensePrefixCache(dense: checkpoint.model.weights, tokens: used, windowLength: window,
                                        byteBudget: prefixCacheBytes)
        prefixCache = (key, made)
        return made
    }

    /// Applies `policy` under `metric` and measures perplexity on the first
    /// `tokenBudget` tokens of `split` in windows of `window` tokens.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the policy cannot be
    ///   planned or applied (the same request would fail the same way again);
    ///   other errors (a missing corpus, calibration I/O) are the environment's and are retried.
    public func measure(policy: PruningPolicy, metric: MetricKind, split: CorpusSplit, tokenBudget: Int, window: Int,
                        progress: (any ProgressReporter & Sendable)? = nil) async throws -> Measurement {
        let session = try await session(for: metric)
        let tokens = try await prefix(of: split, tokenBudget: tokenBudget)
        let prefixCache = try prefixCache(split: split, tokenBudget: tokenBudget, window: window, tokens: tokens)
        return try await queue.run { () throws -> Measurement in
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
            let skippedBefore = prefixCache?.counters.blocksSkipped ?? 0
            do throws(ModelError) {
                let evaluator = try PerplexityEvaluator(model: model, windowLength: window)
                result = try evaluator.evaluate(tokens, tokenBudget: tokenBudget, prefixCache: prefixCache, progress: progress)
            } catch {
                throw EnvelopeRejection.invalidPayload("the pruned model cannot be measured: \(error.message)")
            }
            let skipped = (prefixCache?.counters.blocksSkipped ?? 0) - skippedBefore
            return Measurement(nll: result.nll, perplexity: result.perplexity, tokensCounted: result.tokensCounted,
                               achievedRatio: achieved, seconds: Date().timeIntervalSince(started),
                               blocksSkippedPerWindow: Double(skipped) / Double(max(1, result.windows)))
        }
    }

    /// The metric's importance profile when this process has not stored it
    /// yet (the predictor's plan-derived features), else nil. Computed once,
    /// from the same plan builder the measurements use.
    public func profileToStore(metric: MetricKind, modelId: String) async throws -> ImportanceProfile? {
        guard !storedProfiles.contains(metric) else { return nil }
        if let profile = profiles[metric] { return profile }
        let session = try await session(for: metric)
        let profile = try await queue.run { try ImportanceProfile(builder: session.builder, modelId: modelId) }
        profiles[metric] = profile
        return profile
    }

    /// Records that the metric's profile is stored.
    public func profileStored(metric: MetricKind) {
        storedProfiles.insert(metric)
    }

    // MARK: - Building served models (model-host)

    /// The pruned model of a stored plan, and the seconds it took to build.
    ///
    /// Plans are applied as stored (PlanApplication, a pure function of the
    /// dense weights); a plan that compensates biases (FLAP) needs the
    /// calibration statistics it names, read from the shared cache (or
    /// collected once) and kept in memory for the next build.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the plan cannot
    ///   be served by this base model (another checkpoint, another block count,
    ///   a malformed plan, statistics that cannot be had).
    public func build(_ record: PlanRecord) async throws -> (model: LlamaModel, seconds: Double) {
        let started = Date()
        let id = record.id.uuidString.lowercased()
        let plan: PruningPlan
        do {
            plan = try MessageCoding.decoder().decode(PruningPlan.self, from: Data(record.plan.utf8))
        } catch {
            throw EnvelopeRejection.invalidPayload("plan \(id) is not a readable plan: \(error)")
        }
        guard plan.schemaVersion == PruningPlan.currentSchemaVersion else {
            throw EnvelopeRejection.invalidPayload("plan \(id) has schema version \(plan.schemaVersion); this build applies \(PruningPlan.currentSchemaVersion)")
        }
        guard plan.layers.count == blockCount else {
            throw EnvelopeRejection.invalidPayload("plan \(id) has \(plan.layers.count) layers but '\(record.modelId)' has \(blockCount) blocks")
        }
        let served = try await checksum()
        guard plan.model.checksum == served else {
            throw EnvelopeRejection.invalidPayload("plan \(id) was made for checkpoint \(plan.model.name) (sha256 \(plan.model.checksum.prefix(16))…), not the one served (sha256 \(served.prefix(16))…)")
        }
        let compensates = plan.layers.contains { $0.compensatesAttentionBias || $0.compensatesMLPBias }
        var needed: CalibrationStatistics?
        if compensates { needed = try await statistics(for: plan, id: id) }
        let weights = checkpoint.model.weights, statistics = needed
        let model = try await queue.run { () throws -> LlamaModel in
            // A test can hold the process here and SIGKILL it mid-swap (requests keep being answered meanwhile).
            FaultInjection.holdIfRequested(at: FaultInjection.duringPlanBuild)
            do {
                return try LlamaModel(weights: try PlanApplication.apply(plan, to: weights, statistics: statistics))
            } catch let error as PruningError {
                throw EnvelopeRejection.invalidPayload("plan \(id) cannot be applied: \(error.message)")
            } catch let error as ModelError {
                throw EnvelopeRejection.invalidPayload("the pruned model of plan \(id) is invalid: \(error.message)")
            }
        }
        return (model, Date().timeIntervalSince(started))
    }

    /// The calibration statistics `plan` was made with.
    private func statistics(for plan: PruningPlan, id: String) async throws -> CalibrationStatistics {
        guard let spec = plan.biasCompensation?.calibration ?? plan.calibration else {
            throw EnvelopeRejection.invalidPayload("plan \(id) compensates biases but names no calibration")
        }
        if let known = statistics[spec] { return known }
        let checkpoint = checkpoint, corpus = corpus, cache = cache
        let collected = try await queue.run { () throws -> CalibrationStatistics in
            do throws(PruningError) {
                return try Calibration.statistics(checkpoint: checkpoint, corpus: corpus, spec: spec, cache: cache)
            } catch {
                throw EnvelopeRejection.invalidPayload("plan \(id) needs calibration statistics (\(spec.label)) that cannot be had: \(error.message)")
            }
        }
        if let expected = plan.biasCompensation?.corpusChecksum, expected != collected.corpusChecksum {
            throw EnvelopeRejection.invalidPayload("plan \(id) was calibrated on another corpus (sha256 \(expected.prefix(16))…) than this host reads (\(collected.corpusChecksum.prefix(16))…)")
        }
        statistics[spec] = collected
        return collected
    }
}
