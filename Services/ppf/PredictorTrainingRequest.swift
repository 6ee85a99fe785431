import Foundation
import PPFContracts
import PPFRuntime
import PPFWorkflows
import PPFStore

/// The predictor service's train command, as `ppf bootstrap` and
/// `ppf agent refine` send it.
enum PredictorTrainingRequest {
    /// Asks the predictor service to train `modelId` now (a command through the outbox).
    /// - Returns: the command's correlation id, which the version it trains (or
    ///   the audit entry saying why it did not) carries.
    static func send(context: ServiceContext, modelId: String, requestedBy: String) async throws -> UUID {
        let command = try PredictorCommand(modelId: modelId, action: .train, requestedBy: requestedBy)
        let envelope = Envelope(correlationId: UUID(), producer: context.producerName, payload: command)
        try await context.pool.withTransaction { connection in
            try await context.enqueue(envelope, topic: Topic.predictorCommands, key: modelId, on: connection)
        }
        _ = try await context.makeOutboxRelay().publishPending()
        print("asked the predictor service to train '\(modelId)'")
        return envelope.correlationId
    }
}
