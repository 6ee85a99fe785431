import Foundation
import Logging
import PPFTestSupport
import Testing
@testable import PPFStore

/// Records an issue unless `condition` comes to hold within `limit`.
func expectEventually(
    within limit: Duration = .seconds(10),
    _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let held = try await eventually(within: limit, condition)
    #expect(held, comment, sourceLocation: sourceLocation)
}

// MARK: - Logging

/// Keeps every message logged through it, for tests that check what was logged.
final class LogRecorder: @unchecked Sendable {
    // @unchecked: `entries` is guarded by `lock`.
    private let lock = NSLock()
    private var entries: [(Logger.Level, String)] = []

    func record(_ level: Logger.Level, _ message: String) {
        lock.withLock { entries.append((level, message)) }
    }

    var messages: [String] { lock.withLock { entries.map(\.1) } }

    func messages(at level: Logger.Level) -> [String] {
        lock.withLock { entries.filter { $0.0 == level }.map(\.1) }
    }

    var logger: Logger {
        var logger = Logger(label: "ppf.store.tests.recorded") { _ in RecordingLogHandler(recorder: self) }
        logger.logLevel = .debug
        return logger
    }
}

struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    func log(event: LogEvent) {
        recorder.record(event.level, event.message.description)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
