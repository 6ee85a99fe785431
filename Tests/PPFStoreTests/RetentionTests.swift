import Foundation
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: the bookkeeping tables are pruned to their retention, and
/// nothing still owed (an unpublished outbox entry) is ever removed.
@Suite(.timeLimit(.minutes(TestDeadlines.minutes(1)))) struct RetentionTests {
    /// Inserts the rows of each table, `days` old.
    static func rows(agedDays days: Double, on connection: PGConnection) async throws {
        let age = days * 86_400
        _ = try await connection.execute("""
            INSERT INTO outbox (message_id, topic, key, payload, created_at, published_at)
            VALUES (\(UUID()), 't', 'k', '\\x00'::bytea, now() - make_interval(secs => \(age)), now() - make_interval(secs => \(age))),
                   (\(UUID()), 't', 'k', '\\x00'::bytea, now() - make_interval(secs => \(age)), NULL)
            """)
        _ = try await connection.execute("""
            INSERT INTO processed_messages (consumer, message_id, processed_at)
            VALUES ('c', \(UUID()), now() - make_interval(secs => \(age)))
            """)
        _ = try await connection.execute("""
            INSERT INTO dead_letters (topic, key, payload, reason, consumer, created_at)
            VALUES ('t', 'k', '\\x00'::bytea, 'r', 'c', now() - make_interval(secs => \(age)))
            """)
    }

    static func counts(on connection: PGConnection) async throws -> (published: Int, unpublished: Int, inbox: Int, dead: Int) {
        try await connection.query("""
            SELECT (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL)::int,
                   (SELECT count(*) FROM outbox WHERE published_at IS NULL)::int,
                   (SELECT count(*) FROM processed_messages)::int, (SELECT count(*) FROM dead_letters)::int
            """).decode((Int, Int, Int, Int).self).first ?? (0, 0, 0, 0)
    }

    @Test func rowsPastTheirRetentionAreDeletedAndUnpublishedEntriesNever() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                try await Self.rows(agedDays: 1, on: connection)
                try await Self.rows(agedDays: 10, on: connection)
                try await Self.rows(agedDays: 20, on: connection)
                try await Self.rows(agedDays: 400, on: connection)
                var pruned = try await Retention.prune(.standard, on: connection)
                // Published outbox: kept 7 days (the 1-day row); inbox 14 (1 and 10); dead letters 30 (1, 10, 20).
                #expect(pruned.outbox == 3 && pruned.inbox == 2 && pruned.deadLetters == 1)
                var left = try await Self.counts(on: connection)
                #expect(left.published == 1 && left.inbox == 2 && left.dead == 3)
                #expect(left.unpublished == 4, "an unpublished entry is still owed to the broker, whatever its age")

                pruned = try await Retention.prune(.standard, on: connection)
                #expect(pruned == Retention.Pruned(), "a second pass finds nothing")
                let forever = RetentionPolicy(outboxDays: nil, inboxDays: nil, deadLetterDays: nil)
                #expect(try await Retention.prune(forever, on: connection).total == 0)
                let tight = RetentionPolicy(outboxDays: 0.5, inboxDays: 0.5, deadLetterDays: 0.5)
                pruned = try await Retention.prune(tight, on: connection)
                #expect(pruned.outbox == 1 && pruned.inbox == 2 && pruned.deadLetters == 3)
                left = try await Self.counts(on: connection)
                #expect(left.published == 0 && left.inbox == 0 && left.dead == 0 && left.unpublished == 4)
            }
        }
    }

    @Test func aLargeBacklogIsDeletedInBatches() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let count = Retention.batchSize + 7
                _ = try await connection.execute("""
                    INSERT INTO processed_messages (consumer, message_id, processed_at)
                    SELECT 'c', gen_random_uuid(), now() - interval '30 days' FROM generate_series(1, \(count))
                    """)
                let pruned = try await Retention.prune(.standard, on: connection)
                #expect(pruned.inbox == count)
                #expect(try await Self.counts(on: connection).inbox == 0)
            }
        }
    }
}
