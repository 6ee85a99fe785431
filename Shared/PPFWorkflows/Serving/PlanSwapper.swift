import Foundation
import Logging
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - PlanSwapper

/// Follows ``PlanPublished`` for this deployment: builds each newer plan's
/// pruned model off the serving path and swaps it in (``ServingSlot``), then
/// records the version in `model_versions` and announces a
/// ``ModelHostStatus`` (outbox, one transaction).
///
/// Why plans and not policies: the plan is the concrete, stored artifact
/// (kept indices, computed once by the pruner from the calibration), so
/// every host serves exactly the row a version id names, a restart restores
/// the same row, and hosts neither score importance nor judge policies; a
/// policy the pruner rejected never reaches them.
public struct PlanSwapper: Sendable {
    public let context: ServiceContext
    public let base: BaseModelEngine
    public let slot: ServingSlot
    public let board: ServiceStatus

    /// Creates the value from its parts.
    public init(context: ServiceContext, base: BaseModelEngine, slot: ServingSlot, board: ServiceStatus) {
        self.context = context
        self.base = base
        self.slot = slot
        self.board = board
    }

    private var logger: Logger { context.logger }
    private var modelId: String { context.settings.modelId }

    /// Swaps to the announced plan if it is this deployment's and newer than the one serving.
    /// - Throws: ``EnvelopeRejection`` for a plan this host cannot serve
    ///   (dead-lettered; the current version keeps serving); other errors are retried.
    public func handle(_ envelope: Envelope<PlanPublished>) async throws {
        let announced = envelope.payload
        try announced.validate()
        let id = announced.planId.uuidString.lowercased()
        guard announced.modelId == modelId else {
            logger.debug("ignoring plan \(id) of deployment '\(announced.modelId)'")
            return
        }
        guard announced.layers.count == base.blockCount else {
            throw EnvelopeRejection.invalidPayload("the plan has \(announced.layers.count) layers but '\(modelId)' has \(base.blockCount) blocks")
        }
        let current = slot.current
        if current.planId == announced.planId {
            logger.info("plan \(id) is already serving")
            // A redelivery after a failed record: make sure the table says so.
            try await record(current, swapNumber: slot.swapCount, onlyIfMissing: true)
            return
        }
        guard let row = try await context.pool.withConnection({ try await PlanRepository.find(id: announced.planId, on: $0) }) else {
            throw EnvelopeRejection.invalidPayload("no plans row for plan \(id); the pruner stores the row with its announcement (outbox)")
        }
        guard row.modelId == modelId else {
            throw EnvelopeRejection.invalidPayload("plan \(id) is stored for '\(row.modelId)', not '\(modelId)'")
        }
        try await swap(to: row)
    }

    /// A periodic pass: swaps to the deployment's newest stored plan when it
    /// is at least `seconds` old and not serving — its announcement never
    /// arrived (a restarted broker forgets the messages in flight).
    public func catchUp(olderThan seconds: Double) async throws {
        guard let newest = try await context.pool.withConnection({
            try await PlanRepository.latest(modelId: modelId, on: $0)
        }) else { return }
        let current = slot.current
        guard newest.id != current.planId, Date().timeIntervalSince(newest.createdAt) >= seconds else { return }
        if let serving = current.plan, newest.createdAt < serving.createdAt { return }
        logger.info("plan \(newest.id.uuidString.lowercased()) is the newest stored plan of '\(modelId)' but no announcement of it arrived; swapping to it")
        do {
            try await swap(to: newest)
        } catch let rejection as EnvelopeRejection {
            logger.error("cannot serve plan \(newest.id.uuidString.lowercased()); \(current.version) keeps serving: \(rejection)")
        }
    }

    /// Builds `row` off the serving path and swaps it in, unless it is older
    /// than the plan serving (or was swapped in meanwhile by another pass).
    private func swap(to row: PlanRecord) async throws {
        let id = row.id.uuidString.lowercased()
        let current = slot.current
        if let serving = current.plan, row.createdAt < serving.createdAt {
            logger.info("skipping plan \(id): it is older than plan \(ModelVersion.plan(serving.id)), which is serving")
            return
        }
        board.set(activity: "building plan \(id)")
        defer { board.set(activity: "serving") }
        let built = try await ServedModel(row, builtBy: base)
        guard let number = slot.swapIfNewer(to: built) else {
            logger.info("plan \(id) was built, but it or a newer plan was swapped in meanwhile; discarding this build")
            return
        }
        logger.info("swapped to plan \(id) (swap \(number), achieved ratio \(String(format: "%.4f", row.achievedRatio)), built in \(String(format: "%.3f", built.buildSeconds)) s off the serving path); requests in flight finish on \(current.version)")
        try await record(built, swapNumber: number, onlyIfMissing: false)
    }

    /// Records that `served` is serving: a `model_versions` row (closing the
    /// previous one) and its ``ModelHostStatus``, in one transaction.
    /// - Parameter onlyIfMissing: write only if the table does not say so yet (redeliveries).
    public func record(_ served: ServedModel, swapNumber: Int, onlyIfMissing: Bool) async throws {
        let settings = context.settings
        let context = context
        try await context.pool.withTransaction { connection in
            if onlyIfMissing,
               try await ModelVersionRepository.current(modelId: settings.modelId, instanceId: settings.instanceId,
                                                        on: connection)?.version == served.version {
                return
            }
            let row = try await ModelVersionRepository.startServing(
                modelId: settings.modelId, instanceId: settings.instanceId, version: served.version,
                planId: served.planId, swapNumber: swapNumber, buildSeconds: served.buildSeconds, on: connection)
            let status = ModelHostStatus(
                instanceId: settings.instanceId, modelId: settings.modelId, modelVersion: served.version,
                planId: served.planId, policyId: served.plan?.policyId, ratioEventId: served.plan?.ratioEventId,
                achievedRatio: served.plan?.achievedRatio ?? 0, swapCount: swapNumber, buildSeconds: served.buildSeconds,
                servingSince: row.servedFrom)
            let envelope = Envelope(correlationId: served.plan?.ratioEventId ?? UUID(), producer: context.producerName,
                                    payload: status)
            try await context.enqueue(envelope, topic: Topic.modelHostStatus, key: settings.instanceId, on: connection)
        }
        board.set("version", to: served.version)
        board.set("swaps", to: String(swapNumber))
    }
}
