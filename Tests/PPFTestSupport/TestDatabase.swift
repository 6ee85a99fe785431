import Foundation
import Logging
import PPFStore

/// The database the database-backed unit tests use: `PPF_POSTGRES_URL`, or the local stack.
public enum TestDatabase {
    /// The local stack's database.
    public static let defaultURL = "postgresql://ppf@127.0.0.1:55432/ppf"

    /// `PPF_POSTGRES_URL`, or ``defaultURL``.
    public static func configuration() throws -> PostgresConfiguration {
        let url = ProcessInfo.processInfo.environment["PPF_POSTGRES_URL"] ?? defaultURL
        var configuration = try PostgresConfiguration(url: url)
        configuration.applicationName = "ppf-store-tests"
        configuration.connectTimeout = .seconds(3)
        return configuration
    }

    /// A connection without retries; fails the test with instructions when PostgreSQL is down.
    public static func connect(_ configuration: PostgresConfiguration, logger: Logger = quietLogger) async throws -> PGConnection {
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
    public static func withSchema<Value: Sendable>(
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
public struct TestSchema: Sendable {
    /// The schema's name, `t_<uuid>`.
    public let name: String
    /// Connects with the schema as `search_path`.
    public let configuration: PostgresConfiguration
    /// A pool on the schema.
    public let pool: PGPool

    /// A separate connection on the schema (not from the pool).
    public func connect() async throws -> PGConnection {
        try await TestDatabase.connect(configuration)
    }

    /// Whether a table exists in this schema.
    public func tableExists(_ table: String, on connection: PGConnection) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT count(*) FROM information_schema.tables WHERE table_schema = \(name) AND table_name = \(table)
            """)
        return try rows[0].decode(Int.self, column: 0) == 1
    }
}

/// A logger that drops everything, for tests whose log lines are noise.
public let quietLogger: Logger = {
    var logger = Logger(label: "ppf.store.tests", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    return logger
}()
