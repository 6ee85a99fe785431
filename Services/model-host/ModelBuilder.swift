import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore

// MARK: - BaseModel

/// The dense base model model-host loads once, and the checksum plans must name.
struct BaseModel: Sendable {
    /// The checkpoint (model and tokenizer).
    let checkpoint: LlamaCheckpoint
    /// SHA-256 of the checkpoint file; a plan made for another file is refused.
    let checksum: String

    /// Blocks of the dense model.
    var blockCount: Int { checkpoint.model.configuration.blockCount }

    /// Loads and fingerprints the checkpoint at `url` on `queue`.
    /// - Throws: `ModelError` `.io` when the file is missing, or what loading the GGUF throws.
    static func load(url: URL, queue: BlockingQueue) async throws -> BaseModel {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelError(.io, "no model at \(url.path); run `make setup`, or set PPF_MODEL_DIR / PPF_MODEL_FILE")
        }
        return try await queue.run {
            BaseModel(checkpoint: try LlamaCheckpoint.load(contentsOf: url), checksum: try SHA256.hex(ofFileAt: url))
        }
    }
}

// MARK: - ModelBuilder

/// Builds the pruned model of a stored plan, off the serving path: on its own
/// ``BlockingQueue``, while requests keep running on the serving one.
///
/// Plans are applied as stored (PlanApplication, a pure function of the dense
/// weights); a plan that compensates biases (FLAP) needs the calibration
/// statistics it names, read from the shared cache (or collected once) and
/// kept in memory for the next swap.
actor ModelBuilder {
    private let base: BaseModel
    private let corpus: Corpus
    private let cache: CalibrationCache
    private let queue: BlockingQueue
    private var statistics: [CalibrationSpec: CalibrationStatistics] = [:]

    /// A builder from `base`; `queue` must not be the serving queue.
    init(base: BaseModel, corpus: Corpus, cache: CalibrationCache, queue: BlockingQueue) {
        self.base = base
        self.corpus = corpus
        self.cache = cache
        self.queue = queue
    }

    /// The pruned model of `record`.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)`` when the plan cannot
    ///   be served by this base model (another checkpoint, another block count,
    ///   a malformed plan, statistics that cannot be had); the caller keeps
    ///   serving what it serves.
    func build(_ record: PlanRecord) async throws -> ServedModel {
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
        guard plan.layers.count == base.blockCount else {
            throw EnvelopeRejection.invalidPayload("plan \(id) has \(plan.layers.count) layers but '\(record.modelId)' has \(base.blockCount) blocks")
        }
        guard plan.model.checksum == base.checksum else {
            throw EnvelopeRejection.invalidPayload("plan \(id) was made for checkpoint \(plan.model.name) (sha256 \(plan.model.checksum.prefix(16))…), not the one served (sha256 \(base.checksum.prefix(16))…)")
        }
        let compensates = plan.layers.contains { $0.compensatesAttentionBias || $0.compensatesMLPBias }
        var needed: CalibrationStatistics?
        if compensates { needed = try await statistics(for: plan, id: id) }
        let weights = base.checkpoint.model.weights, statistics = needed
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
        return ServedModel(version: ModelVersion.plan(record.id), model: model, plan: record,
                           buildSeconds: Date().timeIntervalSince(started))
    }

    /// The calibration statistics `plan` was made with.
    private func statistics(for plan: PruningPlan, id: String) async throws -> CalibrationStatistics {
        guard let spec = plan.biasCompensation?.calibration ?? plan.calibration else {
            throw EnvelopeRejection.invalidPayload("plan \(id) compensates biases but names no calibration")
        }
        if let known = statistics[spec] { return known }
        let checkpoint = base.checkpoint, corpus = corpus, cache = cache
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
