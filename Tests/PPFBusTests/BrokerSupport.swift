import Foundation
import Logging
import PPFBus
import PPFContracts
import Testing

// MARK: - The broker under test

/// Access to the real broker for integration tests. CI always starts the
/// stack, so an unreachable broker fails the test with a clear message.
enum Broker {
    /// `PPF_KAFKA_BROKERS`, default `127.0.0.1:19092` (the local stack).
    static let servers: [String] = {
        let raw = ProcessInfo.processInfo.environment["PPF_KAFKA_BROKERS"] ?? "127.0.0.1:19092"
        return raw.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) }
    }()

    static let logger: Logger = {
        var logger = Logger(label: "ppf.bus.tests")
        logger.logLevel = .warning
        return logger
    }()

    static var configuration: KafkaConfiguration {
        var configuration = KafkaConfiguration(bootstrapServers: servers)
        configuration.clientId = "ppf-bus-tests"
        return configuration
    }

    /// An admin client, after checking that the broker answers.
    static func admin() async throws -> KafkaAdmin {
        let admin = try KafkaAdmin.make(configuration: configuration, logger: logger)
        do {
            _ = try await admin.metadata(timeout: .seconds(5))
        } catch {
            throw TestFailure("""
                the Kafka broker at \(servers.joined(separator: ",")) is unreachable (\(error)). \
                Start the local stack (make up, or bash infra/stack.sh broker-up) or set PPF_KAFKA_BROKERS.
                """)
        }
        return admin
    }

    /// A topic name no other test (or run) uses.
    static func uniqueTopic(_ purpose: String) -> String {
        "ppf.test.\(purpose).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A consumer group id no other test (or run) uses.
    static func uniqueGroup(_ purpose: String) -> String {
        "ppf-test-\(purpose)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Creates `name` with `partitions` partitions and returns it.
    static func createTopic(_ name: String, partitions: Int, admin: KafkaAdmin) async throws -> String {
        try await admin.createTopics([TopicSpec(name: name, partitions: partitions)])
        return name
    }

    static func producer() throws -> KafkaProducer {
        try KafkaProducer.make(configuration: configuration, logger: logger)
    }

    static func consumer(group: String, topics: [String], bufferCapacity: Int = 8) throws -> KafkaConsumer {
        var configuration = configuration
        configuration.consumerBufferCapacity = bufferCapacity
        return try KafkaConsumer.make(configuration: configuration, groupId: group, topics: topics, logger: logger)
    }
}

/// A failure with a message, thrown from test helpers.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Waiting with deadlines

/// Polls `condition` every 50 ms until it holds; throws after `timeout`.
func waitUntil(_ what: String, timeout: Duration = .seconds(30),
               _ condition: @Sendable () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try await !condition() {
        guard clock.now < deadline else { throw TestFailure("timed out after \(timeout) waiting until \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Runs `body`, failing if it takes longer than `timeout`.
func withDeadline<T: Sendable>(_ what: String, _ timeout: Duration,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw TestFailure("timed out after \(timeout): \(what)")
        }
        return result
    }
}

// MARK: - Recording what consumers saw

/// Collects values from concurrent handlers.
actor Recorder<Value: Sendable> {
    private(set) var values: [Value] = []
    func append(_ value: Value) { values.append(value) }
    var count: Int { values.count }
}

// MARK: - A payload for tests

/// A test message: a sequence number and a note.
struct Probe: MessagePayload, Equatable {
    static let messageType = "bus-test-probe"
    static let schemaVersion = 1
    var sequence: Int
    var note: String
}

extension Envelope where Payload == Probe {
    static func probe(_ sequence: Int, correlationId: UUID = UUID()) -> Envelope<Probe> {
        Envelope(correlationId: correlationId, producer: "bus-tests/\(ProcessInfo.processInfo.processIdentifier)",
                 payload: Probe(sequence: sequence, note: "probe \(sequence)"))
    }
}
