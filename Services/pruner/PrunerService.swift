import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFWorkflows

// MARK: - PrunerService

/// Loads the base model, reconciles from PostgreSQL (every published policy
/// without a plan gets one), then consumes ``PolicyPublished`` in the group
/// `<prefix>pruner`: pruners scaled out share the topic's partitions, and
/// the unique ratio event of a plan keeps their work from overlapping.
/// Meanwhile it reconciles every ``Settings/reconcileSeconds``, for
/// announcements a restarted broker lost.
struct PrunerService: PPFService {
    let name = "policies"
    let context: ServiceContext
    let status: ServiceStatus

    func run() async throws {
        let settings = context.settings
        // A typo in the default metric should stop the start, not each reconciliation later.
        _ = try MetricKind(named: settings.prunerDefaultMetric)
        let engine = try await BaseModelEngine.load(for: context, status: status, queue: BlockingQueue(label: "ppf.pruner.engine"))
        status.set(activity: "reconciling")

        let planner = PolicyPlanner(context: context, engine: engine, status: status)
        try await planner.reconcile()
        status.set(activity: "idle")
        let consumer = EnvelopeConsumerService<PolicyPublished>(
            context: context, groupId: settings.consumerGroupPrefix + "pruner", topic: Topic.prunedPolicies
        ) { envelope, _ in
            try await planner.handle(envelope)
        }
        let age = settings.reconcileSeconds
        let periodic = PeriodicReconciliation(name: "plan reconciliation", context: context) {
            try await planner.reconcile(olderThan: age)
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
