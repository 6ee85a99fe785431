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
    /// - Throws: ``WorkflowError`` on timeout (the requests stay queued; rerun to resume).
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
                throw WorkflowError("timed out with \(done)/\(total) measured; the requests stay queued — rerun `ppf bootstrap` to resume")
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
}
