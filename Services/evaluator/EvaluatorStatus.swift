import Foundation
import Logging
import PPFModel

// MARK: - EvaluatorStatus

/// What this evaluator is doing, for heartbeats: the model it serves and the
/// request in hand with its progress. Written by the handler and the
/// progress reporter, read by the heartbeat task.
final class EvaluatorStatus: @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var modelId = ""
    private var activity = "starting"
    private var progress = ""
    private var measured = 0

    /// Heartbeat fields: `model`, `activity`, `progress` (while measuring), `measured`.
    var details: [String: String] {
        lock.withLock {
            var fields = ["model": modelId, "activity": activity, "measured": String(measured)]
            if !progress.isEmpty { fields["progress"] = progress }
            return fields
        }
    }

    /// Names the served model.
    func serve(modelId: String) { lock.withLock { self.modelId = modelId } }

    /// Sets the current activity and clears the progress.
    func set(activity: String) {
        lock.withLock {
            self.activity = activity
            progress = ""
        }
    }

    /// Sets the progress of the current measurement.
    func set(progress: String) { lock.withLock { self.progress = progress } }

    /// Counts one stored measurement.
    func countMeasurement() { lock.withLock { measured += 1 } }
}

// MARK: - StatusProgress

/// Reports a measurement's windows to the heartbeat status, and to the log
/// at most every few seconds (a long budget would otherwise flood it).
final class StatusProgress: ProgressReporter, @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; the rest is immutable.
    private let lock = NSLock()
    private let status: EvaluatorStatus
    private let logger: Logger
    private let label: String
    private let logInterval: TimeInterval
    private var total = 0
    private var unit = ""
    private var lastLogged = Date()

    /// Reports for the measurement named `label` (e.g. its request id).
    init(status: EvaluatorStatus, logger: Logger, label: String, logInterval: TimeInterval = 5) {
        self.status = status
        self.logger = logger
        self.label = label
        self.logInterval = logInterval
    }

    func start(total: Int, unit: String) {
        lock.withLock {
            self.total = total
            self.unit = unit
            lastLogged = Date()
        }
        status.set(progress: "0/\(total) \(unit)")
    }

    func update(completed: Int, detail: String) {
        let (line, due) = lock.withLock { () -> (String, Bool) in
            let line = "\(completed)/\(total) \(unit), \(detail)"
            let due = Date().timeIntervalSince(lastLogged) >= logInterval
            if due { lastLogged = Date() }
            return (line, due)
        }
        status.set(progress: line)
        if due { logger.info("request \(label): \(line)") }
    }

    func finish() {}
}
