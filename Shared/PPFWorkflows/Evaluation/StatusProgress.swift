import Foundation
import Logging
import PPFModel
import PPFRuntime

// MARK: - StatusProgress

/// Reports a measurement's windows to the heartbeat status, and to the log
/// at most every few seconds (a long budget would otherwise flood it).
public final class StatusProgress: ProgressReporter, @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`; the rest is immutable.
    private let lock = NSLock()
    private let status: ServiceStatus
    private let logger: Logger
    private let label: String
    private let logInterval: TimeInterval
    private var total = 0
    private var unit = ""
    private var lastLogged = Date()

    /// Reports for the measurement named `label` (e.g. its request id).
    public init(status: ServiceStatus, logger: Logger, label: String, logInterval: TimeInterval = 5) {
        self.status = status
        self.logger = logger
        self.label = label
        self.logInterval = logInterval
    }

    public func start(total: Int, unit: String) {
        lock.withLock {
            self.total = total
            self.unit = unit
            lastLogged = Date()
        }
        status.set("progress", to: "0/\(total) \(unit)")
    }

    public func update(completed: Int, detail: String) {
        let (line, due) = lock.withLock { () -> (String, Bool) in
            let line = "\(completed)/\(total) \(unit), \(detail)"
            let due = Date().timeIntervalSince(lastLogged) >= logInterval
            if due { lastLogged = Date() }
            return (line, due)
        }
        status.set("progress", to: line)
        if due { logger.info("request \(label): \(line)") }
    }

    public func finish() {}
}
