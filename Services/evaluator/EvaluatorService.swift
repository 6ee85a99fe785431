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
struct EvaluatorService: PPFService {
    let name = "evaluations"
    let context: ServiceContext
    let status: ServiceStatus

    func run() async throws {
        let settings = context.settings
        let engine = try await BaseModelEngine.load(for: context, status: status, queue: BlockingQueue(label: "ppf.evaluator.engine"))
        status.set(activity: "idle")

        let handler = EvaluationHandler(context: context, engine: engine, status: status)
        let consumer = EnvelopeConsumerService<EvaluationRequest>(
            context: context, groupId: settings.consumerGroupPrefix + "evaluators", topic: Topic.evaluationRequests
        ) { envelope, _ in
            try await handler.handle(envelope)
        }
        try await consumer.run()
    }
}
