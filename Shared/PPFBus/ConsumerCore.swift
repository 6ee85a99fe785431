import Logging

// MARK: - ConsumerCore

/// Everything the consumer's poll thread needs, kept apart from
/// ``KafkaConsumer`` so the thread (which owns the core until it has left the
/// group) does not keep the public object alive.
final class ConsumerCore: Sendable {
    typealias Waiter = CheckedContinuation<ConsumedMessage?, any Error>
    typealias Machine = ConsumerStateMachine<ConsumedMessage, Waiter>

    /// A rewind waiting for the poll thread.
    private struct RewindRequest: Sendable {
        var message: ConsumedMessage
        var continuation: CheckedContinuation<Void, any Error>
    }

    let client: RDKafkaClient
    let logger: Logger
    /// Partitions assigned by the latest rebalances.
    let assignment = Locked(Set<TopicPartition>())
    private let machine: Locked<Machine>
    private let rewinds = Locked([RewindRequest]())
    private let pollThread = Locked<PollThread?>(nil)

    /// How long one `rd_kafka_consumer_poll` may block. Short, because the
    /// thread checks for close and rewind requests between polls (and they
    /// wake it early anyway).
    private static let pollTimeoutMilliseconds: Int32 = 100

    init(client: RDKafkaClient, capacity: Int, byteCapacity: Int, logger: Logger) {
        self.client = client
        self.logger = logger
        self.machine = Locked(Machine(capacity: capacity, byteCapacity: byteCapacity) { $0.value.count + ($0.key?.count ?? 0) })
        client.callbacks.rebalanceListener.withLock { listener in
            listener = { [weak self] event in self?.rebalanced(event) ?? .fetch }
        }
    }

    /// Starts the poll thread (once).
    func start() {
        guard machine.withLock({ $0.start() }) == .startPolling else { return }
        let thread = PollThread.start(name: "ppf.bus.consumer-poll") { [self] in pollLoop() }
        pollThread.withLock { $0 = thread }
    }

    // MARK: - Poll thread

    private func pollLoop() {
        while true {
            serveRewinds()
            switch machine.withLock({ $0.nextPollAction() }) {
            case .poll:
                pollOnce()
            case .pauseThenPoll:
                client.setPaused(true, client.assignment())
                pollOnce()
            case .resumeThenPoll:
                client.setPaused(false, client.assignment())
                pollOnce()
            case .close:
                if let error = client.closeConsumer() { logger.warning("\(error)") }
                client.callbacks.rebalanceListener.withLock { $0 = nil }
                failPendingRewinds()
                assignment.withLock { $0.removeAll() }
                machine.withLock { $0.closed() }?.resume(returning: nil)
                return
            case .exit:
                return
            }
        }
    }

    private func pollOnce() {
        switch client.consumerPoll(timeoutMilliseconds: Self.pollTimeoutMilliseconds) {
        case .nothing:
            break
        case .message(let message):
            if case .resume(let waiter, let message) = machine.withLock({ $0.received(message) }) {
                waiter.resume(returning: message)
            }
        case .error(let error):
            if let fatal = client.fatalError() {
                logger.critical("\(fatal)")
                machine.withLock { $0.failed(fatal) }?.resume(throwing: fatal)
            } else {
                logger.warning("\(error)")
            }
        }
    }

    /// Called by the rebalance callback, on the poll thread.
    private func rebalanced(_ event: RebalanceEvent) -> RebalanceResponse {
        switch event {
        case .assigned(let partitions):
            logger.info("assigned \(partitions.map(\.description).joined(separator: ", "))")
            assignment.withLock { $0.formUnion(partitions) }
            return machine.withLock { $0.assigned() }
        case .revoked(let partitions):
            logger.info("revoked \(partitions.map(\.description).joined(separator: ", "))")
            let revoked = Set(partitions)
            assignment.withLock { $0.subtract(revoked) }
            machine.withLock { $0.discard { revoked.contains($0.topicPartition) } }
            return .fetch
        case .failed:
            assignment.withLock { $0.removeAll() }
            machine.withLock { $0.discard { _ in true } }
            return .fetch
        }
    }

    private func serveRewinds() {
        let requests = rewinds.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
        for request in requests {
            let message = request.message
            do throws(BusError) {
                try client.seek(message.topicPartition, to: message.offset, timeoutMilliseconds: 5000)
                // Seek first, then discard: no poll runs in between, so
                // nothing stale from before the seek can slip into the buffer.
                machine.withLock {
                    $0.discard { $0.topicPartition == message.topicPartition && $0.offset >= message.offset }
                }
                request.continuation.resume()
            } catch {
                request.continuation.resume(throwing: error)
            }
        }
    }

    private func failPendingRewinds() {
        let requests = rewinds.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
        for request in requests {
            request.continuation.resume(throwing: BusError(.closed, "the consumer closed before the rewind"))
        }
    }

    // MARK: - Caller side

    /// Messages fetched and waiting for the caller.
    var bufferedCount: Int { machine.withLock { $0.buffer.count } }

    func next() async throws -> ConsumedMessage? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                if Task.isCancelled {
                    continuation.resume(returning: nil)
                    return
                }
                switch machine.withLock({ $0.next(waiter: continuation) }) {
                case .element(let message, let wakePoller):
                    if wakePoller { client.wakeConsumerPoll() }
                    continuation.resume(returning: message)
                case .finished(let failure):
                    if let failure {
                        continuation.resume(throwing: failure)
                    } else {
                        continuation.resume(returning: nil)
                    }
                case .suspended:
                    break
                }
            }
        } onCancel: {
            machine.withLock { $0.cancelWaiter() }?.resume(returning: nil)
        }
    }

    /// The next message (waiting for it) and up to `limit − 1` more that are
    /// already buffered, in order; empty once the consumer is closed.
    func nextBatch(upTo limit: Int) async throws -> [ConsumedMessage] {
        guard let first = try await next() else { return [] }
        guard limit > 1 else { return [first] }
        let (more, wakePoller) = machine.withLock { $0.takeBuffered(upTo: limit - 1) }
        if wakePoller { client.wakeConsumerPoll() }
        return [first] + more
    }

    func commit(_ message: ConsumedMessage) async throws {
        let lifecycle = machine.withLock { $0.lifecycle }
        guard lifecycle == .running else {
            throw BusError(.closed, "the consumer is closed; cannot commit \(message.topicPartition)@\(message.offset)")
        }
        let client = self.client
        // A synchronous commit waits for the group coordinator; after a broker
        // restart it may wait without end, and hold up the loop and shutdown.
        let timedOut = BusError(.commitFailed, "committing \(message.topicPartition)@\(message.offset) took over \(Self.blockingCallLimit); it may be delivered again")
        try await BlockingCalls.run(within: Self.blockingCallLimit, timedOut: timedOut) { () throws(BusError) in
            try client.commit(message.topicPartition, nextOffset: message.offset + 1)
        }
    }

    func rewind(to message: ConsumedMessage) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = rewinds.withLock { requests -> Bool in
                guard machine.withLock({ $0.lifecycle }) == .running else { return false }
                requests.append(RewindRequest(message: message, continuation: continuation))
                return true
            }
            if accepted {
                client.wakeConsumerPoll()
            } else {
                continuation.resume(throwing: BusError(.closed, "the consumer is closed; cannot rewind \(message.topicPartition)"))
            }
        }
    }

    /// Starts closing without waiting (for `deinit`).
    func requestClose() {
        switch machine.withLock({ $0.close() }) {
        case .finishNow(let waiter):
            waiter?.resume(returning: nil)
        case .wakePoller(let waiter):
            waiter?.resume(returning: nil)
            client.wakeConsumerPoll()
        case .awaitPoller:
            break
        }
    }

    /// How long a commit, or closing (leaving the group), may block before the caller goes on.
    static let blockingCallLimit = Duration.seconds(10)

    func close() async {
        requestClose()
        if let thread = pollThread.withLock({ $0 }), !(await thread.join(within: Self.blockingCallLimit)) {
            logger.warning("the consumer did not finish leaving its group within \(Self.blockingCallLimit) (librdkafka waits for the group coordinator); going on without it, its partitions are reassigned after the session timeout")
        }
    }
}
