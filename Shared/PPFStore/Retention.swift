import Foundation

// MARK: - Retention

/// How long the bookkeeping tables keep their rows, in days (nil: forever).
///
/// - Published outbox entries: their messages are on the broker; the row
///   only serves `ppf status` and debugging. Unpublished entries are never
///   removed, whatever their age.
/// - Inbox claims (`processed_messages`): a claim must outlive every
///   redelivery of its message, so keep it longer than the broker keeps the
///   topic (Kafka's default is 7 days).
/// - Dead letters: what an operator reads to see what was refused; the
///   longest by default.
public struct RetentionPolicy: Sendable, Equatable {
    public var outboxDays: Double?
    public var inboxDays: Double?
    public var deadLetterDays: Double?

    /// The defaults: 7, 14 and 30 days.
    public static let standard = RetentionPolicy(outboxDays: 7, inboxDays: 14, deadLetterDays: 30)

    /// A policy; nil keeps a table's rows forever.
    public init(outboxDays: Double?, inboxDays: Double?, deadLetterDays: Double?) {
        self.outboxDays = outboxDays
        self.inboxDays = inboxDays
        self.deadLetterDays = deadLetterDays
    }
}

/// Deletes bookkeeping rows older than a ``RetentionPolicy`` says to keep,
/// in batches, so no statement holds many row locks or runs long.
public enum Retention {
    /// Rows deleted per statement.
    public static let batchSize = 5_000

    /// What one pass deleted.
    public struct Pruned: Sendable, Equatable {
        public var outbox = 0
        public var inbox = 0
        public var deadLetters = 0

        /// Nothing deleted yet.
        public init() {}

        /// Rows deleted in all.
        public var total: Int { outbox + inbox + deadLetters }
    }

    /// Deletes what `policy` no longer keeps, one batch at a time.
    /// - Throws: ``StoreError`` from the database.
    public static func prune(_ policy: RetentionPolicy, on connection: PGConnection) async throws -> Pruned {
        var pruned = Pruned()
        if let days = policy.outboxDays {
            pruned.outbox = try await deleteInBatches(on: connection) {
                """
                DELETE FROM outbox WHERE id IN (
                    SELECT id FROM outbox WHERE published_at IS NOT NULL
                       AND published_at < now() - make_interval(secs => \(days * 86_400)) LIMIT \(batchSize))
                """
            }
        }
        if let days = policy.inboxDays {
            pruned.inbox = try await deleteInBatches(on: connection) {
                """
                DELETE FROM processed_messages WHERE ctid IN (
                    SELECT ctid FROM processed_messages
                     WHERE processed_at < now() - make_interval(secs => \(days * 86_400)) LIMIT \(batchSize))
                """
            }
        }
        if let days = policy.deadLetterDays {
            pruned.deadLetters = try await deleteInBatches(on: connection) {
                """
                DELETE FROM dead_letters WHERE id IN (
                    SELECT id FROM dead_letters WHERE created_at < now() - make_interval(secs => \(days * 86_400))
                     LIMIT \(batchSize))
                """
            }
        }
        return pruned
    }

    /// Runs `statement` until a batch deletes fewer than ``batchSize`` rows.
    private static func deleteInBatches(on connection: PGConnection, _ statement: () -> SQLQuery) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await connection.execute(statement())
            total += deleted
            if deleted < batchSize { return total }
        }
    }
}
