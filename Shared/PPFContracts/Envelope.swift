import Foundation

/// The versioned JSON envelope every PPF message travels in.
///
/// The envelope is what the bus and the store know about a message: who made
/// it, when, which request it belongs to, and which schema its payload
/// follows. Consumers are idempotent on ``messageId``; every message caused by
/// a ratio event carries that event's ``correlationId`` so one request can be
/// traced across services and tables.
public struct Envelope<Payload: Codable & Sendable>: Codable, Sendable {
    /// Unique id of this message; consumers skip ids they already processed.
    public var messageId: UUID
    /// Id of the request (usually a ratio event) that caused this message.
    public var correlationId: UUID
    /// Message type name, e.g. `"ratio-change"`; see ``MessageType``.
    public var type: String
    /// Schema version of ``payload`` for this ``type``.
    public var schemaVersion: Int
    /// When the producer created the message (UTC).
    public var time: Date
    /// The producing service instance, e.g. `"agent/host-1234"`.
    public var producer: String
    /// The message body.
    public var payload: Payload

    /// Creates an envelope; a new message id is drawn unless one is given.
    public init(
        messageId: UUID = UUID(),
        correlationId: UUID,
        type: String,
        schemaVersion: Int,
        time: Date = Date(),
        producer: String,
        payload: Payload
    ) {
        self.messageId = messageId
        self.correlationId = correlationId
        self.type = type
        self.schemaVersion = schemaVersion
        self.time = time
        self.producer = producer
        self.payload = payload
    }

    enum CodingKeys: String, CodingKey {
        case messageId, correlationId, type, schemaVersion, time, producer, payload
    }

    /// Encodes ids in their canonical lowercase form (as PostgreSQL prints
    /// them), so the same id reads the same on the bus, in the database and
    /// in logs.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(messageId.uuidString.lowercased(), forKey: .messageId)
        try container.encode(correlationId.uuidString.lowercased(), forKey: .correlationId)
        try container.encode(type, forKey: .type)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(time, forKey: .time)
        try container.encode(producer, forKey: .producer)
        try container.encode(payload, forKey: .payload)
    }
}

/// The envelope's header fields without the payload: enough to route, log
/// and dead-letter a message whose payload cannot be decoded.
public struct EnvelopeHeader: Codable, Sendable, Equatable {
    public var messageId: UUID
    public var correlationId: UUID
    public var type: String
    public var schemaVersion: Int
    public var time: Date
    public var producer: String
}

/// A payload type that names its message type and current schema version.
public protocol MessagePayload: Codable, Sendable {
    /// The envelope `type` this payload travels under.
    static var messageType: String { get }
    /// The schema version this code writes and accepts.
    static var schemaVersion: Int { get }
}

/// JSON coding shared by every producer and consumer, so that golden files,
/// the bus and the store agree byte for byte: ISO-8601 dates with
/// fractional seconds, sorted keys.
public enum MessageCoding {
    /// Encoder for envelopes and payloads.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatISO8601(date))
        }
        return encoder
    }

    /// Decoder for envelopes and payloads.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseISO8601(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "not an ISO-8601 date: \(text)")
            }
            return date
        }
        return decoder
    }

    static func formatISO8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func parseISO8601(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// Why a message could not be accepted, in a form fit for a dead-letter entry.
public enum EnvelopeRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The bytes are not JSON, or not an envelope.
    case malformed(String)
    /// The envelope's type is not the one this consumer handles.
    case unexpectedType(expected: String, actual: String)
    /// The schema version is not one this code understands.
    case unsupportedSchemaVersion(type: String, version: Int, supported: Int)
    /// The payload decoded but its values are out of range or inconsistent.
    case invalidPayload(String)
    /// The handler failed on the message this many times in a row (a
    /// permanent fault that is not a rejection: a database constraint, a
    /// value the store cannot hold, a send the broker refuses); the last error.
    case failedRepeatedly(attempts: Int, lastError: String)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed message: \(why)"
        case .unexpectedType(let expected, let actual): "unexpected message type '\(actual)' (expected '\(expected)')"
        case .unsupportedSchemaVersion(let type, let version, let supported):
            "unsupported schema version \(version) for '\(type)' (this build understands \(supported))"
        case .invalidPayload(let why): "invalid payload: \(why)"
        case .failedRepeatedly(let attempts, let lastError): "the handler failed \(attempts) times in a row; last error: \(lastError)"
        }
    }
}

extension Envelope where Payload: MessagePayload {
    /// Creates an envelope with the payload's own type name and schema version.
    public init(correlationId: UUID, producer: String, payload: Payload, messageId: UUID = UUID(), time: Date = Date()) {
        self.init(messageId: messageId, correlationId: correlationId, type: Payload.messageType,
                  schemaVersion: Payload.schemaVersion, time: time, producer: producer, payload: payload)
    }

    /// Encodes the envelope as JSON bytes.
    public func encoded() throws -> [UInt8] {
        Array(try MessageCoding.encoder().encode(self))
    }

    /// Decodes and checks an envelope: the type must be `Payload.messageType`
    /// and the schema version `Payload.schemaVersion`.
    /// - Throws: ``EnvelopeRejection`` describing what is wrong.
    public static func decode(_ bytes: [UInt8]) throws(EnvelopeRejection) -> Envelope<Payload> {
        let data = Data(bytes)
        let header: EnvelopeHeader
        do {
            header = try MessageCoding.decoder().decode(EnvelopeHeader.self, from: data)
        } catch {
            throw .malformed(describe(error))
        }
        guard header.type == Payload.messageType else {
            throw .unexpectedType(expected: Payload.messageType, actual: header.type)
        }
        guard header.schemaVersion == Payload.schemaVersion else {
            throw .unsupportedSchemaVersion(type: header.type, version: header.schemaVersion,
                                            supported: Payload.schemaVersion)
        }
        do {
            return try MessageCoding.decoder().decode(Envelope<Payload>.self, from: data)
        } catch {
            throw .invalidPayload(describe(error))
        }
    }
}

/// A short, human-readable account of a decoding error.
func describe(_ error: any Error) -> String {
    guard let decodingError = error as? DecodingError else { return "\(error)" }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map(\.stringValue).joined(separator: ".")
        return keys.isEmpty ? "" : " at '\(keys)'"
    }
    switch decodingError {
    case .dataCorrupted(let context): return "data corrupted\(path(context)): \(context.debugDescription)"
    case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(path(context))"
    case .typeMismatch(let type, let context): return "expected \(type)\(path(context))"
    case .valueNotFound(let type, let context): return "missing \(type) value\(path(context))"
    @unknown default: return "\(decodingError)"
    }
}
