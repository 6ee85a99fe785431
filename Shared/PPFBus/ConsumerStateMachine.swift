// MARK: - ConsumerStateMachine

/// The consumer's lifecycle and its bounded buffer, as a value.
///
/// Lifecycle: `idle → running → closing → finished`. The poll thread asks
/// ``nextPollAction()`` what to do next; the message sequence calls
/// ``next(waiter:)``; ``close()`` and ``closed()`` end it. Every method is a
/// pure state transition that returns an action for the caller to perform
/// outside the lock (resume a continuation, pause partitions, wake the poll
/// thread), so the rules are unit-tested without a broker.
///
/// Generic over the buffered `Element` and the suspended reader `Waiter`
/// (a continuation in production, a plain value in tests).
///
/// Backpressure: once `capacity` messages or `byteCapacity` bytes wait,
/// fetching pauses; it resumes when the reader has drained the buffer to
/// half of both. Messages librdkafka had
/// already fetched may still arrive while paused, so `capacity` is a soft
/// bound. Polling continues while paused, so rebalances are served and the
/// member stays in its group however slow the handler is.
struct ConsumerStateMachine<Element, Waiter> {
    /// Where the consumer is in its life.
    enum Lifecycle: Equatable {
        /// Created, not yet polling.
        case idle
        /// Polling and delivering messages.
        case running
        /// ``close()`` was called; the poll thread leaves the group.
        case closing
        /// The group was left; the sequence has ended.
        case finished
    }

    private(set) var lifecycle = Lifecycle.idle
    private(set) var buffer: [Element] = []
    /// Whether fetching is paused because the buffer is full.
    private(set) var isPaused = false
    private var waiter: Waiter?
    /// A fatal error to throw once from the sequence before it ends.
    private var failure: BusError?
    /// Most messages held before fetching pauses (at least 1).
    let capacity: Int
    /// Most bytes held before fetching pauses (at least 1), as `size` counts them.
    let byteCapacity: Int
    private let size: @Sendable (Element) -> Int
    /// The buffered elements' total `size`.
    private(set) var bufferedBytes = 0

    init(capacity: Int, byteCapacity: Int = .max, size: @escaping @Sendable (Element) -> Int = { _ in 0 }) {
        self.capacity = max(1, capacity)
        self.byteCapacity = max(1, byteCapacity)
        self.size = size
    }

    private var isFull: Bool { buffer.count >= capacity || bufferedBytes >= byteCapacity }
    private var isDrainedToHalf: Bool { buffer.count <= capacity / 2 && bufferedBytes <= byteCapacity / 2 }

    // MARK: Starting

    /// What ``start()`` asks for.
    enum StartAction: Equatable {
        /// Start the poll thread.
        case startPolling
        /// Already started or closed: do nothing.
        case ignore
    }

    /// `idle → running`.
    mutating func start() -> StartAction {
        guard lifecycle == .idle else { return .ignore }
        lifecycle = .running
        return .startPolling
    }

    // MARK: Poll thread

    /// What the poll thread should do next.
    enum PollAction: Equatable {
        /// Poll once.
        case poll
        /// Pause every assigned partition, then poll (to serve rebalances).
        case pauseThenPoll
        /// Resume every assigned partition, then poll.
        case resumeThenPoll
        /// Leave the group (`rd_kafka_consumer_close`), then report ``closed()``.
        case close
        /// Stop the thread.
        case exit
    }

    /// Decides the poll thread's next step from the lifecycle and the buffer.
    mutating func nextPollAction() -> PollAction {
        switch lifecycle {
        case .idle, .finished:
            return .exit
        case .closing:
            return .close
        case .running:
            if !isPaused, isFull {
                isPaused = true
                return .pauseThenPoll
            }
            if isPaused, isDrainedToHalf {
                isPaused = false
                return .resumeThenPoll
            }
            return .poll
        }
    }

    /// What to do with a message the poll thread received.
    enum ReceiveAction {
        /// Hand it straight to the suspended reader.
        case resume(Waiter, Element)
        /// It was buffered.
        case buffered
        /// The consumer is closing: drop it (it is not committed, so the
        /// group delivers it again).
        case dropped
    }

    /// Buffers a received message, or hands it to a waiting reader.
    mutating func received(_ element: Element) -> ReceiveAction {
        guard lifecycle == .running else { return .dropped }
        if let waiter {
            self.waiter = nil
            return .resume(waiter, element)
        }
        buffer.append(element)
        bufferedBytes += size(element)
        return .buffered
    }

    /// Partitions were assigned: while paused they must start paused too.
    func assigned() -> RebalanceResponse {
        isPaused ? .pause : .fetch
    }

    /// Drops buffered messages matching `isStale` (their partition was
    /// revoked, or rewound for redelivery). Returns how many were dropped.
    @discardableResult
    mutating func discard(where isStale: (Element) -> Bool) -> Int {
        let before = buffer.count
        buffer.removeAll(where: isStale)
        bufferedBytes = buffer.reduce(0) { $0 + size($1) }
        return before - buffer.count
    }

    /// librdkafka raised a fatal error: stop delivering, leave the group,
    /// and let the sequence throw `error` once.
    mutating func failed(_ error: BusError) -> Waiter? {
        guard lifecycle == .running else { return nil }
        failure = error
        lifecycle = .closing
        buffer.removeAll()
        bufferedBytes = 0
        return takeWaiter()
    }

    /// The poll thread has left the group: `closing → finished`. Returns the
    /// reader to finish.
    mutating func closed() -> Waiter? {
        lifecycle = .finished
        buffer.removeAll()
        bufferedBytes = 0
        return takeWaiter()
    }

    // MARK: Reader

    /// What the reader of the message sequence gets.
    enum NextAction {
        /// A buffered message; `wakePoller` when fetching should resume now.
        case element(Element, wakePoller: Bool)
        /// The sequence is over: throw the error if there is one, else end.
        case finished(BusError?)
        /// Nothing yet: the waiter was stored and will be resumed.
        case suspended
    }

    /// Takes the next message, or stores `waiter` until one arrives.
    mutating func next(waiter: Waiter) -> NextAction {
        if !buffer.isEmpty, lifecycle == .running {
            let element = buffer.removeFirst()
            bufferedBytes -= size(element)
            return .element(element, wakePoller: isPaused && isDrainedToHalf)
        }
        switch lifecycle {
        case .idle, .running:
            precondition(self.waiter == nil, "KafkaConsumer.messages supports one reader at a time")
            self.waiter = waiter
            return .suspended
        case .closing, .finished:
            let failure = self.failure
            self.failure = nil
            return .finished(failure)
        }
    }

    /// Takes up to `limit` buffered messages without waiting (none when the
    /// buffer is empty or the consumer is not running); `wakePoller` when
    /// fetching should resume now.
    mutating func takeBuffered(upTo limit: Int) -> (elements: [Element], wakePoller: Bool) {
        guard lifecycle == .running, limit > 0, !buffer.isEmpty else { return ([], false) }
        let taken = Array(buffer.prefix(limit))
        buffer.removeFirst(taken.count)
        for element in taken { bufferedBytes -= size(element) }
        return (taken, isPaused && isDrainedToHalf)
    }

    /// The reader's task was cancelled: returns its waiter to resume with `nil`.
    mutating func cancelWaiter() -> Waiter? {
        takeWaiter()
    }

    private mutating func takeWaiter() -> Waiter? {
        defer { waiter = nil }
        return waiter
    }

    // MARK: Closing

    /// What ``close()`` asks for.
    enum CloseAction {
        /// Never started: finished at once; end the reader.
        case finishNow(Waiter?)
        /// Wake the poll thread so it leaves the group; end the reader now.
        case wakePoller(Waiter?)
        /// Already closing or closed: just wait for the poll thread.
        case awaitPoller
    }

    /// Stops delivering (buffered messages are dropped, uncommitted) and
    /// asks the poll thread to leave the group.
    mutating func close() -> CloseAction {
        switch lifecycle {
        case .idle:
            lifecycle = .finished
            return .finishNow(takeWaiter())
        case .running:
            lifecycle = .closing
            buffer.removeAll()
            bufferedBytes = 0
            return .wakePoller(takeWaiter())
        case .closing, .finished:
            return .awaitPoller
        }
    }
}
