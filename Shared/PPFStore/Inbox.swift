import Foundation

/// Idempotent consumption: remembers which messages each consumer handled.
///
/// ```swift
/// try await pool.withTransaction { connection in
///     guard try await Inbox.claim(consumer: "agent", messageId: envelope.messageId, on: connection) else {
///         return  // a redelivery: already handled
///     }
///     try await connection.execute("INSERT INTO policies …")
/// }
/// ```
/// The claim and the handler's writes commit together, so a crash before
/// COMMIT leaves the message unclaimed (it will be handled on redelivery) and
/// a crash after leaves it claimed (the redelivery is skipped).
public enum Inbox {
    /// Records that `consumer` handles `messageId` now.
    /// - Returns: `true` the first time; `false` if it was already processed
    ///   (skip the message). A concurrent claim of the same id waits for the
    ///   other transaction and then returns `false` if it committed.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction.
    public static func claim(consumer: String, messageId: UUID, on connection: PGConnection) async throws -> Bool {
        guard await connection.isInTransaction else {
            throw StoreError(.notInTransaction, "Inbox.claim must run inside the handler's transaction (use withTransaction)")
        }
        let inserted = try await connection.execute("""
            INSERT INTO processed_messages (consumer, message_id) VALUES (\(consumer), \(messageId))
            ON CONFLICT DO NOTHING
            """)
        return inserted == 1
    }

    /// Whether `consumer` already handled `messageId`: lets a handler skip
    /// expensive work (training) for a redelivery before it claims the
    /// message in its final transaction.
    public static func isProcessed(consumer: String, messageId: UUID, on connection: PGConnection) async throws -> Bool {
        try await !connection.query("""
            SELECT 1 FROM processed_messages WHERE consumer = \(consumer) AND message_id = \(messageId)
            """).isEmpty
    }
}

// MARK: - Many at once

extension Inbox {
    /// Claims many message ids for `consumer` in one statement, in the
    /// caller's transaction (``claim(consumer:messageId:on:)`` for each).
    /// - Returns: the ids this call claimed; the others were processed already.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction.
    public static func claimMany(consumer: String, messageIds: [UUID], on connection: PGConnection) async throws -> Set<UUID> {
        guard await connection.isInTransaction else {
            throw StoreError(.notInTransaction, "Inbox.claimMany must run inside the handler's transaction (use withTransaction)")
        }
        guard !messageIds.isEmpty else { return [] }
        return Set(try await connection.query("""
            INSERT INTO processed_messages (consumer, message_id)
            SELECT \(consumer), id FROM unnest(\(messageIds)) AS ids(id)
            ON CONFLICT DO NOTHING
            RETURNING message_id
            """).decode(UUID.self))
    }
}
