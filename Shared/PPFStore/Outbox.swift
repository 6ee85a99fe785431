import Foundation
import PPFContracts

/// A message waiting in (or already sent from) the transactional outbox.
public struct OutboxEntry: Sendable, Equatable, PGRowDecodable {
    /// Position in the outbox; the relay publishes in this order.
    public var id: Int64
    /// The envelope's message id; consumers deduplicate on it.
    public var messageId: UUID
    /// The Kafka topic to publish to (see `Topic`).
    public var topic: String
    /// The Kafka key: the id that ordering must follow.
    public var key: String
    /// The encoded envelope, published as the message value unchanged.
    public var payload: [UInt8]
    /// When the entry was committed.
    public var createdAt: Date

    /// Reads the columns of `outbox` of the same names.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        messageId = try row.decode(column: "message_id")
        topic = try row.decode(column: "topic")
        key = try row.decode(column: "key")
        payload = try row.decode(column: "payload")
        createdAt = try row.decode(column: "created_at")
    }
}

/// Thrown by an ``OutboxRelay`` publisher for an entry the broker can never
/// take (a topic PPF does not have, a message over the size limit): the
/// relay sets it aside (`outbox.failed_at`, `outbox.failure`, and a dead
/// letter from ``OutboxRelay/deadLetterConsumer``) and publishes the entries
/// behind it, instead of retrying it forever.
public struct OutboxEntryRejected: Error, CustomStringConvertible {
    /// Why it can never be published, for the person reading the table.
    public var reason: String

    /// Creates the rejection.
    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// Writes to the transactional outbox.
///
/// Call ``enqueue(_:messageId:topic:key:on:)`` inside the same transaction as
/// the business write it announces: both commit or neither does, and the
/// ``OutboxRelay`` publishes only what committed.
public enum Outbox {
    /// Adds an encoded envelope to the outbox.
    /// - Returns: the entry's outbox id.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction (the
    ///   write would not be atomic with anything), `uniqueViolation` if the
    ///   message id is already in the outbox.
    @discardableResult
    public static func enqueue(_ envelopeBytes: [UInt8], messageId: UUID, topic: String, key: String,
                               on connection: PGConnection) async throws -> Int64 {
        guard await connection.isInTransaction else {
            throw StoreError(.notInTransaction, "Outbox.enqueue must run inside the transaction of the write it announces (use withTransaction)")
        }
        let rows = try await connection.query("""
            INSERT INTO outbox (message_id, topic, key, payload)
            VALUES (\(messageId), \(topic), \(key), \(envelopeBytes))
            RETURNING id
            """)
        guard let row = rows.first else {
            throw StoreError(.decodingFailed, "INSERT INTO outbox returned no id")
        }
        return try row.decode(Int64.self, column: 0)
    }

    /// Encodes an envelope and adds it to the outbox under its own message id.
    @discardableResult
    public static func enqueue<Payload: MessagePayload>(_ envelope: Envelope<Payload>, topic: String, key: String,
                                                        on connection: PGConnection) async throws -> Int64 {
        let bytes: [UInt8]
        do {
            bytes = try envelope.encoded()
        } catch {
            throw StoreError(.encodingFailed, "envelope \(envelope.messageId) could not be encoded: \(error)")
        }
        return try await enqueue(bytes, messageId: envelope.messageId, topic: topic, key: key, on: connection)
    }

    /// How many entries wait to be published (for health and tests); entries
    /// set aside as unpublishable (``OutboxEntryRejected``) do not count.
    public static func unpublishedCount(on connection: PGConnection) async throws -> Int {
        guard let row = try await connection.query(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL AND failed_at IS NULL").first else {
            return 0
        }
        return try row.decode(Int.self, column: 0)
    }
}

// MARK: - Many at once

extension Outbox {
    /// An envelope ready for the outbox.
    public struct Entry: Sendable {
        /// The envelope's message id.
        public var messageId: UUID
        /// Where it goes.
        public var topic: String
        /// Its partition key.
        public var key: String
        /// The encoded envelope (JSON).
        public var payload: [UInt8]

        /// Encodes `envelope` for `topic` under `key`.
        /// - Throws: ``StoreError`` `encodingFailed`.
        public init<Payload: MessagePayload>(_ envelope: Envelope<Payload>, topic: String, key: String) throws {
            do {
                payload = try envelope.encoded()
            } catch {
                throw StoreError(.encodingFailed, "envelope \(envelope.messageId) could not be encoded: \(error)")
            }
            messageId = envelope.messageId
            self.topic = topic
            self.key = key
        }
    }

    /// Adds many entries in one statement, in the caller's transaction, in
    /// the order given (their ids, hence their publication order, follow it).
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction,
    ///   `uniqueViolation` when a message id is already in the outbox,
    ///   `encodingFailed` for a payload that is not UTF-8 JSON.
    public static func enqueueMany(_ entries: [Entry], on connection: PGConnection) async throws {
        struct Row: Encodable { let ord: Int, message_id: UUID, topic: String, key: String, payload: String }
        guard await connection.isInTransaction else {
            throw StoreError(.notInTransaction, "Outbox.enqueueMany must run inside the transaction of the writes it announces (use withTransaction)")
        }
        guard !entries.isEmpty else { return }
        let rows = try entries.enumerated().map { index, entry in
            // Envelopes are JSON, so UTF-8 text carries them into jsonb_to_recordset unchanged.
            guard let text = String(validating: entry.payload, as: UTF8.self) else {
                throw StoreError(.encodingFailed, "outbox entry \(entry.messageId) is not UTF-8 text")
            }
            return Row(ord: index, message_id: entry.messageId, topic: entry.topic, key: entry.key, payload: text)
        }
        _ = try await connection.execute(try """
            INSERT INTO outbox (message_id, topic, key, payload)
            SELECT x.message_id, x.topic, x.key, convert_to(x.payload, 'UTF8')
              FROM jsonb_to_recordset(\(SQLJSON(rows))) AS x(ord integer, message_id uuid, topic text, key text, payload text)
             ORDER BY x.ord
            """)
    }
}
