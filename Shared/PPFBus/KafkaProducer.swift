import CRdKafka
import Foundation
import Logging
import PPFContracts

// MARK: - KafkaProducer

/// Sends messages and awaits the broker's acknowledgement of each.
///
/// Every message is produced with `acks=all` (idempotence is a setting,
/// off by default: ``KafkaConfiguration/idempotentProducer``). A dedicated
/// poll thread serves delivery reports and resumes each
/// ``send(topic:key:value:headers:)`` with its ``DeliveryReport``. Keys are
/// strings (the id ordering follows) or raw bytes
/// (``send(topic:keyBytes:value:headers:)``). Call ``shutdown(timeout:)``
/// before dropping the producer so queued messages are delivered (or
/// failed) rather than lost.
public final class KafkaProducer: Sendable {
    private enum State {
        case running
        case shuttingDown
        case finished
    }

    private let client: RDKafkaClient
    private let pollThread: PollThread
    private let state = Locked(State.running)
    private let stopPolling = Locked(false)
    private let logger: Logger

    private init(client: RDKafkaClient, logger: Logger) {
        self.client = client
        self.logger = logger
        let stopPolling = self.stopPolling
        self.pollThread = PollThread.start(name: "ppf.bus.producer-poll") {
            while !stopPolling.withLock({ $0 }) {
                client.poll(timeoutMilliseconds: 100)
            }
            // Serve the reports of purged messages so no caller waits forever.
            var rounds = 0
            while client.outstandingMessages > 0, rounds < 50 {
                client.poll(timeoutMilliseconds: 100)
                rounds += 1
            }
            client.poll(timeoutMilliseconds: 0)
        }
    }

    deinit {
        // Without shutdown(), stop the thread anyway; the client (and the
        // rd_kafka_t) goes when the thread lets go of it.
        stopPolling.withLock { $0 = true }
    }

    /// Creates a producer and starts its poll thread.
    /// - Throws: ``BusError`` if librdkafka is too old or rejects the configuration.
    public static func make(configuration: KafkaConfiguration, logger: Logger) throws -> KafkaProducer {
        var logger = logger
        logger[metadataKey: "kafka.client"] = "producer"
        let client = try RDKafkaClient.make(role: .producer, configuration: configuration, logger: logger)
        return KafkaProducer(client: client, logger: logger)
    }

    // MARK: - Sending

    /// Sends one message and returns once the broker acknowledged it.
    ///
    /// Cancelling the calling task does not recall the message: it is already
    /// queued, and the call returns when its delivery report arrives (at the
    /// latest after ``KafkaConfiguration/messageTimeout``).
    /// - Throws: ``BusError`` with `.produceFailed` (not queued; `.isRetriable`
    ///   when the local queue is full), `.deliveryFailed` (not acknowledged) or
    ///   `.closed` (after ``shutdown(timeout:)``).
    @discardableResult
    public func send(topic: String, keyBytes key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) async throws -> DeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            let promise = DeliveryPromise(continuation)
            // Produce under the state lock so shutdown() cannot slip between
            // the check and the enqueue and leave a report nobody serves.
            let failure: BusError? = state.withLock { state -> BusError? in
                guard case .running = state else {
                    return BusError(.closed, "the producer is shut down; cannot send to \(topic)")
                }
                do throws(BusError) {
                    try client.produce(topic: topic, key: key, value: value, headers: headers, promise: promise)
                    return nil
                } catch {
                    return error
                }
            }
            if let failure { continuation.resume(throwing: failure) }
        }
    }

    /// Queues every message, in order, and then awaits all their
    /// acknowledgements: the broker sees them in one or a few requests
    /// (``KafkaConfiguration/linger``) instead of one round trip per message.
    /// With one request in flight per connection (the producer's setting),
    /// messages to one partition are stored in the order given, retries
    /// included.
    /// - Returns: each message's delivery report or ``BusError``, in the
    ///   order given; a message that could not be queued, or any after a
    ///   ``shutdown(timeout:)``, has its error without a round trip.
    public func sendAll(_ messages: [OutgoingMessage]) async -> [Result<DeliveryReport, BusError>] {
        guard !messages.isEmpty else { return [] }
        let batch = DeliveryBatch(count: messages.count)
        return await withCheckedContinuation { continuation in
            batch.start(continuation)
            state.withLock { state in
                for (index, message) in messages.enumerated() {
                    guard case .running = state else {
                        batch.resolve(index, .failure(BusError(.closed, "the producer is shut down; cannot send to \(message.topic)")))
                        continue
                    }
                    do throws(BusError) {
                        try client.produce(topic: message.topic, key: message.key, value: message.value, headers: message.headers,
                                           promise: DeliveryPromise { batch.resolve(index, $0) })
                    } catch {
                        batch.resolve(index, .failure(error))
                    }
                }
            }
        }
    }

    /// Sends a message whose key is a string (the id ordering follows).
    @discardableResult
    public func send(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader] = []) async throws -> DeliveryReport {
        try await send(topic: topic, keyBytes: key.map { Array($0.utf8) }, value: value, headers: headers)
    }

    /// Sends an envelope as JSON, keyed by `key`.
    ///
    /// The envelope's type, schema version, message id and correlation id are
    /// also copied into headers (`ppf-type`, `ppf-schema-version`,
    /// `ppf-message-id`, `ppf-correlation-id`), so tools can route and follow
    /// messages without decoding the body.
    @discardableResult
    public func send<Payload: MessagePayload>(_ envelope: Envelope<Payload>, to topic: String, key: String?) async throws -> DeliveryReport {
        let bytes: [UInt8]
        do {
            bytes = try envelope.encoded()
        } catch {
            throw BusError(.produceFailed, "could not encode a '\(envelope.type)' envelope for \(topic): \(error)")
        }
        let headers = [
            KafkaHeader(name: "ppf-type", string: envelope.type),
            KafkaHeader(name: "ppf-schema-version", string: String(envelope.schemaVersion)),
            KafkaHeader(name: "ppf-message-id", string: envelope.messageId.uuidString),
            KafkaHeader(name: "ppf-correlation-id", string: envelope.correlationId.uuidString),
        ]
        return try await send(topic: topic, key: key, value: bytes, headers: headers)
    }

    // MARK: - Flushing and shutdown

    /// Waits until every message sent so far is acknowledged or failed.
    /// - Throws: ``BusError`` `.flushTimedOut` if messages remain after `timeout`.
    public func flush(timeout: Duration = .seconds(10)) async throws {
        let client = self.client
        let milliseconds = Int32(clamping: KafkaConfiguration.milliseconds(timeout))
        try await BlockingCalls.run { () throws(BusError) in
            let err = client.flush(timeoutMilliseconds: milliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw BusError.kafka(.flushTimedOut,
                                     "\(client.outstandingMessages) message(s) still undelivered after \(timeout)", err)
            }
        }
    }

    /// Stops accepting messages, flushes for up to `timeout`, fails whatever
    /// is still queued (their `send` calls throw `.deliveryFailed`) and stops
    /// the poll thread. Idempotent.
    public func shutdown(timeout: Duration = .seconds(10)) async {
        let first = state.withLock { state -> Bool in
            guard case .running = state else { return false }
            state = .shuttingDown
            return true
        }
        guard first else {
            await pollThread.join()
            return
        }
        do {
            try await flush(timeout: timeout)
        } catch {
            logger.warning("producer shutdown: \(error); failing the remaining messages")
            client.purgeAll()
        }
        stopPolling.withLock { $0 = true }
        await pollThread.join()
        state.withLock { $0 = .finished }
    }
}

// MARK: - Batches

/// One message for ``KafkaProducer/sendAll(_:)``.
public struct OutgoingMessage: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    /// A message whose key is raw bytes (or none).
    public init(topic: String, keyBytes key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// A message whose key is a string (the id ordering follows).
    public init(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.init(topic: topic, keyBytes: key.map { Array($0.utf8) }, value: value, headers: headers)
    }
}

/// Collects the delivery results of one ``KafkaProducer/sendAll(_:)`` and
/// resumes its caller once every message has one.
private final class DeliveryBatch: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var results: [Result<DeliveryReport, BusError>?]
    private var missing: Int
    private var continuation: CheckedContinuation<[Result<DeliveryReport, BusError>], Never>?

    init(count: Int) {
        results = Array(repeating: nil, count: count)
        missing = count
    }

    func start(_ continuation: CheckedContinuation<[Result<DeliveryReport, BusError>], Never>) {
        lock.withLock { self.continuation = continuation }
    }

    func resolve(_ index: Int, _ result: Result<DeliveryReport, BusError>) {
        let finished = lock.withLock { () -> (CheckedContinuation<[Result<DeliveryReport, BusError>], Never>, [Result<DeliveryReport, BusError>])? in
            guard case .none = results[index] else { return nil }
            results[index] = result
            missing -= 1
            guard missing == 0, let continuation else { return nil }
            self.continuation = nil
            return (continuation, results.map { $0! })
        }
        if let (continuation, results) = finished { continuation.resume(returning: results) }
    }
}
