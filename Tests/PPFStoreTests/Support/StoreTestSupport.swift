import Foundation
import Logging
import PPFTestSupport
import Testing
@testable import PPFStore

/// The database integration tests use: `PPF_POSTGRES_URL`, or the local stack.
enum TestDatabase {
    static let defaultURL = "postgresql://ppf@127.0.0.1:55432/ppf"

    static func configuration() throws -> PostgresConfiguration {
        let url = ProcessInfo.processInfo.environment["PPF_POSTGRES_URL"] ?? defaultURL
        var configuration = try PostgresConfiguration(url: url)
        configuration.applicationName = "ppf-store-tests"
        configuration.connectTimeout = .seconds(3)
        return configuration
    }

    /// A connection without retries; fails the test with instructions when PostgreSQL is down.
    static func connect(_ configuration: PostgresConfiguration, logger: Logger = quietLogger) async throws -> PGConnection {
        do {
            return try await PGConnection.connect(configuration, logger: logger)
        } catch let error as StoreError where error.code == .connectionFailure {
            throw TestSetupError("""
                PostgreSQL is not reachable at \(configuration.endpoint) (\(error.message)). \
                The integration tests need it: start it with `bash infra/stack.sh pg-up`, \
                or point PPF_POSTGRES_URL at one.
                """)
        }
    }

    /// Runs `body` against a fresh schema `t_<uuid>` (every connection of the
    /// test's pool has it as `search_path`), within `timeLimit`, and drops
    /// the schema afterwards whatever happened.
    static func withSchema<Value: Sendable>(
        timeLimit: Duration = .seconds(30),
        migrated: Bool = true,
        _ body: @escaping @Sendable (TestSchema) async throws -> Value
    ) async throws -> Value {
        let base = try configuration()
        let admin = try await connect(base)
        let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin.execute("CREATE SCHEMA \(identifier: name)")
        var configuration = base
        configuration.searchPath = [name]
        let schema = TestSchema(name: name, configuration: configuration,
                                pool: PGPool(configuration: configuration, size: 4, logger: quietLogger))
        do {
            if migrated {
                try await Migrator(logger: quietLogger).migrate(on: try await schema.connect())
            }
            let value = try await withTimeLimit(timeLimit) { try await body(schema) }
            await schema.pool.close()
            try await admin.execute("DROP SCHEMA \(identifier: name) CASCADE")
            return value
        } catch {
            await schema.pool.close()
            _ = try? await admin.execute("DROP SCHEMA \(identifier: name) CASCADE")
            throw error
        }
    }
}

/// One test's schema, its configuration and a pool on it.
struct TestSchema: Sendable {
    let name: String
    let configuration: PostgresConfiguration
    let pool: PGPool

    /// A separate connection on the schema (not from the pool).
    func connect() async throws -> PGConnection {
        try await TestDatabase.connect(configuration)
    }

    /// Whether a table exists in this schema.
    func tableExists(_ table: String, on connection: PGConnection) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT count(*) FROM information_schema.tables WHERE table_schema = \(name) AND table_name = \(table)
            """)
        return try rows[0].decode(Int.self, column: 0) == 1
    }
}

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

let quietLogger: Logger = {
    var logger = Logger(label: "ppf.store.tests", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()

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
