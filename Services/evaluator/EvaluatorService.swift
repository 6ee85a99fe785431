import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows

// MARK: - EvaluatorService

/// Loads the base model, then consumes evaluation requests in the shared
/// group `<prefix>evaluators`: every instance joins the same group, so the
/// topic's partitions (requests are keyed by policy id) are spread over them.
/// The model loads before the group is joined, so an instance never holds
/// partitions it cannot serve yet; heartbeats say "loading model" meanwhile.
/// Every ``Settings/reconcileSeconds`` while idle, it announces again the
/// requests a restarted broker lost (``LostRequestReconciler``).
struct EvaluatorService: PPFService {
    let name = "evaluations"
    let context: ServiceContext
    let status: ServiceStatus

    func run() async throws {
        let settings = context.settings
        let engine = try await BaseModelEngine.load(for: context, status: status, queue: BlockingQueue(label: "ppf.evaluator.engine"))
        status.set(activity: "idle")

        let handler = EvaluationHandler(context: context, engine: engine, status: status)
        let work = WorkInHand()
        let consumer = EnvelopeConsumerService<EvaluationRequest>(
            context: context, groupId: settings.consumerGroupPrefix + "evaluators", topic: Topic.evaluationRequests
        ) { envelope, _ in
            try await work.holding { try await handler.handle(envelope) }
        }
        let reconciler = LostRequestReconciler(context: context, work: work)
        let periodic = PeriodicReconciliation(name: "evaluation request reconciliation", context: context) {
            try await reconciler.reconcile()
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await consumer.run() }
            tasks.addTask { try await periodic.run() }
            // Either one ending (cancelled at shutdown, or failing) ends the other.
            try await tasks.next()
            tasks.cancelAll()
        }
    }
}
