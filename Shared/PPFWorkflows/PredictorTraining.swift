import Foundation
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - PredictorTraining

/// Asking the predictor service to train now, and waiting for the version
/// that command trains: how `ppf bootstrap` and `ppf agent refine` retrain.
public enum PredictorTraining {
    /// How often PostgreSQL is asked.
    public static let pollInterval: Duration = .seconds(2)

    /// Asks the predictor service to train `modelId` now (a command through the outbox, published at once).
    /// - Returns: the command's correlation id, which the version it trains (or
    ///   the audit entry saying why it did not) carries.
    public static func request(context: ServiceContext, modelId: String, requestedBy: String) async throws -> UUID {
        let command = try PredictorCommand(modelId: modelId, action: .train, requestedBy: requestedBy)
        let envelope = Envelope(correlationId: UUID(), producer: context.producerName, payload: command)
        try await context.pool.withTransaction { connection in
            try await context.enqueue(envelope, topic: Topic.predictorCommands, key: modelId, on: connection)
        }
        _ = try await context.makeOutboxRelay().publishPending()
        return envelope.correlationId
    }

    /// Requests a training and waits for its version, telling `log` each step and describing the version.
    @discardableResult
    public static func trainAndWait(context: ServiceContext, modelId: String, requestedBy: String,
                                    log: (String) -> Void) async throws -> PredictorVersionRecord {
        let command = try await request(context: context, modelId: modelId, requestedBy: requestedBy)
        log("asked the predictor service to train '\(modelId)'")
        log("waiting for the predictor service to train…")
        let version = try await waitForVersion(pool: context.pool, modelId: modelId, command: command)
        log(describe(version))
        return version
    }

    /// Waits for the predictor version trained by the train command whose
    /// correlation id is `command`, or for the service to record why it
    /// skipped that training, and returns it.
    ///
    /// Matching on the command, not on "any newer version", matters: while
    /// the measurements arrive the service may retrain on its own
    /// (`PPF_PREDICTOR_RETRAIN_AFTER`) on part of them, and that version is
    /// not the one asked for.
    /// - Returns: the version.
    /// - Throws: ``WorkflowError`` with the service's reason when it skipped the training, or on timeout.
    public static func waitForVersion(pool: PGPool, modelId: String, command: UUID,
                                      timeout: Duration = .seconds(600)) async throws -> PredictorVersionRecord {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < timeout {
            let outcome = try await pool.withConnection { connection -> PredictorVersionRecord? in
                if let version = try await PredictorVersionRepository.find(trainedByCommand: command, modelId: modelId,
                                                                            on: connection) {
                    return version
                }
                if let skipped = try await AuditLog.latestDetail("reason", action: PredictorTrainer.trainingSkippedAction,
                                                                 correlationId: command, on: connection),
                   let reason = skipped {
                    throw WorkflowError("the predictor service did not train: \(reason)")
                }
                return nil
            }
            if let outcome { return outcome }
            try await Task.sleep(for: pollInterval)
        }
        throw WorkflowError("no predictor version after \(timeout); is the predictor service running? (`ppf status`)")
    }

    /// One paragraph about a stored version.
    public static func describe(_ version: PredictorVersionRecord) -> String {
        var text = "predictor version \(version.id.uuidString.lowercased()): \(version.sampleCount) policies, "
            + String(format: "trained in %.1f s", version.trainingSeconds)
        if let heldOut = version.heldOut {
            text += String(format: "\n  held out (%d policies): Kendall τ %.3f · Spearman ρ %.3f · MAE %.3f · MAPE %.2f %% · RMSE(log) %.4f",
                           heldOut.count, heldOut.kendallTau, heldOut.spearman, heldOut.mae, 100 * heldOut.mape,
                           heldOut.rmseLog)
        } else {
            text += "\n  (too few policies to hold any out)"
        }
        return text + "\n  details: `ppf predictor report`"
    }
}
