import Foundation
import Logging

/// Publishes committed outbox entries, in id order, and marks them published.
///
/// A long-running service: ``run()`` works until its task is cancelled.
/// - **Prompt:** a trigger NOTIFYs ``PPFSchema/outboxChannel`` when entries
///   commit; the relay LISTENs on its own connection and wakes at once, and
///   also polls every ``Configuration/pollInterval`` in case a notification
///   is missed (e.g. while its listening connection was down).
/// - **Ordered:** one relay at a time holds the schema's drain lease
///   (`outbox_relay_lease`), so when several relays run (for availability),
///   only one publishes at any moment and entries still leave in id order;
///   the others stand by. The lease lasts ``Configuration/leaseDuration``
///   per batch and is given back when a drain ends, so a holder that freezes
///   (SIGSTOP), hangs in a send or loses its network stops holding it on its
///   own, and another relay publishes.
/// - **No transaction across a network wait:** a batch is read in one short
///   transaction (with the lease), published with no transaction or
///   connection held, then marked in a second short transaction. A stalled
///   Kafka send never pins a PostgreSQL session.
/// - **Batched:** a batch's entries are handed to `publishBatch` together,
///   which sends them all and then awaits their acknowledgements (one broker
///   round trip for the batch, not one per entry).
/// - **Nothing lost:** an entry is marked only after its publication
///   succeeded. Entries committed while no relay runs are simply found
///   unpublished by the next one to start.
/// - **At least once:** a crash after `publish` but before the mark commits
///   publishes that batch's entries again, and so does a holder whose lease
///   ran out mid-send (the next holder sends them too); consumers deduplicate
///   on the message id (``Inbox``). Otherwise each entry is published once.
/// - **Failures:** the entries whose publication failed stay unpublished and
///   are retried with backoff, in id order; those that succeeded stay marked.
///   (A batch publisher that went on past a failure may so have put a later
///   entry of the same key first; the per-entry `publish` form stops at the
///   first failure and keeps strict order.) Losing PostgreSQL is logged and
///   retried the same way.
/// - **Poison:** an entry `publish` rejects with ``OutboxEntryRejected`` can
///   never be sent; it is set aside (`failed_at`, `failure`) with a dead
///   letter in the same transaction, and the entries behind it go on.
public final class OutboxRelay: Sendable {
    /// Tuning for a relay.
    public struct Configuration: Sendable {
        /// Entries taken per transaction. Default 100.
        public var batchSize: Int
        /// Longest wait without a notification before looking anyway. Default 1 s.
        public var pollInterval: Duration
        /// Backoff after a failed publish or a lost database. Default 0.1 s
        /// doubling to 5 s, never giving up.
        public var retry: RetryPolicy
        /// How long the drain lease lasts from the start of each batch: a
        /// holder that does not finish its batch in that time (frozen by
        /// SIGSTOP, hung in a send, cut off) loses the lease, and another
        /// relay publishes (sending that batch again). Default 10 s.
        public var leaseDuration: Duration

        /// Creates a configuration; every default is documented on its property.
        public init(batchSize: Int = 100, pollInterval: Duration = .seconds(1), retry: RetryPolicy = .standard,
                    leaseDuration: Duration = .seconds(10)) {
            self.batchSize = batchSize
            self.pollInterval = pollInterval
            self.retry = retry
            self.leaseDuration = leaseDuration
        }
    }

    /// The `dead_letters.consumer` of the entries a relay sets aside.
    public static let deadLetterConsumer = "outbox-relay"

    /// Publishes a batch of entries, in id order, and gives each one's
    /// outcome in the same order: success once it is durably accepted,
    /// ``OutboxEntryRejected`` when it can never be sent, any other error
    /// for "not sent, try again".
    public typealias PublishBatch = @Sendable ([OutboxEntry]) async -> [Result<Void, any Error>]

    private let pool: PGPool
    private let configuration: Configuration
    private let logger: Logger
    private let publishBatch: PublishBatch
    /// This relay's name on the lease.
    private let holder = "relay-\(UUID().uuidString.lowercased())"

    /// Creates a relay that publishes each batch with `publishBatch`; nothing runs until ``run()``.
    public init(pool: PGPool, configuration: Configuration = Configuration(), logger: Logger,
                publishBatch: @escaping PublishBatch) {
        precondition(configuration.batchSize >= 1, "batchSize must be at least 1")
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
        self.publishBatch = publishBatch
    }

    /// Creates a relay that publishes one entry at a time; nothing runs until ``run()``.
    /// - Parameter publish: sends one entry and returns only once it is
    ///   durably accepted; throwing means "not sent, try again" (the entries
    ///   behind it wait), or ``OutboxEntryRejected`` for "never sendable".
    public convenience init(pool: PGPool, configuration: Configuration = Configuration(), logger: Logger,
                            publish: @escaping @Sendable (OutboxEntry) async throws -> Void) {
        self.init(pool: pool, configuration: configuration, logger: logger) { entries in
            var results: [Result<Void, any Error>] = []
            for entry in entries {
                do {
                    try await publish(entry)
                    results.append(.success(()))
                } catch let rejection as OutboxEntryRejected {
                    results.append(.failure(rejection))
                } catch {
                    // Stop here: the entries behind a failed one wait for it, so order holds.
                    results.append(.failure(error))
                    let notSent = NotAttempted(after: entry.id)
                    results += Array(repeating: .failure(notSent), count: entries.count - results.count)
                    break
                }
            }
            return results
        }
    }

    /// The outcome of an entry a per-entry publisher did not try, because one before it failed.
    struct NotAttempted: Error, CustomStringConvertible {
        let after: Int64
        var description: String { "not attempted: outbox entry \(after) before it failed" }
    }

    // MARK: - Service

    /// Publishes until the task is cancelled; returns normally then.
    /// - Throws: the last error, only if ``Configuration/retry`` has a
    ///   `maxAttempts` and that many failures happen in a row.
    public func run() async throws {
        logger.info("outbox relay started", metadata: ["postgres": "\(pool.configuration)"])
        var listener: PGConnection?
        var failures = 0
        service: while !Task.isCancelled {
            if listener == nil { listener = await openListener() }
            let outcome: DrainOutcome
            do {
                outcome = try await drain()
            } catch {
                if Task.isCancelled { break service }
                failures += 1
                logger.warning("outbox relay cannot read the outbox: \(error)")
                guard try await backOff(after: failures, cause: error) else { break service }
                continue service
            }
            switch outcome {
            case .drained, .busy:
                failures = 0
            case .publishFailed(let entry, let error):
                failures += 1
                logger.warning("publishing outbox entry \(entry.id) (\(entry.topic), message \(entry.messageId)) failed: \(error)")
                guard try await backOff(after: failures, cause: error) else { break service }
                continue service
            case .stopped:
                break service
            }
            listener = await waitForWork(listener)
        }
        logger.info("outbox relay stopped")
    }

    /// Publishes what is committed now, once, and returns: for short-lived
    /// processes such as the CLI, which should not wait for a service's relay.
    /// - Returns: `true` when this call drained the outbox, `false` when
    ///   another relay holds the drain lock (that relay publishes instead).
    /// - Throws: the publish or database error; the entry stays unpublished
    ///   and a running relay retries it.
    @discardableResult
    public func publishPending() async throws -> Bool {
        switch try await drain() {
        case .drained: return true
        case .busy, .stopped: return false
        case .publishFailed(_, let error): throw error
        }
    }

    // MARK: - Draining

    /// What one drain achieved.
    enum DrainOutcome {
        /// No unpublished entries remain (as far as this relay could see).
        case drained
        /// Another relay holds the drain lock.
        case busy
        /// `publish` threw for this entry; earlier ones were marked.
        case publishFailed(OutboxEntry, any Error)
        /// The task was cancelled during a publish; earlier ones were marked.
        case stopped
    }

    /// Publishes batches until the outbox is empty or a publish fails, then
    /// gives the lease back (unless another relay holds it).
    func drain() async throws -> DrainOutcome {
        do {
            while true {
                let (outcome, fullBatch) = try await drainBatch()
                guard case .drained = outcome, fullBatch else {
                    if case .busy = outcome { return outcome }
                    try await releaseLease()
                    return outcome
                }
            }
        } catch {
            // Without the database the lease cannot be given back; it runs out on its own.
            try? await releaseLease()
            throw error
        }
    }

    /// The lease's one row.
    private static let leaseName = "outbox-relay"

    /// Takes or extends the drain lease for ``Configuration/leaseDuration``
    /// from now; false when another relay holds it.
    private func acquireLease(on connection: PGConnection) async throws -> Bool {
        let seconds = Double(configuration.leaseDuration.components.seconds)
            + Double(configuration.leaseDuration.components.attoseconds) / 1e18
        return try await !connection.query("""
            INSERT INTO outbox_relay_lease AS lease (name, holder, expires_at)
            VALUES (\(Self.leaseName), \(holder), clock_timestamp() + make_interval(secs => \(seconds)))
            ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE lease.holder = excluded.holder OR lease.expires_at <= clock_timestamp()
            RETURNING holder
            """).isEmpty
    }

    /// Gives the lease back, if this relay holds it, so the next drain (any relay's) need not wait for it to run out.
    private func releaseLease() async throws {
        _ = try await pool.withConnection { connection in
            try await connection.execute("""
                UPDATE outbox_relay_lease SET expires_at = clock_timestamp()
                 WHERE name = \(Self.leaseName) AND holder = \(holder)
                """)
        }
    }

    /// One batch: take the lease and read the batch (a short transaction),
    /// publish it in order with nothing held, mark what was sent and set
    /// aside what never can be (a second short transaction).
    private func drainBatch() async throws -> (DrainOutcome, fullBatch: Bool) {
        let batchSize = configuration.batchSize
        let taken = try await pool.withTransaction { connection -> [OutboxEntry]? in
            guard try await acquireLease(on: connection) else { return nil }
            return try await connection.query("""
                SELECT id, message_id, topic, key, payload, created_at FROM outbox
                WHERE published_at IS NULL AND failed_at IS NULL
                ORDER BY id
                LIMIT \(batchSize)
                """).decode(OutboxEntry.self)
        }
        guard let entries = taken else { return (.busy, false) }
        guard !entries.isEmpty else { return (.drained, false) }

        let results = await publishBatch(entries)
        precondition(results.count == entries.count, "publishBatch gave \(results.count) outcomes for \(entries.count) entries")
        var published: [Int64] = []
        var rejected: [(OutboxEntry, OutboxEntryRejected)] = []
        var outcome = DrainOutcome.drained
        for (entry, result) in zip(entries, results) {
            switch result {
            case .success:
                published.append(entry.id)
            case .failure(let rejection as OutboxEntryRejected):
                rejected.append((entry, rejection))
            case .failure(let error):
                // The first failure is the one reported; the rest stay unpublished with it.
                guard case .drained = outcome, !(error is NotAttempted) else { continue }
                outcome = Task.isCancelled ? .stopped : .publishFailed(entry, error)
            }
        }
        if !published.isEmpty || !rejected.isEmpty {
            let published = published
            let rejected = rejected
            try await pool.withTransaction { connection in
                if !published.isEmpty {
                    // Another relay may have sent and marked them meanwhile (this one's lease ran out): keep its mark.
                    try await connection.execute("""
                        UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(\(published)) AND published_at IS NULL
                        """)
                }
                for (entry, rejection) in rejected { try await setAside(entry, because: rejection, on: connection) }
            }
            if !published.isEmpty {
                logger.debug("published \(published.count) outbox entries", metadata: [
                    "first": "\(published[0])", "last": "\(published[published.count - 1])",
                ])
            }
        }
        return (outcome, entries.count == batchSize)
    }

    /// Marks `entry` as never publishable and records a dead letter for it.
    private func setAside(_ entry: OutboxEntry, because rejection: OutboxEntryRejected,
                          on connection: PGConnection) async throws {
        logger.error("outbox entry \(entry.id) (\(entry.topic), message \(entry.messageId)) can never be published; set aside: \(rejection.reason)")
        // Set aside once, whichever relay saw the rejection first.
        guard try await connection.execute("""
            UPDATE outbox SET failed_at = clock_timestamp(), failure = \(rejection.reason)
             WHERE id = \(entry.id) AND failed_at IS NULL AND published_at IS NULL
            """) == 1 else { return }
        try await DeadLetterStore.record(DeadLetterRecord(
            topic: entry.topic, partition: nil, offset: nil, key: entry.key, payload: entry.payload,
            reason: "outbox entry \(entry.id), message \(entry.messageId): \(rejection.reason)",
            consumer: Self.deadLetterConsumer), on: connection)
    }

    // MARK: - Waiting

    /// A connection listening on the outbox channel, or `nil` (then the relay polls).
    private func openListener() async -> PGConnection? {
        do {
            let connection = try await PGConnection.connect(pool.configuration, logger: logger)
            try await connection.listen(PPFSchema.outboxChannel)
            return connection
        } catch {
            logger.warning("outbox relay cannot LISTEN (\(error)); polling every \(formatSeconds(configuration.pollInterval)) instead")
            return nil
        }
    }

    /// Waits for a notification or the poll interval; returns the listener if still usable.
    private func waitForWork(_ listener: PGConnection?) async -> PGConnection? {
        guard let listener else {
            try? await Task.sleep(for: configuration.pollInterval)
            return nil
        }
        do {
            _ = try await listener.waitForNotifications(timeout: configuration.pollInterval)
            return listener
        } catch {
            logger.warning("outbox relay lost its LISTEN connection: \(error)")
            return nil
        }
    }

    /// Sleeps the backoff for the `failures`-th failure in a row; `false` if
    /// cancelled meanwhile. Throws `cause` when the policy's attempts run out.
    private func backOff(after failures: Int, cause: any Error) async throws -> Bool {
        guard let delay = configuration.retry.delay(afterFailedAttempt: failures) else {
            logger.error("outbox relay giving up after \(failures) failures in a row")
            throw cause
        }
        do {
            try await Task.sleep(for: delay)
            return true
        } catch {
            return false
        }
    }
}
