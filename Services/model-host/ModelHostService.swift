import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows
import PPFStore

// MARK: - ModelHostService

/// Loads the base model, restores the newest plan of its deployment, then
/// serves two consumers side by side:
/// - inference requests in the group `<prefix>model-host.<model id>`: the
///   deployment's hosts share the requests (each answered by one host;
///   replies go to the reply topic, which every asker reads);
/// - plans in a group of its own, `<prefix>model-host.<model id>.<instance>`:
///   every host must see every plan to swap.
/// The model is ready before either group is joined, so a host never holds
/// requests it cannot answer yet; heartbeats say "loading model" meanwhile.
/// Every ``Settings/reconcileSeconds`` it also catches up with a newer stored
/// plan whose announcement a restarted broker lost.
struct ModelHostService: PPFService {
    let name = "model-host"
    let context: ServiceContext
    let board: ServiceStatus

    func run() async throws {
        let settings = context.settings
        let serving = BlockingQueue(label: "ppf.model-host.serve")
        // Builds run on the engine's own queue, so they never delay an answer on the serving one.
        let base = try await BaseModelEngine.load(for: context, status: board, queue: BlockingQueue(label: "ppf.model-host.build"))
        // Fingerprinted before serving: a plan made for another checkpoint is refused from the first one on.
        _ = try await base.checksum()

        let slot = ServingSlot(serving: try await restore(base: base))
        let swapper = PlanSwapper(context: context, base: base, slot: slot, board: board)
        try await swapper.record(slot.current, swapNumber: 0, onlyIfMissing: false)
        board.set(activity: "serving")
        context.logger.info("serving '\(settings.modelId)' as \(slot.current.version)")

        let responder = InferenceResponder(context: context, base: base, slot: slot, board: board, queue: serving)
        let group = settings.consumerGroupPrefix + "model-host.\(settings.modelId)"
        let requests = EnvelopeConsumerService<InferenceRequest>(
            context: context, groupId: group, topic: Topic.inferenceRequests
        ) { envelope, _ in
            try await responder.handle(envelope)
        }
        let plans = EnvelopeConsumerService<PlanPublished>(
            context: context, groupId: group + ".\(settings.instanceId)", topic: Topic.plans
        ) { envelope, _ in
            try await swapper.handle(envelope)
        }
        let age = settings.reconcileSeconds
        let catchUp = PeriodicReconciliation(name: "plan catch-up", context: context) {
            try await swapper.catchUp(olderThan: age)
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await requests.run() }
            tasks.addTask { try await plans.run() }
            tasks.addTask { try await catchUp.run() }
            // The first failure ends the others too (leaving the scope cancels them).
            for try await _ in tasks {}
        }
    }

    /// The version to start with: the newest plan of the deployment, or the
    /// dense model when there is none or it cannot be built (logged).
    private func restore(base: BaseModelEngine) async throws -> ServedModel {
        let modelId = context.settings.modelId
        guard let newest = try await context.pool.withConnection({ try await PlanRepository.latest(modelId: modelId, on: $0) }) else {
            return .dense(base.checkpoint.model)
        }
        let id = newest.id.uuidString.lowercased()
        board.set(activity: "restoring plan \(id)")
        do {
            let built = try await ServedModel(newest, builtBy: base)
            context.logger.info("restored the newest plan \(id) of '\(modelId)' (achieved ratio \(String(format: "%.4f", newest.achievedRatio)), built in \(String(format: "%.3f", built.buildSeconds)) s)")
            return built
        } catch let rejection as EnvelopeRejection {
            context.logger.error("cannot restore plan \(id); serving the dense model: \(rejection)")
            return .dense(base.checkpoint.model)
        }
    }
}
