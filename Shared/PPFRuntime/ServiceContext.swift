import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFStore

/// Everything a running PPF process shares: its settings, logger, database
/// pool and Kafka producer. Built once at start-up by ``start(serviceName:arguments:environment:)``.
///
/// Start-up order (design.md, "System of record"): check the librdkafka
/// version, connect to PostgreSQL (retrying with backoff while it is down),
/// apply migrations, create the topics, open the producer. Each step logs
/// what it waits for, so a service that cannot start says why.
public final class ServiceContext: Sendable {
    /// The process's settings.
    public let settings: Settings
    /// The process's logger (service and instance in every line).
    public let logger: Logger
    /// Database connections for handlers and repositories.
    public let pool: PGPool
    /// Kafka settings, translated from ``settings``.
    public let kafka: KafkaConfiguration
    /// The process's producer (`acks=all`).
    public let producer: KafkaProducer
    /// When the process started.
    public let startedAt: Date
    /// Work items in hand, reported in heartbeats.
    public let inFlight = WorkGauge()

    /// `service/instance`, the `producer` field of every envelope this process writes.
    public var producerName: String { "\(settings.serviceName)/\(settings.instanceId)" }

    private init(settings: Settings, logger: Logger, pool: PGPool, kafka: KafkaConfiguration,
                 producer: KafkaProducer) {
        self.settings = settings
        self.logger = logger
        self.pool = pool
        self.kafka = kafka
        self.producer = producer
        self.startedAt = Date()
    }

    /// Reads settings, installs logging and connects everything a service needs.
    /// - Parameters:
    ///   - serviceName: e.g. `"agent"`.
    ///   - settings: settings already loaded (the CLI parses its own flags);
    ///     `nil` reads the environment and command line.
    /// - Throws: ``SettingsError``, a `BusError` (librdkafka too old, broker
    ///   unusable) or a `StoreError` (migrations failed). PostgreSQL or the
    ///   broker being down is not an error: start-up waits and retries.
    public static func start(serviceName: String, settings: Settings? = nil) async throws -> ServiceContext {
        let settings = try settings ?? Settings.load(serviceName: serviceName).settings
        LoggingSystemSetup.bootstrap(settings)
        var logger = Logger(label: "ppf.\(serviceName)")
        logger[metadataKey: "service"] = "\(serviceName)"

        try KafkaLibrary.requireSupportedVersion()
        logger.info("librdkafka \(KafkaLibrary.versionString) loaded from \(KafkaLibrary.path ?? "?")")

        // PostgreSQL: wait for it, then migrate once (an advisory lock makes
        // concurrent starts safe).
        let postgres = try PostgresConfiguration(url: settings.postgresURL)
        let first = try await connectWithRetry(postgres, logger: logger)
        let applied = try await Migrator(logger: logger).migrate(on: first)
        if !applied.isEmpty { logger.info("applied migrations \(applied.map(\.version))") }
        let pool = PGPool(configuration: postgres, size: 4, logger: logger)

        let kafka = kafkaConfiguration(settings)
        try await createTopics(kafka, logger: logger)
        let producer = try KafkaProducer.make(configuration: kafka, logger: logger)
        return ServiceContext(settings: settings, logger: logger, pool: pool, kafka: kafka, producer: producer)
    }

    /// Translates the settings the bus needs.
    static func kafkaConfiguration(_ settings: Settings) -> KafkaConfiguration {
        var kafka = KafkaConfiguration(
            bootstrapServers: settings.kafkaBrokers.split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
            })
        kafka.clientId = "ppf-\(settings.serviceName)"
        kafka.sessionTimeout = .milliseconds(settings.kafkaSessionTimeoutMilliseconds)
        kafka.autoOffsetReset = settings.kafkaAutoOffsetReset
        return kafka
    }

    /// Creates every topic in ``Topic/all`` (idempotent), waiting for the
    /// broker while it is unreachable. The local broker keeps topics in
    /// memory, so after its restart the first service to start recreates them.
    static func createTopics(_ kafka: KafkaConfiguration, logger: Logger) async throws {
        let admin = try KafkaAdmin.make(configuration: kafka, logger: logger)
        let specs = Topic.all.map { TopicSpec(name: $0.name, partitions: $0.partitions) }
        var delay = Duration.milliseconds(200)
        var attempt = 1
        while true {
            do {
                let outcome = try await admin.createTopics(specs)
                let created = outcome.filter { $0.value == .created }.keys.sorted()
                if !created.isEmpty { logger.info("created topics \(created)") }
                return
            } catch {
                try Task.checkCancellation()
                logger.warning("the Kafka broker at \(kafka.bootstrapServers.joined(separator: ",")) is not usable (\(error)); retrying in \(delay) (attempt \(attempt))")
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
                attempt += 1
            }
        }
    }

    /// A consumer in `groupId` on `topics`, with this process's Kafka settings.
    public func makeConsumer(groupId: String, topics: [String]) throws -> KafkaConsumer {
        try KafkaConsumer.make(configuration: kafka, groupId: groupId, topics: topics, logger: logger)
    }

    /// Writes `envelope` to the outbox inside the caller's transaction; the
    /// relay publishes it to `topic` after the transaction commits.
    public func enqueue<Payload: MessagePayload>(
        _ envelope: Envelope<Payload>, topic: String, key: String, on connection: PGConnection
    ) async throws {
        _ = try await Outbox.enqueue(envelope, topic: topic, key: key, on: connection)
    }

    /// A relay that publishes this database's outbox with this process's producer.
    public func makeOutboxRelay() -> OutboxRelay {
        let producer = producer
        // The relay holds its connection while publishing, so it gets its own pool.
        let relayPool = PGPool(configuration: pool.configuration, size: 2, logger: logger)
        return OutboxRelay(pool: relayPool, logger: logger) { entries in
            let results = await Self.publish(entries, with: producer)
            if results.contains(where: { if case .success = $0 { true } else { false } }) {
                FaultInjection.crashIfRequested(at: FaultInjection.relayAfterPublishBeforeMark)
            }
            return results
        }
    }

    /// Broker answers that mean an entry can never be sent, whatever the retries.
    static let unpublishableCodes: Set<String> = [
        "MSG_SIZE_TOO_LARGE", "INVALID_MSG_SIZE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD",
        "INVALID_TOPIC_EXCEPTION", "TOPIC_AUTHORIZATION_FAILED",
    ]

    /// Sends a batch of outbox entries together (all queued, then every
    /// acknowledgement awaited). An entry that can never be sent fails with
    /// ``OutboxEntryRejected``, so the relay sets it aside. A PPF topic the
    /// broker lacks is not one of those: a restarted in-memory broker lacks
    /// them all until the topic keeper recreates them, so that is retried.
    static func publish(_ entries: [OutboxEntry], with producer: KafkaProducer) async -> [Result<Void, any Error>] {
        var results = [Result<Void, any Error>?](repeating: nil, count: entries.count)
        var sendable: [Int] = []
        for (index, entry) in entries.enumerated() {
            if Topic.all.contains(where: { $0.name == entry.topic }) {
                sendable.append(index)
            } else {
                results[index] = .failure(OutboxEntryRejected(
                    "'\(entry.topic)' is not a PPF topic (\(Topic.all.map(\.name).joined(separator: ", ")))"))
            }
        }
        let reports = await producer.sendAll(sendable.map {
            OutgoingMessage(topic: entries[$0].topic, key: entries[$0].key, value: entries[$0].payload)
        })
        for (index, report) in zip(sendable, reports) {
            switch report {
            case .success:
                results[index] = .success(())
            case .failure(let error) where error.kafkaCodeName.map(unpublishableCodes.contains) == true:
                results[index] = .failure(OutboxEntryRejected("the broker refuses it (\(entries[index].payload.count) bytes): \(error)"))
            case .failure(let error):
                results[index] = .failure(error)
            }
        }
        return results.map { $0! }
    }

    /// The services every PPF process runs: the outbox relay, heartbeats,
    /// the topic keeper (which recreates topics a restarted broker lost) and
    /// the retention of the bookkeeping tables.
    public func standardServices(details: @escaping @Sendable () -> [String: String] = { [:] }) -> [any PPFService] {
        [OutboxRelayService(relay: makeOutboxRelay()), HeartbeatService(context: self, details: details),
         TopicKeeperService(context: self), RetentionService(context: self)]
    }

    /// Flushes the producer and closes the pool; call once, at exit.
    public func shutdown() async {
        await producer.shutdown()
        await pool.close()
    }
}

/// A counter of work items in hand, safe to use from any task.
public final class WorkGauge: @unchecked Sendable {
    // Guarded by `lock`.
    private var count = 0
    private let lock = NSLock()

    /// Creates a gauge at zero.
    public init() {}

    /// The current count.
    public var value: Int { lock.withLock { count } }

    /// Counts one item in hand for the duration of `work`.
    public func track<T>(_ work: () async throws -> T) async rethrows -> T {
        lock.withLock { count += 1 }
        defer { lock.withLock { count -= 1 } }
        return try await work()
    }
}
