import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: idempotent consumption, dead letters, audit log.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct InboxTests {
    /// A handler in the recommended shape: claim and write in one transaction.
    static func handle(_ messageId: UUID, consumer: String = "test-consumer", pool: PGPool) async throws -> Bool {
        try await pool.withTransaction { connection in
            guard try await Inbox.claim(consumer: consumer, messageId: messageId, on: connection) else { return false }
            try await connection.execute("INSERT INTO effects (message_id) VALUES (\(messageId))")
            return true
        }
    }

    @Test func sameMessageClaimedTwiceIsHandledOnce() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { try await $0.execute("CREATE TABLE effects (message_id uuid)") }
            let id = UUID()
            let first = try await Self.handle(id, pool: schema.pool)
            let second = try await Self.handle(id, pool: schema.pool)
            #expect(first && !second)
            let effects = try await schema.pool.withConnection { try await $0.query("SELECT count(*) FROM effects").decode(Int.self) }
            #expect(effects == [1])
        }
    }

    @Test func concurrentClaimsOfOneMessageLetExactlyOneThrough() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { try await $0.execute("CREATE TABLE effects (message_id uuid)") }
            let id = UUID()
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<4 { group.addTask { try await Self.handle(id, pool: schema.pool) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            let effects = try await schema.pool.withConnection { try await $0.query("SELECT count(*) FROM effects").decode(Int.self) }
            #expect(effects == [1])
        }
    }

    @Test func claimRolledBackWithTheHandlerCanBeClaimedAgain() async throws {
        struct HandlerFailed: Error {}
        try await TestDatabase.withSchema { schema in
            let id = UUID()
            await #expect(throws: HandlerFailed.self) {
                try await schema.pool.withTransaction { connection in
                    _ = try await Inbox.claim(consumer: "c", messageId: id, on: connection)
                    throw HandlerFailed()
                }
            }
            let claimed = try await schema.pool.withTransaction { try await Inbox.claim(consumer: "c", messageId: id, on: $0) }
            #expect(claimed)
            let otherConsumer = try await schema.pool.withTransaction { try await Inbox.claim(consumer: "d", messageId: id, on: $0) }
            #expect(otherConsumer, "consumers deduplicate independently")
        }
    }

    @Test func claimOutsideATransactionIsRefused() async throws {
        try await TestDatabase.withSchema { schema in
            let error = await #expect(throws: StoreError.self) {
                try await schema.pool.withConnection { try await Inbox.claim(consumer: "c", messageId: UUID(), on: $0) }
            }
            #expect(error?.code == .notInTransaction)
        }
    }

    @Test func deadLettersAndAuditEntriesAreStored() async throws {
        struct Details: Codable, Sendable, Equatable { var ratio: Double }
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let letter = DeadLetterRecord(topic: "ppf.ratio-events", partition: 2, offset: 41, key: nil,
                                        payload: Array("{not json".utf8), reason: "malformed message", consumer: "agent")
                let id = try await DeadLetterStore.record(letter, on: connection)
                let row = try #require(try await connection.query("""
                    SELECT topic, partition, "offset", key, payload, reason, consumer FROM dead_letters WHERE id = \(id)
                    """).first)
                let stored = try row.decode((String, Int32?, Int64?, String?, [UInt8], String, String).self)
                #expect(DeadLetterRecord(topic: stored.0, partition: stored.1, offset: stored.2, key: stored.3,
                                   payload: stored.4, reason: stored.5, consumer: stored.6) == letter)

                let correlation = UUID()
                try await AuditLog.record(actor: "cli", action: "ratio-change", correlationId: correlation,
                                          details: Details(ratio: 0.3), on: connection)
                let audit = try #require(try await connection.query("""
                    SELECT actor, details FROM audit_log WHERE correlation_id = \(correlation)
                    """).first)
                #expect(try audit.decode(String.self, column: "actor") == "cli")
                #expect(try audit.decode(SQLJSON<Details>.self, column: "details").value == Details(ratio: 0.3))
            }
        }
    }
}

@Suite(.serialized) struct DeadLetterOnceTests {
    @Test(.timeLimit(.minutes(TestDeadlines.minutes(1)))) func theSameDeadLetterRecordedTwiceIsStoredOnce() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let letter = DeadLetterRecord(topic: "ppf.ratio-events", partition: 0, offset: 7, key: "m",
                                              payload: Array("garbage".utf8), reason: "malformed message",
                                              consumer: "agent")
                let first = try await DeadLetterStore.record(letter, on: connection)
                let second = try await DeadLetterStore.record(letter, on: connection)
                #expect(first == second)
                let count = try #require(try await connection.query(
                    "SELECT count(*)::bigint FROM dead_letters").first).decode(Int64.self, column: 0)
                #expect(count == 1)
            }
        }
    }

    /// The local broker keeps topics in memory and numbers offsets from 0 again
    /// after a restart (issue 16 §3): a new record at a reused offset is another
    /// letter, told apart by its timestamp; a redelivery of the same record is not.
    @Test(.timeLimit(.minutes(TestDeadlines.minutes(1)))) func aNewRecordAtAReusedOffsetIsAnotherLetter() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let before = Date(timeIntervalSince1970: 1_800_000_000.123)
                var letter = DeadLetterRecord(topic: "ppf.ratio-events", partition: 1, offset: 0, key: "m",
                                              payload: Array("garbage".utf8), reason: "malformed message",
                                              consumer: "agent", messageTimestamp: before)
                let first = try await DeadLetterStore.record(letter, on: connection)
                #expect(try await DeadLetterStore.record(letter, on: connection) == first, "a redelivery is stored once")
                letter.messageTimestamp = before.addingTimeInterval(30)
                let second = try await DeadLetterStore.record(letter, on: connection)
                #expect(second != first, "a record after the broker's restart is stored too")
                #expect(try await DeadLetterStore.record(letter, on: connection) == second)
                letter.messageTimestamp = nil
                let untimed = try await DeadLetterStore.record(letter, on: connection)
                #expect(try await DeadLetterStore.record(letter, on: connection) == untimed)
                let rows = try #require(try await connection.query("""
                    SELECT count(*)::bigint, count(message_timestamp)::bigint FROM dead_letters
                    """).first).decode((Int64, Int64).self)
                #expect(rows == (3, 2))
                let stored = try #require(try await connection.query(
                    "SELECT message_timestamp FROM dead_letters WHERE id = \(first)").first).decode(Date.self, column: 0)
                #expect(abs(stored.timeIntervalSince(before)) < 1e-5)
            }
        }
    }
}
