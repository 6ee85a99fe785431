import Foundation
import Logging
import PPFContracts

// MARK: - EnvelopeConsumer

/// Reads `Envelope<Payload>` messages and dead-letters the bad ones, so one
/// malformed or foreign message never stops a service.
///
/// For each message, in order:
/// 1. decode it with `Envelope<Payload>.decode` (type and schema version are
///    checked);
/// 2. on success, call the handler; when it returns, commit;
/// 3. on an ``EnvelopeRejection`` (from decoding, or thrown by the handler
///    for values out of range), build a ``DeadLetter``, give it to
///    `onDeadLetter` (the service records it in the database), publish it to
///    the dead-letter topic, await the broker's acknowledgement, and commit
///    the bad message;
/// 4. on any other error (handler, database hook, publishing), commit
///    nothing: the message is redelivered after a backoff
///    (``KafkaConsumer/run(retryBackoff:maxRetryBackoff:handler:)``), at
///    most `maxAttempts` times in a row; then it is dead-lettered
///    (``EnvelopeRejection/failedRepeatedly(attempts:lastError:)``) and
///    committed, so a poison message cannot hold its partition. A dead
///    letter that cannot be recorded (the database is down) is retried, so
///    nothing is lost.
///
/// So a dead letter is recorded before its message is committed: a crash in
/// between repeats it (the hook must be idempotent on topic, partition,
/// offset and record timestamp) but never loses it.
public struct EnvelopeConsumer<Payload: MessagePayload>: Sendable {
    /// Receives each dead letter, with the message it stands for, before it
    /// is published (for the database).
    public typealias DeadLetterHook = @Sendable (DeadLetter, ConsumedMessage) async throws -> Void

    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let producerName: String
    private let deadLetterTopic: String
    private let onDeadLetter: DeadLetterHook?
    private let logger: Logger

    /// Wraps `consumer`; dead letters are published with `producer` under the
    /// service-instance name `producerName` (e.g. `"evaluator/host-1234"`).
    public init(consumer: KafkaConsumer, producer: KafkaProducer, producerName: String,
                deadLetterTopic: String = Topic.deadLetters, logger: Logger,
                onDeadLetter: DeadLetterHook? = nil) {
        self.consumer = consumer
        self.producer = producer
        self.producerName = producerName
        self.deadLetterTopic = deadLetterTopic
        self.onDeadLetter = onDeadLetter
        self.logger = logger
    }

    /// Processes envelopes until the consumer is closed or the task is
    /// cancelled. The handler gets the decoded envelope and the raw message.
    /// - Parameter maxAttempts: how often the handler may fail on one message
    ///   (errors other than ``EnvelopeRejection``) before it is dead-lettered; ≥ 1.
    public func run(
        retryBackoff: Duration = .seconds(1),
        maxRetryBackoff: Duration = .seconds(30),
        maxAttempts: Int = 6,
        handler: (Envelope<Payload>, ConsumedMessage) async throws -> Void
    ) async throws {
        try await runBatches(maxBatch: 1, retryBackoff: retryBackoff, maxRetryBackoff: maxRetryBackoff,
                             maxAttempts: maxAttempts, batchHandler: { Array($0.indices) }, handler: handler)
    }

    /// What a batch handler may leave to the one-message handler: the indices
    /// (into the batch it was given) of the envelopes it did not handle.
    public typealias Leftovers = [Int]

    /// Processes envelopes in batches (see
    /// ``KafkaConsumer/runBatches(maxBatch:retryBackoff:maxRetryBackoff:maxUncommitted:handler:)``):
    /// each batch's undecodable messages are dead-lettered, then
    /// `batchHandler` gets the decoded envelopes, in order, and handles what it
    /// can in one go (one transaction for many messages, say). Whatever it
    /// returns as leftovers, and the whole batch if it throws, then goes
    /// through `handler` one envelope at a time, in order, with every
    /// guarantee of ``run(retryBackoff:maxRetryBackoff:maxAttempts:handler:)``
    /// (rejections dead-lettered, bounded retries). A batch handler therefore
    /// never needs to deal with a bad message: it leaves it over. It must be
    /// idempotent like any handler, and leave a message either handled or
    /// untouched.
    public func runBatches(
        maxBatch: Int,
        retryBackoff: Duration = .seconds(1),
        maxRetryBackoff: Duration = .seconds(30),
        maxAttempts: Int = 6,
        batchHandler: ([(Envelope<Payload>, ConsumedMessage)]) async throws -> Leftovers,
        handler: (Envelope<Payload>, ConsumedMessage) async throws -> Void
    ) async throws {
        // Failures in a row per message ("topic[partition]@offset"); one entry
        // per partition at most, since a failing message blocks its partition.
        var failures: [String: Int] = [:]
        func handleOne(_ envelope: Envelope<Payload>, _ message: ConsumedMessage) async throws {
            let id = "\(message.topicPartition)@\(message.offset)"
            do {
                try await handler(envelope, message)
                failures[id] = nil
            } catch let rejection as EnvelopeRejection {
                failures[id] = nil
                try await deadLetter(message, reason: rejection)
            } catch {
                let attempts = (failures[id] ?? 0) + 1
                failures[id] = attempts
                guard attempts >= max(1, maxAttempts) else { throw error }
                logger.error("\(id) failed \(attempts) times in a row; dead-lettering it: \(error)")
                try await deadLetter(message, reason: .failedRepeatedly(attempts: attempts, lastError: "\(error)"))
                failures[id] = nil
            }
        }
        try await consumer.runBatches(maxBatch: maxBatch, retryBackoff: retryBackoff, maxRetryBackoff: maxRetryBackoff) { messages in
            var decoded: [(Envelope<Payload>, ConsumedMessage)] = []
            for message in messages {
                do throws(EnvelopeRejection) {
                    decoded.append((try Envelope<Payload>.decode(message.value), message))
                } catch {
                    try await deadLetter(message, reason: error)
                }
            }
            guard !decoded.isEmpty else { return }
            var leftovers = Array(decoded.indices)
            if decoded.count > 1 {
                do {
                    leftovers = try await batchHandler(decoded).filter { decoded.indices.contains($0) }.sorted()
                } catch {
                    logger.warning("a batch of \(decoded.count) messages failed; handling them one at a time: \(error)")
                }
            }
            for index in leftovers { try await handleOne(decoded[index].0, decoded[index].1) }
        }
    }

    /// Records and publishes a dead letter for `message`.
    private func deadLetter(_ message: ConsumedMessage, reason: EnvelopeRejection) async throws {
        let letter = DeadLetter(
            originalTopic: message.topic, partition: message.partition, offset: message.offset,
            key: message.key, value: message.value, reason: reason.description,
            consumerGroup: consumer.groupId)
        logger.warning("dead-lettering \(message.topicPartition)@\(message.offset): \(reason)")
        try await onDeadLetter?(letter, message)
        // Keep the request traceable when the header at least was readable.
        let header = try? MessageCoding.decoder().decode(EnvelopeHeader.self, from: Data(message.value))
        let envelope = Envelope(correlationId: header?.correlationId ?? UUID(), producer: producerName, payload: letter)
        try await producer.send(envelope, to: deadLetterTopic, key: message.keyString)
    }
}
