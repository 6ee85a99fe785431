import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport

/// The local stack the integration tests run against (`make test` starts it).
enum Stack {
    static var postgresURL: String {
        ProcessInfo.processInfo.environment["PPF_POSTGRES_URL"] ?? "postgresql://ppf@127.0.0.1:55432/ppf"
    }
    static var kafkaBrokers: String {
        ProcessInfo.processInfo.environment["PPF_KAFKA_BROKERS"] ?? "127.0.0.1:19092"
    }

    static var kafka: KafkaConfiguration { kafka(kafkaBrokers) }

    /// Client settings for the test's own clients on `brokers` (the shared stack's, or a ``ThrowawayBroker``'s).
    static func kafka(_ brokers: String) -> KafkaConfiguration {
        var configuration = KafkaConfiguration(bootstrapServers: brokers.split(separator: ",").map(String.init))
        configuration.clientId = "ppf-integration-tests"
        return configuration
    }

    static let logger: Logger = {
        var logger = Logger(label: "ppf.integration-tests")
        logger.logLevel = .warning
        return logger
    }()
}

/// A fresh PostgreSQL schema for one test, so services started by the test
/// (which migrate it) see only that test's rows; dropped afterwards.
struct IsolatedDatabase: Sendable {
    let schema: String
    let pool: PGPool
    /// The server's URL (the shared stack's, or a ``ThrowawayPostgres``'s).
    let server: String

    /// The URL services use to work inside this schema.
    var url: String {
        let separator = server.contains("?") ? "&" : "?"
        return server + separator + "search_path=\(schema)"
    }

    /// Runs `body` with a fresh schema on the server at `server` (the shared stack's by default).
    static func with<Value: Sendable>(
        server: String = Stack.postgresURL,
        _ body: @Sendable (IsolatedDatabase) async throws -> Value
    ) async throws -> Value {
        let base = try PostgresConfiguration(url: server)
        let schema = "it_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        do {
            let admin = try await PGConnection.connect(base, logger: Stack.logger)
            try await admin.execute("CREATE SCHEMA \(identifier: schema)")
        } catch {
            throw TestSetupError("PostgreSQL is not reachable at \(server) (\(error)); start it with `make up`")
        }
        var configuration = base
        configuration.searchPath = [schema]
        let database = IsolatedDatabase(schema: schema, pool: PGPool(configuration: configuration, size: 2, logger: Stack.logger),
                                        server: server)
        // A fresh connection for the drop: a test may have restarted the server meanwhile.
        func drop() async throws {
            let admin = try await PGConnection.connect(base, logger: Stack.logger)
            _ = try await admin.execute("DROP SCHEMA \(identifier: schema) CASCADE")
        }
        do {
            let value = try await body(database)
            await database.pool.close()
            try await drop()
            return value
        } catch {
            await database.pool.close()
            try? await drop()
            throw error
        }
    }

    /// Runs one query returning a single integer.
    func count(_ query: SQLQuery) async throws -> Int {
        try await pool.withConnection { connection in
            guard let row = try await connection.query(query).first else { return 0 }
            return try row.decode(Int.self, column: 0)
        }
    }

    /// Settings for an in-process service context working in this schema.
    func settings(service: String) throws -> Settings {
        var settings = try Settings.load(serviceName: service, environment: [:], arguments: []).settings
        settings.postgresURL = url
        settings.kafkaBrokers = Stack.kafkaBrokers
        settings.instanceId = "test-\(UUID().uuidString.prefix(6))"
        settings.logLevel = "warning"
        settings.heartbeatSeconds = 1
        return settings
    }
}

/// Collects every envelope on `topic` (read from the beginning by a fresh
/// group) whose id is in the set the test cares about.
final class TopicRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [ConsumedMessage] = []
    private var task: Task<Void, Never>?
    private let consumer: KafkaConsumer

    /// Creates `topic` if needed first: a consumer subscribed to a topic
    /// that does not exist yet only notices it at its next metadata refresh.
    init(topic: String, brokers: String = Stack.kafkaBrokers) async throws {
        let kafka = Stack.kafka(brokers)
        let admin = try KafkaAdmin.make(configuration: kafka, logger: Stack.logger)
        let spec = Topic.all.first { $0.name == topic }.map { TopicSpec(name: $0.name, partitions: $0.partitions) }
        _ = try await admin.createTopics([spec ?? TopicSpec(name: topic, partitions: 1)])
        consumer = try KafkaConsumer.make(configuration: kafka, groupId: "it-recorder-\(UUID())",
                                          topics: [topic], logger: Stack.logger)
        let consumer = consumer
        task = Task { [weak self] in
            do {
                for try await message in consumer.messages {
                    self?.lock.withLock { self?.seen.append(message) }
                }
            } catch {}
        }
    }

    /// Messages whose value contains `text` (e.g. a message id).
    func messages(containing text: String) -> [ConsumedMessage] {
        lock.withLock { seen.filter { String(decoding: $0.value, as: UTF8.self).contains(text) } }
    }

    func stop() async {
        task?.cancel()
        await consumer.close()
    }
}
