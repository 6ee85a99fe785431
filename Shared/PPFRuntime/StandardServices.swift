import Foundation
import Logging
import PPFBus
import PPFContracts
import PPFStore

/// Runs the transactional outbox relay as a ``PPFService``.
public struct OutboxRelayService: PPFService {
    public let name = "outbox-relay"
    let relay: OutboxRelay

    /// Wraps `relay`.
    public init(relay: OutboxRelay) { self.relay = relay }

    public func run() async throws { try await relay.run() }
}

/// Says "alive" every ``Settings/heartbeatSeconds``: upserts the instance's
/// row in `service_instances` (what `ppf status` reads) and publishes a
/// ``Heartbeat`` on ``Topic/status``. Heartbeats are ephemeral, so they skip
/// the outbox; a failed one is logged and the next one tries again.
public struct HeartbeatService: PPFService {
    public let name = "heartbeat"
    let context: ServiceContext
    let details: @Sendable () -> [String: String]

    /// Creates heartbeats for `context`; `details` adds service-specific status.
    public init(context: ServiceContext, details: @escaping @Sendable () -> [String: String]) {
        self.context = context
        self.details = details
    }

    public func run() async throws {
        let interval = Duration.milliseconds(Int(context.settings.heartbeatSeconds * 1000))
        var failures = 0
        while !Task.isCancelled {
            do {
                try await beat()
                if failures > 0 { context.logger.info("heartbeats resumed") }
                failures = 0
            } catch {
                failures += 1
                // Log the first failure and then every tenth, not every beat.
                if failures == 1 || failures % 10 == 0 {
                    context.logger.warning("heartbeat failed (\(failures) in a row): \(error)")
                }
            }
            do { try await Task.sleep(for: interval) } catch { break }
        }
    }

    func beat() async throws {
        let settings = context.settings
        let heartbeat = Heartbeat(service: settings.serviceName, instanceId: settings.instanceId,
                                  version: PPFVersion.current, startedAt: context.startedAt,
                                  inFlight: context.inFlight.value, details: details())
        try await context.pool.withConnection { connection in
            try await SystemStatusRepository.recordHeartbeat(heartbeat, on: connection)
        }
        let envelope = Envelope(correlationId: UUID(), producer: context.producerName, payload: heartbeat)
        _ = try await context.producer.send(envelope, to: Topic.status, key: settings.instanceId)
    }
}

/// Consumes one topic's envelopes in a consumer group, with the guarantees
/// design.md asks of every consumer:
/// - a message that cannot be decoded, has an unknown schema version, or that
///   the handler rejects (``EnvelopeRejection``) goes to the dead-letter
///   topic AND the `dead_letters` table with its reason, and consumption goes on;
/// - a message is committed only after its handler succeeded; a failing
///   handler sees it again after a backoff;
/// - handlers make their writes idempotent with ``ServiceContext/once(_:consumer:_:)``.
public struct EnvelopeConsumerService<Payload: MessagePayload>: PPFService {
    public let name: String
    let context: ServiceContext
    let groupId: String
    let topic: String
    let handler: @Sendable (Envelope<Payload>, ConsumedMessage) async throws -> Void
    let maxBatch: Int
    let batchHandler: (@Sendable ([(Envelope<Payload>, ConsumedMessage)]) async throws -> EnvelopeConsumer<Payload>.Leftovers)?

    /// Creates a consumer of `topic` in `groupId`; `handler` runs per valid envelope.
    public init(context: ServiceContext, groupId: String, topic: String,
                handler: @escaping @Sendable (Envelope<Payload>, ConsumedMessage) async throws -> Void) {
        self.name = "consumer(\(topic))"
        self.context = context
        self.groupId = groupId
        self.topic = topic
        self.handler = handler
        self.maxBatch = 1
        self.batchHandler = nil
    }

    /// Creates a consumer of `topic` in `groupId` that hands the envelopes
    /// waiting in its buffer, up to `maxBatch` at a time, to `batchHandler`,
    /// and what that leaves over (or all of them, if it throws) to `handler`
    /// one at a time (``EnvelopeConsumer/runBatches(maxBatch:retryBackoff:maxRetryBackoff:maxAttempts:batchHandler:handler:)``).
    public init(context: ServiceContext, groupId: String, topic: String, maxBatch: Int,
                batchHandler: @escaping @Sendable ([(Envelope<Payload>, ConsumedMessage)]) async throws -> EnvelopeConsumer<Payload>.Leftovers,
                handler: @escaping @Sendable (Envelope<Payload>, ConsumedMessage) async throws -> Void) {
        self.name = "consumer(\(topic))"
        self.context = context
        self.groupId = groupId
        self.topic = topic
        self.handler = handler
        self.maxBatch = max(1, maxBatch)
        self.batchHandler = batchHandler
    }

    public func run() async throws {
        let consumer = try context.makeConsumer(groupId: groupId, topics: [topic])
        let pool = context.pool
        let groupId = groupId
        let envelopes = EnvelopeConsumer<Payload>(
            consumer: consumer, producer: context.producer, producerName: context.producerName,
            logger: context.logger
        ) { letter, message in
            let record = DeadLetterRecord(
                topic: letter.originalTopic, partition: Int32(letter.partition), offset: letter.offset,
                key: letter.key, payload: letter.valueBytes ?? [], reason: letter.reason, consumer: groupId,
                messageTimestamp: message.timestamp)
            try await pool.withConnection { try await DeadLetterStore.record(record, on: $0) }
        }
        let handler = handler
        let batchHandler = batchHandler
        let gauge = context.inFlight
        do {
            try await envelopes.runBatches(maxBatch: batchHandler == nil ? 1 : maxBatch) { batch in
                guard let batchHandler else { return Array(batch.indices) }
                return try await gauge.track { try await batchHandler(batch) }
            } handler: { envelope, message in
                try await gauge.track { try await handler(envelope, message) }
            }
        } catch {
            await consumer.close()
            throw error
        }
        await consumer.close()
    }
}

extension ServiceContext {
    /// Runs `body` in a transaction that first claims `envelope`'s message id
    /// for `consumer` in the inbox. If the id was already processed (a
    /// redelivery), `body` does not run and the result is `nil`: the same
    /// message delivered twice changes the database once.
    @discardableResult
    public func once<Payload: MessagePayload, Value: Sendable>(
        _ envelope: Envelope<Payload>, consumer: String,
        _ body: @Sendable (PGConnection) async throws -> Value
    ) async throws -> Value? {
        try await pool.withTransaction { connection in
            guard try await Inbox.claim(consumer: consumer, messageId: envelope.messageId, on: connection) else {
                logger.info("skipping message \(envelope.messageId): \(consumer) already processed it")
                return nil
            }
            return try await body(connection)
        }
    }
}

/// Prunes the bookkeeping tables once an hour (the first pass a minute after
/// start) to ``Settings/retention``: published outbox entries, inbox claims
/// and dead letters past their age. Every service runs it; a transaction-level
/// advisory lock lets one pass run at a time across the deployment, and the
/// others skip. A failed pass is logged; the next one tries again.
public struct RetentionService: PPFService {
    public let name = "retention"
    let context: ServiceContext
    let firstPass: Duration
    let interval: Duration

    /// The advisory lock key of the pass ("PPF retention").
    static let lockKey: Int64 = 0x5050_4652_4554_4e31

    /// Prunes for `context` after `firstPass`, then every `interval`.
    public init(context: ServiceContext, firstPass: Duration = .seconds(60), interval: Duration = .seconds(3600)) {
        self.context = context
        self.firstPass = firstPass
        self.interval = interval
    }

    public func run() async throws {
        var wait = firstPass
        while !Task.isCancelled {
            do { try await Task.sleep(for: wait) } catch { break }
            wait = interval
            do {
                let pruned = try await pass()
                if let pruned, pruned.total > 0 {
                    context.logger.info("retention pruned \(pruned.outbox) published outbox entries, \(pruned.inbox) inbox claims and \(pruned.deadLetters) dead letters")
                }
            } catch is CancellationError {
                break
            } catch {
                context.logger.warning("retention pass failed, next in \(interval): \(error)")
            }
        }
    }

    /// One pass, or nil when another process holds the pass's lock.
    public func pass() async throws -> Retention.Pruned? {
        let policy = context.settings.retention
        return try await context.pool.withTransaction { connection in
            let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))").decode(Bool.self)
            guard locked.first == true else { return nil }
            return try await Retention.prune(policy, on: connection)
        }
    }
}
