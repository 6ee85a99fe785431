import Logging

// MARK: - KafkaConsumer

/// A member of a consumer group that reads messages with at-least-once
/// delivery.
///
/// Offsets are never committed automatically (`enable.auto.commit=false`):
/// the caller commits a message with ``commit(_:)`` after its handler
/// succeeded, or lets ``run(retryBackoff:maxRetryBackoff:handler:)`` do it.
/// A message whose handler fails is not committed, so after a crash or a
/// rebalance the group delivers it again; handlers must be idempotent on the
/// envelope's message id.
///
/// A dedicated poll thread runs `rd_kafka_consumer_poll`, serves rebalances
/// (eager `range,roundrobin` by default; cooperative if configured through
/// ``KafkaConfiguration/extraProperties``) and fills a small buffer
/// (``KafkaConfiguration/consumerBufferCapacity`` messages or
/// ``KafkaConfiguration/consumerBufferBytes``); when it is full the
/// member pauses fetching but keeps polling, so it stays in the group
/// however long a handler takes. Call ``close()`` to leave the group cleanly,
/// so another member takes over the partitions at once.
public final class KafkaConsumer: Sendable {
    /// The consumer group this member belongs to.
    public let groupId: String
    /// The subscribed topics.
    public let topics: [String]
    private let core: ConsumerCore

    private init(groupId: String, topics: [String], core: ConsumerCore) {
        self.groupId = groupId
        self.topics = topics
        self.core = core
    }

    deinit {
        // The poll thread owns the core until it has left the group.
        core.requestClose()
    }

    /// Creates a consumer in `groupId`, subscribes it to `topics` and starts
    /// polling (joining the group takes a few seconds; see
    /// ``KafkaConfiguration/sessionTimeout``).
    /// - Throws: ``BusError`` if librdkafka is too old, rejects the
    ///   configuration, or refuses the subscription.
    public static func make(configuration: KafkaConfiguration, groupId: String, topics: [String],
                            logger: Logger) throws -> KafkaConsumer {
        var logger = logger
        logger[metadataKey: "kafka.client"] = "consumer"
        logger[metadataKey: "kafka.group"] = "\(groupId)"
        let client = try RDKafkaClient.make(role: .consumer(groupId: groupId), configuration: configuration,
                                            logger: logger)
        let core = ConsumerCore(client: client, capacity: configuration.consumerBufferCapacity,
                                byteCapacity: configuration.consumerBufferBytes, logger: logger)
        try client.subscribe(topics: topics)
        core.start()
        return KafkaConsumer(groupId: groupId, topics: topics, core: core)
    }

    // MARK: - Reading

    /// The messages, in partition order, as they arrive. Ends after
    /// ``close()``; throws ``BusError`` `.fatal` if librdkafka fails fatally.
    /// One reader at a time.
    public var messages: ConsumedMessages { ConsumedMessages(core: core) }

    /// The partitions currently assigned to this member (empty until the
    /// group join completes).
    public var assignedPartitions: [TopicPartition] { core.assignment.withLock { $0.sorted() } }

    // MARK: - Committing

    /// Commits `message` as processed: the group's next read on its partition
    /// starts at `message.offset + 1`. The commit is synchronous on a
    /// blocking thread and asynchronous to the caller. Call it only after the
    /// handler succeeded.
    /// - Throws: ``BusError`` `.commitFailed` (for example, the partition was
    ///   revoked meanwhile; the message is then redelivered to its new owner)
    ///   or `.closed`.
    public func commit(_ message: ConsumedMessage) async throws {
        try await core.commit(message)
    }

    /// Drops what was fetched after `message` on its partition and moves the
    /// partition back to `message.offset`, so `message` is delivered again.
    /// Runs on the poll thread, between polls.
    /// - Throws: ``BusError`` `.seekFailed` or `.closed`.
    public func rewind(to message: ConsumedMessage) async throws {
        try await core.rewind(to: message)
    }

    /// Processes messages one at a time until the consumer is closed or the
    /// task is cancelled.
    ///
    /// After `handler` returns, the message is committed: at once when no
    /// other message is waiting, and otherwise together with the ones
    /// behind it (one commit per partition once the buffer is empty, or
    /// after `maxUncommitted` messages), so a burst costs one broker round
    /// trip instead of one per message. A crash in between redelivers
    /// what was handled but not yet committed, as at-least-once allows.
    /// If `handler` throws, the message is not committed: the consumer
    /// commits what came before it, rewinds its partition, waits
    /// (`retryBackoff`, doubling per consecutive failure up to
    /// `maxRetryBackoff`) and delivers it again. A message that always
    /// fails therefore holds up its partition; handlers should turn bad
    /// input into a dead letter instead (see ``EnvelopeConsumer``).
    public func run(
        retryBackoff: Duration = .seconds(1),
        maxRetryBackoff: Duration = .seconds(30),
        maxUncommitted: Int = 100,
        handler: (ConsumedMessage) async throws -> Void
    ) async throws {
        try await runBatches(maxBatch: 1, retryBackoff: retryBackoff, maxRetryBackoff: maxRetryBackoff,
                             maxUncommitted: maxUncommitted) { batch in
            for message in batch { try await handler(message) }
        }
    }

    /// Processes messages in batches until the consumer is closed or the
    /// task is cancelled: each call of `handler` gets the next message
    /// (waiting for it) and up to `maxBatch − 1` more that are already
    /// buffered, in order — under a burst, many; when messages trickle in,
    /// one. Nothing waits to fill a batch.
    ///
    /// Commits as ``run(retryBackoff:maxRetryBackoff:maxUncommitted:handler:)``
    /// does, per batch: when `handler` returns, every message of the batch is
    /// handled. When it throws, none of the batch is committed: each of its
    /// partitions is rewound to the batch's first message there, and the
    /// batch is delivered again after the backoff (messages it handled before
    /// failing come again too, as at-least-once allows).
    public func runBatches(
        maxBatch: Int,
        retryBackoff: Duration = .seconds(1),
        maxRetryBackoff: Duration = .seconds(30),
        maxUncommitted: Int = 100,
        handler: ([ConsumedMessage]) async throws -> Void
    ) async throws {
        var consecutiveFailures = 0
        // The newest handled, uncommitted message of each partition.
        var uncommitted: [TopicPartition: ConsumedMessage] = [:]
        var handledSinceCommit = 0
        func commitHandled() async {
            for message in uncommitted.values.sorted(by: { $0.topicPartition.description < $1.topicPartition.description }) {
                do {
                    try await commit(message)
                } catch {
                    core.logger.warning("commit failed; \(message.topicPartition) up to @\(message.offset) may be delivered again: \(error)")
                }
            }
            uncommitted.removeAll()
            handledSinceCommit = 0
        }
        while true {
            let batch = try await core.nextBatch(upTo: max(1, maxBatch))
            guard !batch.isEmpty else { break }
            do {
                try await handler(batch)
            } catch {
                await commitHandled()
                consecutiveFailures += 1
                let delay = min(retryBackoff * (1 << min(consecutiveFailures - 1, 16)), maxRetryBackoff)
                // The first message of the batch on each of its partitions.
                var firsts: [TopicPartition: ConsumedMessage] = [:]
                for message in batch where firsts[message.topicPartition] == nil { firsts[message.topicPartition] = message }
                let first = batch[0]
                core.logger.warning(
                    "handler failed; not committing \(first.topicPartition)@\(first.offset)\(batch.count > 1 ? " and the \(batch.count - 1) message(s) of its batch" : ""), redelivering in \(delay): \(error)")
                do {
                    for message in firsts.values.sorted(by: { $0.topicPartition.description < $1.topicPartition.description }) {
                        try await rewind(to: message)
                    }
                } catch let error as BusError where error.code == .closed {
                    return
                } catch {
                    core.logger.warning("could not rewind for redelivery (the group will redeliver it): \(error)")
                }
                do {
                    try await Task.sleep(for: delay)
                } catch {
                    return  // cancelled: the service is shutting down
                }
                continue
            }
            consecutiveFailures = 0
            for message in batch { uncommitted[message.topicPartition] = message }
            handledSinceCommit += batch.count
            if core.bufferedCount == 0 || handledSinceCommit >= max(1, maxUncommitted) {
                await commitHandled()
            }
        }
        // Closed or cancelled: try to keep what was handled (a closed consumer refuses; then it is redelivered).
        if !uncommitted.isEmpty { await commitHandled() }
    }

    // MARK: - Closing

    /// Stops delivering messages, leaves the group (revoking this member's
    /// partitions so the others rebalance at once) and stops the poll thread.
    /// Buffered, uncommitted messages are dropped and will be redelivered to
    /// the group. Idempotent.
    public func close() async {
        await core.close()
    }
}

// MARK: - ConsumedMessages

/// The asynchronous sequence of a consumer's messages.
public struct ConsumedMessages: AsyncSequence, Sendable {
    /// Each element is one message.
    public typealias Element = ConsumedMessage
    fileprivate let core: ConsumerCore

    /// Iterates over the messages; see ``KafkaConsumer/messages``.
    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let core: ConsumerCore

        /// The next message, or `nil` once the consumer is closed or the task
        /// is cancelled.
        public mutating func next() async throws -> ConsumedMessage? {
            try await core.next()
        }
    }

    /// Starts iterating; see ``KafkaConsumer/messages``.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(core: core)
    }
}
