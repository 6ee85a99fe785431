import Foundation

/// A message no consumer could process, and why.
public struct DeadLetterRecord: Sendable, Equatable {
    /// The topic it was consumed from.
    public var topic: String
    /// Its partition, if it came from Kafka.
    public var partition: Int32?
    /// Its offset in that partition, if it came from Kafka.
    public var offset: Int64?
    /// Its key, if any.
    public var key: String?
    /// The raw message value, exactly as received.
    public var payload: [UInt8]
    /// What was wrong, for the person who reads the table.
    public var reason: String
    /// The consumer (service) that rejected it.
    public var consumer: String
    /// The record's own timestamp, if the broker reported one: with the
    /// partition and offset it names the record even across a broker restart
    /// that numbers offsets from 0 again.
    public var messageTimestamp: Date?

    /// Creates a dead letter.
    public init(topic: String, partition: Int32?, offset: Int64?, key: String?, payload: [UInt8],
                reason: String, consumer: String, messageTimestamp: Date? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.payload = payload
        self.reason = reason
        self.consumer = consumer
        self.messageTimestamp = messageTimestamp
    }
}

/// Writes to the `dead_letters` table.
public enum DeadLetterStore {
    /// Stores a dead letter, once: a letter for the same consumer, topic,
    /// partition, offset and record timestamp that is already stored (a
    /// redelivery after a crash) is not stored again.
    /// - Returns: the stored entry's id (the existing one for a repeat).
    @discardableResult
    public static func record(_ letter: DeadLetterRecord, on connection: PGConnection) async throws -> Int64 {
        let rows = try await connection.query("""
            WITH inserted AS (
                INSERT INTO dead_letters (topic, partition, "offset", key, payload, reason, consumer, message_timestamp)
                VALUES (\(letter.topic), \(letter.partition), \(letter.offset), \(letter.key),
                        \(letter.payload), \(letter.reason), \(letter.consumer), \(letter.messageTimestamp))
                ON CONFLICT (consumer, topic, partition, "offset", (coalesce(message_timestamp, 'epoch'::timestamptz)))
                   WHERE partition IS NOT NULL DO NOTHING
                RETURNING id
            )
            SELECT id FROM inserted
            UNION ALL
            SELECT id FROM dead_letters
             WHERE consumer = \(letter.consumer) AND topic = \(letter.topic)
               AND partition = \(letter.partition) AND "offset" = \(letter.offset)
               AND coalesce(message_timestamp, 'epoch'::timestamptz) = coalesce(\(letter.messageTimestamp)::timestamptz, 'epoch'::timestamptz)
            LIMIT 1
            """)
        guard let row = rows.first else { throw StoreError(.decodingFailed, "INSERT INTO dead_letters returned no id") }
        return try row.decode(Int64.self, column: 0)
    }
}
