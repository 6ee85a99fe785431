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
        let url = URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile)
        status.serve(modelId: settings.modelId)
        status.set(activity: "loading model")
        context.logger.info("loading model '\(settings.modelId)' from \(url.path)")
        let started = Date()
        let engine = try await BaseModelEngine.load(settings: settings, queue: BlockingQueue(label: "ppf.evaluator.engine"))
        context.logger.info("model '\(settings.modelId)' loaded in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: \(engine.blockCount) blocks")
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
