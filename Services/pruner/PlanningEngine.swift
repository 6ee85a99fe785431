import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime

// MARK: - PlanningEngine

/// The base model held in memory with one ``PruningSession`` per importance
/// metric (scores computed once; calibration statistics read from the cache
/// or collected on first use), so a plan takes milliseconds.
///
/// Everything that touches BLAS or the file system runs on one
/// ``BlockingQueue``, never on the cooperative pool.
actor PlanningEngine {
    /// The dense base model.
    nonisolated let checkpoint: LlamaCheckpoint
    /// Its GGUF metadata (tokenizer, `general.*`), carried into exports.
    nonisolated let sourceMetadata: GGUFMetadata
    /// Blocks of the base model; a policy must have one entry per block.
    nonisolated var blockCount: Int { checkpoint.model.configuration.blockCount }

    private let corpus: Corpus
    private let cache: CalibrationCache
    private let queue: BlockingQueue
    private var sessions: [MetricKind: PruningSession] = [:]

    private init(checkpoint: LlamaCheckpoint, sourceMetadata: GGUFMetadata, corpus: Corpus, cache: CalibrationCache,
                 queue: BlockingQueue) {
        self.checkpoint = checkpoint
        self.sourceMetadata = sourceMetadata
        self.corpus = corpus
        self.cache = cache
        self.queue = queue
    }

    /// Loads the checkpoint at `url` on `queue`.
    /// - Throws: `ModelError` `.io` when the file is missing, or what loading the GGUF throws.
    static func load(url: URL, corpus: Corpus, cache: CalibrationCache, queue: BlockingQueue) async throws -> PlanningEngine {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.io, "no model at \(url.path); run `make setup`, or set PPF_MODEL_DIR / PPF_MODEL_FILE")
        }
        let (checkpoint, metadata) = try await queue.run {
            (try LlamaCheckpoint.load(contentsOf: url), try GGUFFile.open(url).metadata)
        }
        return PlanningEngine(checkpoint: checkpoint, sourceMetadata: metadata, corpus: corpus, cache: cache, queue: queue)
    }

    /// The calibration every plan of this model uses: the default 32 windows
    /// of 512 tokens, or of the context length when the model's is shorter.
    /// Plans record it, so model-host recomputes (or reads) the same statistics.
    nonisolated var calibration: CalibrationSpec {
        CalibrationSpec(windowLength: min(CalibrationSpec().windowLength, checkpoint.model.configuration.contextLength))
    }

    /// The plan of `policy` under `metric`.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the policy cannot
    ///   be planned (the same policy would fail the same way again); other
    ///   errors (calibration I/O, a missing corpus) are the environment's.
    func plan(_ policy: PruningPolicy, metric: MetricKind) async throws -> PruningPlan {
        let session = try await session(for: metric)
        return try await queue.run { () throws -> PruningPlan in
            // A test can hold the process here and SIGKILL it mid-planning (nothing is stored yet).
            FaultInjection.holdIfRequested(at: FaultInjection.duringPlanning)
            do throws(PruningError) {
                // No target check here: the policy's author computed its achieved ratio;
                // the handler compares the two and logs a disagreement.
                return try session.plan(policy, targetRatio: nil)
            } catch {
                throw EnvelopeRejection.invalidPayload("the policy cannot be planned under \(metric.rawValue): \(error.message)")
            }
        }
    }

    /// Applies `plan` and writes the pruned model to `url` as GGUF (F16, `llama`
    /// or `deci` as the shapes require), with the plan id in its `ppf.*` keys.
    /// - Throws: `PruningError` or `ExportError`; no file is left behind on failure.
    func export(_ plan: PruningPlan, metric: MetricKind, planId: UUID, to url: URL) async throws -> GGUFExportSummary {
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

    // MARK: - Sessions

    /// The metric's session, prepared on first use (calibrating, or reading the cache, when the metric needs it).
    private func session(for metric: MetricKind) async throws -> PruningSession {
        if let session = sessions[metric] { return session }
        let checkpoint = checkpoint, corpus = corpus, cache = cache, calibration = calibration
        let session = try await queue.run {
            try PruningSession.prepare(checkpoint: checkpoint, corpus: corpus, metric: metric,
                                       calibration: calibration, cache: cache)
        }
        sessions[metric] = session
        return session
    }
}
