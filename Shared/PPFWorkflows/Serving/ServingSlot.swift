import Foundation
import PPFContracts
import PPFModel
import PPFStore

// MARK: - ServedModel

/// One model version ready to answer: the weights in memory and where they came from.
/// Immutable, so a request holding one keeps a consistent model whatever is swapped in meanwhile.
public struct ServedModel: Sendable {
    /// ``ModelVersion/dense`` or the plan id; every reply names it.
    public let version: String
    /// The model requests run on.
    public let model: LlamaModel
    /// The plan it was built from; nil for the dense model.
    public let plan: PlanRecord?
    /// Seconds spent building it (0 for the dense model, which is the base itself).
    public let buildSeconds: Double

    /// Creates the value from its parts.
    public init(version: String, model: LlamaModel, plan: PlanRecord?, buildSeconds: Double) {
        self.version = version
        self.model = model
        self.plan = plan
        self.buildSeconds = buildSeconds
    }

    /// The plan's id, if pruned.
    public var planId: UUID? { plan?.id }

    /// The base model, unpruned.
    public static func dense(_ model: LlamaModel) -> ServedModel {
        ServedModel(version: ModelVersion.dense, model: model, plan: nil, buildSeconds: 0)
    }
}

extension ServedModel {
    /// The pruned model of a stored plan, built by `engine` (off the serving queue).
    /// - Throws: ``EnvelopeRejection`` for a plan this base model cannot serve.
    public init(_ record: PlanRecord, builtBy engine: BaseModelEngine) async throws {
        let built = try await engine.build(record)
        self.init(version: ModelVersion.plan(record.id), model: built.model, plan: record, buildSeconds: built.seconds)
    }
}

// MARK: - ServingSlot

/// The model version new requests get: a reference swapped atomically.
///
/// The hot swap in one sentence: a request takes ``current`` once, when it
/// starts, and runs to the end on that ``ServedModel`` (an immutable value
/// holding its own reference to the weights), while ``swap(to:)`` only
/// replaces the reference. So a request in flight finishes on the old model,
/// every request that starts after the swap uses the new one, none waits
/// for a build, and the old weights are freed when the last request holding
/// them finishes.
public final class ServingSlot: @unchecked Sendable {
    // @unchecked: `served` and `swaps` are guarded by `lock`.
    private let lock = NSLock()
    private var served: ServedModel
    private var swaps = 0

    /// A slot serving `initial` (the version the instance starts with; swap 0).
    public init(serving initial: ServedModel) {
        served = initial
    }

    /// The version serving now.
    public var current: ServedModel { lock.withLock { served } }

    /// Swaps made since start.
    public var swapCount: Int { lock.withLock { swaps } }

    /// Makes `next` the version new requests get.
    /// - Returns: the swap's number (1 for the first swap after start).
    public func swap(to next: ServedModel) -> Int {
        lock.withLock {
            served = next
            swaps += 1
            return swaps
        }
    }

    /// Makes `next` the version new requests get, unless its plan is serving
    /// already or a newer plan is (checked and swapped under one lock, so two
    /// builders of the same plan swap it in once).
    /// - Returns: the swap's number, or nil when nothing was swapped.
    public func swapIfNewer(to next: ServedModel) -> Int? {
        lock.withLock {
            if served.planId == next.planId { return nil }
            if let serving = served.plan, let candidate = next.plan, candidate.createdAt < serving.createdAt { return nil }
            served = next
            swaps += 1
            return swaps
        }
    }
}
