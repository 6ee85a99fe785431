import Foundation
import Logging
import PPFContracts
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: the transactional outbox and its relay.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct OutboxTests {
    struct Note: MessagePayload, Equatable {
        static let messageType = "test-note"
        static let schemaVersion = 1
        var text: String
    }

    /// What the relays' `publish` saw.
    actor PublishLog {
        private(set) var published: [OutboxEntry] = []
        private var attempts: [UUID: Int] = [:]
        private var failuresLeft: [UUID: Int] = [:]

        /// Makes the next `count` publishes of `messageId` fail.
        func fail(_ messageId: UUID, times count: Int) { failuresLeft[messageId] = count }

        func publish(_ entry: OutboxEntry) throws {
            attempts[entry.messageId, default: 0] += 1
            if let left = failuresLeft[entry.messageId], left > 0 {
                failuresLeft[entry.messageId] = left - 1
                throw TestSetupError("broker unavailable (simulated)")
            }
            published.append(entry)
        }

        func attempts(for messageId: UUID) -> Int { attempts[messageId, default: 0] }
        var publishedIds: [UUID] { published.map(\.messageId) }
    }

    actor Stamp {
        private(set) var instant: ContinuousClock.Instant?
        func set(_ value: ContinuousClock.Instant) { instant = value }
    }

    /// Runs `count` relays while `body` runs, then cancels them and waits for them to stop.
    static func withRelays(
        _ count: Int = 1, schema: TestSchema, log: PublishLog,
        configuration: OutboxRelay.Configuration = .init(batchSize: 4, pollInterval: .milliseconds(200),
                                                         retry: RetryPolicy(initialDelay: .milliseconds(10), maxDelay: .milliseconds(50))),
        _ body: @escaping @Sendable () async throws -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await OutboxRelay(pool: schema.pool, configuration: configuration, logger: quietLogger) { entry in
                        try await log.publish(entry)
                    }.run()
                }
            }
            do {
                try await body()
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// Enqueues one note per transaction; returns the message ids in commit order.
    static func enqueue(_ texts: [String], pool: PGPool) async throws -> [UUID] {
        var ids: [UUID] = []
        for text in texts {
            let envelope = Envelope(correlationId: UUID(), producer: "tests", payload: Note(text: text))
            try await pool.withTransaction { connection in
                try await Outbox.enqueue(envelope, topic: Topic.plans, key: "model-1", on: connection)
            }
            ids.append(envelope.messageId)
        }
        return ids
    }

    static func unpublished(_ pool: PGPool) async throws -> Int {
        try await pool.withConnection { try await Outbox.unpublishedCount(on: $0) }
    }

    // MARK: - Tests

    @Test func twoRelaysPublishEveryCommittedEntryExactlyOnceInOrder() async throws {
        try await TestDatabase.withSchema { schema in
            let log = PublishLog()
            // Committed while no relay runs: published once a relay starts.
            let before = try await Self.enqueue((0..<13).map { "before \($0)" }, pool: schema.pool)
            try await Self.withRelays(2, schema: schema, log: log) {
                let during = try await Self.enqueue((0..<13).map { "during \($0)" }, pool: schema.pool)
                try await expectEventually { await log.published.count >= 26 }
                try await Task.sleep(for: .milliseconds(300))  // room for a duplicate to show up
                #expect(await log.publishedIds == before + during)
            }
            #expect(try await Self.unpublished(schema.pool) == 0)
            let markedLate = try await schema.pool.withConnection {
                try await $0.query("SELECT count(*) FROM outbox WHERE published_at IS NULL OR published_at < created_at").decode(Int.self)
            }
            #expect(markedLate == [0])
        }
    }

    /// A relay that holds the drain lock and then stalls (a frozen process,
    /// a half-open connection) loses the lock after its idle timeout, and
    /// another relay publishes: one stalled service stalls no outbox.
    @Test func aStalledLockHolderLosesTheLockAndAnotherRelayPublishes() async throws {
        try await TestDatabase.withSchema { schema in
            let stalled = Stamp()
            let log = PublishLog()
            let ids = try await Self.enqueue(["while the holder is frozen"], pool: schema.pool)
            var configuration = OutboxRelay.Configuration(batchSize: 4, pollInterval: .milliseconds(200),
                                                          retry: RetryPolicy(initialDelay: .milliseconds(10), maxDelay: .milliseconds(50)))
            configuration.leaseDuration = .seconds(1)
            let holder = Task {
                try await OutboxRelay(pool: schema.pool, configuration: configuration, logger: quietLogger) { _ in
                    await stalled.set(.now)
                    try await Task.sleep(for: .seconds(3600))  // never sends: stalled inside the lock
                }.run()
            }
            try await expectEventually { await stalled.instant != nil }
            let started = ContinuousClock.now
            try await Self.withRelays(1, schema: schema, log: log, configuration: configuration) {
                try await expectEventually { await log.publishedIds == ids }
            }
            // The idle timeout is 1 s; without it the stall would last the hour. The bound leaves room for a loaded runner.
            #expect(ContinuousClock.now - started < TestDeadlines.scaled(.seconds(30)), "published soon after the stall")
            holder.cancel()
            _ = try? await holder.value
        }
    }

    @Test func aRelayWaitingOnTheBrokerHoldsNoTransactionOpen() async throws {
        try await TestDatabase.withSchema { schema in
            let stalled = Stamp()
            _ = try await Self.enqueue(["waiting on the broker"], pool: schema.pool)
            // A lease far longer than the test: only the transaction handling is under test here.
            let configuration = OutboxRelay.Configuration(batchSize: 4, pollInterval: .milliseconds(200),
                                                          leaseDuration: .seconds(120))
            let holder = Task {
                try await OutboxRelay(pool: schema.pool, configuration: configuration, logger: quietLogger) { _ in
                    await stalled.set(.now)
                    try await Task.sleep(for: .seconds(3600))  // the broker never answers
                }.run()
            }
            try await expectEventually { await stalled.instant != nil }
            try await Task.sleep(for: .seconds(1))
            // A session of this schema's pool that sits in a transaction whose last statement read the outbox.
            let held = try await schema.pool.withConnection { connection in
                try await connection.query("""
                    SELECT count(*)::int FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND state LIKE 'idle in transaction%' AND query LIKE '%FROM outbox%'
                       AND state_change < now() - interval '500 milliseconds'
                    """).first?.decode(Int.self, column: 0)
            }
            #expect(held == 0, "the relay keeps no transaction open while it waits for the broker")
            let lease = try await schema.pool.withConnection { connection in
                try await connection.query("SELECT count(*)::int FROM outbox_relay_lease WHERE expires_at > now()")
                    .first?.decode(Int.self, column: 0)
            }
            #expect(lease == 1, "it holds the drain lease instead")
            holder.cancel()
            _ = try? await holder.value
        }
    }

    @Test func publishedEntryCarriesTheEncodedEnvelopeUnchanged() async throws {
        try await TestDatabase.withSchema { schema in
            let log = PublishLog()
            let ids = try await Self.enqueue(["hello ✓"], pool: schema.pool)
            try await Self.withRelays(schema: schema, log: log) {
                try await expectEventually { await log.published.count == 1 }
            }
            let entry = try #require(await log.published.first)
            #expect(entry.messageId == ids[0])
            #expect(entry.topic == Topic.plans && entry.key == "model-1")
            let envelope = try Envelope<Note>.decode(entry.payload)
            #expect(envelope.payload == Note(text: "hello ✓"))
            #expect(envelope.messageId == ids[0])
        }
    }

    @Test func entryEnqueuedInARolledBackTransactionIsNeverPublished() async throws {
        struct Abort: Error {}
        try await TestDatabase.withSchema { schema in
            let log = PublishLog()
            let rolledBack = UUID()
            try await Self.withRelays(schema: schema, log: log) {
                await #expect(throws: Abort.self) {
                    try await schema.pool.withTransaction { connection in
                        try await Outbox.enqueue(Array("lost".utf8), messageId: rolledBack, topic: Topic.plans, key: "m", on: connection)
                        throw Abort()
                    }
                }
                let committed = try await Self.enqueue(["kept"], pool: schema.pool)
                try await expectEventually { await log.published.count >= 1 }
                try await Task.sleep(for: .milliseconds(300))
                #expect(await log.publishedIds == committed)
            }
            let rows = try await schema.pool.withConnection {
                try await $0.query("SELECT count(*) FROM outbox WHERE message_id = \(rolledBack)").decode(Int.self)
            }
            #expect(rows == [0])
        }
    }

    @Test func failingPublishIsRetriedWithoutLosingOrder() async throws {
        try await TestDatabase.withSchema { schema in
            let log = PublishLog()
            let ids = try await Self.enqueue(["one", "two", "three"], pool: schema.pool)
            await log.fail(ids[1], times: 3)
            try await Self.withRelays(schema: schema, log: log) {
                try await expectEventually { await log.published.count >= 3 }
            }
            #expect(await log.publishedIds == ids)
            #expect(await log.attempts(for: ids[0]) == 1)
            #expect(await log.attempts(for: ids[1]) == 4)
            #expect(await log.attempts(for: ids[2]) == 1)
            #expect(try await Self.unpublished(schema.pool) == 0)
        }
    }

    /// The batch form: a whole batch goes to the publisher at once; what
    /// failed in it is retried alone, and what succeeded is never sent again.
    @Test func aBatchIsPublishedTogetherAndOnlyItsFailedEntryIsRetried() async throws {
        actor BatchLog {
            var calls: [[UUID]] = []
            var failuresLeft = 2
            var failing: UUID?
            func publish(_ entries: [OutboxEntry]) -> [Result<Void, any Error>] {
                calls.append(entries.map(\.messageId))
                return entries.map { entry in
                    guard entry.messageId == failing, failuresLeft > 0 else { return .success(()) }
                    failuresLeft -= 1
                    return .failure(TestSetupError("broker unavailable (simulated)"))
                }
            }
            func setFailing(_ id: UUID) { failing = id }
        }
        try await TestDatabase.withSchema { schema in
            let log = BatchLog()
            let ids = try await Self.enqueue(["one", "two", "three", "four"], pool: schema.pool)
            await log.setFailing(ids[1])
            let relay = OutboxRelay(pool: schema.pool, configuration: .init(batchSize: 10, retry: RetryPolicy(initialDelay: .milliseconds(10))),
                                    logger: quietLogger) { await log.publish($0) }
            for _ in 0..<2 {
                await #expect(throws: TestSetupError.self) { try await relay.publishPending() }
            }
            #expect(try await relay.publishPending())
            let calls = await log.calls
            #expect(calls == [ids, [ids[1]], [ids[1]]], "the batch at once, then its failed entry alone")
            #expect(try await Self.unpublished(schema.pool) == 0)
        }
    }

    @Test func notificationWakesTheRelayLongBeforeThePollAndCancellationStopsIt() async throws {
        try await TestDatabase.withSchema { schema in
            let log = PublishLog()
            let slowPolling = OutboxRelay.Configuration(pollInterval: .seconds(60))
            let clock = ContinuousClock()
            let stopped = Stamp()
            try await Self.withRelays(schema: schema, log: log, configuration: slowPolling) {
                _ = try await Self.enqueue(["first"], pool: schema.pool)
                try await expectEventually { await log.published.count == 1 }
                // The relay now sleeps on LISTEN; only NOTIFY can wake it within the minute.
                let start = clock.now
                _ = try await Self.enqueue(["second"], pool: schema.pool)
                try await expectEventually(within: .seconds(5)) { await log.published.count == 2 }
                #expect(clock.now - start < .seconds(30), "woken by NOTIFY, not the 60 s poll")
                await stopped.set(clock.now)
            }
            #expect(clock.now - (await stopped.instant ?? clock.now) < .seconds(2), "cancelling the relay should stop it promptly")
        }
    }

    @Test func enqueueOutsideATransactionIsRefused() async throws {
        try await TestDatabase.withSchema { schema in
            let error = await #expect(throws: StoreError.self) {
                try await schema.pool.withConnection {
                    try await Outbox.enqueue([1], messageId: UUID(), topic: Topic.plans, key: "m", on: $0)
                }
            }
            #expect(error?.code == .notInTransaction)
        }
    }
}
