import Foundation
import PPFContracts
import PPFModel
import PPFRuntime
import PPFWorkflows
import PPFStore

/// Follows a bootstrap from Postgres (the system of record): measurements
/// of its requests as evaluators store them, then the predictor version.
struct BootstrapProgress {
    let context: ServiceContext
    let requestIds: [UUID]
    /// How often Postgres is asked; cheap (one indexed count).
    static let pollInterval: Duration = .seconds(2)

    /// Waits until every request has a measurement, drawing a progress bar
    /// with the rate and the evaluators seen; prints a line per 10 % when
    /// standard error is not a terminal.
    /// - Throws: ``UserFacingError`` on timeout (the requests stay queued; rerun to resume).
    func waitForAll(timeout: Duration) async throws {
        let total = requestIds.count
        let bar = TerminalProgressBar()
        let started = ContinuousClock.now
        var first: Int?
        var lastDecile = -1
        bar.start(total: total, unit: "measurements")
        defer { bar.finish() }
        while true {
            let (done, evaluators) = try await status()
            let baseline = first ?? done
            first = baseline
            let elapsed = Double((ContinuousClock.now - started).components.seconds)
            let rate = elapsed > 0 ? Double(done - baseline) / elapsed * 60 : 0
            bar.update(completed: done, detail: String(format: "%.1f/min from %d evaluator(s)", rate, evaluators))
            let decile = total > 0 ? 10 * done / total : 10
            if decile != lastDecile, !bar.isDrawing {
                print(String(format: "measured %d/%d (%.1f/min, %d evaluator(s))", done, total, rate, evaluators))
                lastDecile = decile
            }
            if done >= total { break }
            guard ContinuousClock.now - started < timeout else {
                throw UserFacingError("timed out with \(done)/\(total) measured; the requests stay queued — rerun `ppf bootstrap` to resume")
            }
            try await Task.sleep(for: Self.pollInterval)
        }
        let seconds = (ContinuousClock.now - started).components.seconds
        print("all \(total) requests measured (\(seconds) s waiting)")
    }

    /// Measured requests and how many distinct evaluators measured them.
    private func status() async throws -> (done: Int, evaluators: Int) {
        let ids = requestIds
        let progress = try await context.pool.withConnection { connection in
            try await MeasurementRepository.progress(requestIds: ids, on: connection)
        }
        return (progress.measured, progress.evaluators)
    }

    /// Waits for the predictor version trained by the train command whose
    /// correlation id is `command`, or for the service to record why it
    /// skipped that training, and prints the outcome.
    ///
    /// Matching on the command, not on "any newer version", matters: while
    /// the measurements arrive the service may retrain on its own
    /// (`PPF_PREDICTOR_RETRAIN_AFTER`) on part of them, and that version is
    /// not the one asked for.
    static func waitForPredictor(context: ServiceContext, modelId: String, command: UUID,
                                 timeout: Duration = .seconds(600)) async throws {
        let started = ContinuousClock.now
        print("waiting for the predictor service to train…")
        while ContinuousClock.now - started < timeout {
            let outcome = try await context.pool.withConnection { connection -> String? in
                if let version = try await PredictorVersionRepository.find(trainedByCommand: command, modelId: modelId,
                                                                            on: connection) {
                    return describe(version)
                }
                if let skipped = try await AuditLog.latestDetail("reason", action: "predictor.training-skipped",
                                                                 correlationId: command, on: connection),
                   let reason = skipped {
                    throw UserFacingError("the predictor service did not train: \(reason)")
                }
                return nil
            }
            if let outcome {
                print(outcome)
                return
            }
            try await Task.sleep(for: pollInterval)
        }
        throw UserFacingError("no predictor version after \(timeout); is the predictor service running? (`ppf status`)")
    }

    /// One paragraph about a stored version.
    static func describe(_ version: PredictorVersionRecord) -> String {
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
