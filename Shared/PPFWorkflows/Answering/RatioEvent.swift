import Foundation
import PPFBus
import PPFContracts
import PPFStore

// MARK: - RatioEvent

/// A ratio-change event in hand: received from the broker, or found pending
/// in PostgreSQL on start. Either way it is answered exactly once.
public struct RatioEvent: Sendable {
    /// Where the event came from (for the dead-letter entry of a rejection).
    public enum Origin: Sendable {
        /// Consumed from `topic` at `partition`/`offset` under `key`; the record's timestamp, if any.
        case message(topic: String, partition: Int, offset: Int64, key: String?, timestamp: Date?)
        /// A `ratio_events` row without an outcome, found on start.
        case reconcile
    }

    /// `ratio_events.id`: the envelope's message id, and the correlation id of every answer.
    public let id: UUID
    /// What was asked.
    public let change: RatioChange
    /// The envelope as received (or re-encoded from the row), kept for the dead-letter entry.
    public let envelopeBytes: [UInt8]
    /// Where it came from.
    public let origin: Origin
    /// When the asker created it (the envelope's time, or the row's).
    public let createdAt: Date
    /// When this process took it in hand, for the answer latency.
    public let receivedAt: ContinuousClock.Instant

    /// An event consumed from the broker.
    public init(envelope: Envelope<RatioChange>, message: ConsumedMessage) {
        id = envelope.messageId
        change = envelope.payload
        envelopeBytes = message.value
        origin = .message(topic: message.topic, partition: Int(message.partition), offset: message.offset,
                          key: message.keyString, timestamp: message.timestamp)
        createdAt = envelope.time
        receivedAt = .now
    }

    /// A pending event found in PostgreSQL.
    public init(record: RatioEventRecord, producer: String) throws {
        id = record.id
        change = try record.change()
        let envelope = Envelope(correlationId: record.id, producer: producer, payload: change, messageId: record.id,
                                time: record.createdAt)
        envelopeBytes = try envelope.encoded()
        origin = .reconcile
        createdAt = record.createdAt
        receivedAt = .now
    }

    /// The event id in its canonical lowercase form, for logs.
    public var label: String { id.uuidString.lowercased() }
}
