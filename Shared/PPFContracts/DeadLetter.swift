import Foundation

// MARK: - DeadLetter

/// A message no consumer could process, with the reason, as published to
/// ``Topic/deadLetters`` and stored in the dead-letter table.
///
/// The original bytes are kept exactly, up to ``maximumValueBytes``: as
/// text when they are valid UTF-8 (the usual case, JSON), otherwise base64
/// (see ``Encoding``). A longer original keeps its head, and the letter
/// records its length and SHA-256, so a letter always fits the broker.
public struct DeadLetter: MessagePayload, Equatable {
    /// The envelope type of dead letters.
    public static let messageType = "dead-letter"
    /// Version 1: the fields below.
    public static let schemaVersion = 1

    /// How raw bytes are written into a string field.
    public enum Encoding: String, Codable, Sendable {
        /// The bytes were valid UTF-8 and are stored as that text.
        case utf8
        /// The bytes were not valid UTF-8 and are stored as standard base64.
        case base64
    }

    /// Topic the message was read from.
    public var originalTopic: String
    /// Partition it was read from.
    public var partition: Int
    /// Its offset in that partition.
    public var offset: Int64
    /// Its key, in ``keyEncoding``; `nil` when it had none.
    public var key: String?
    /// How ``key`` is written.
    public var keyEncoding: Encoding
    /// Its value, in ``valueEncoding``.
    public var value: String
    /// How ``value`` is written.
    public var valueEncoding: Encoding
    /// Why it was rejected, for a person to read.
    public var reason: String
    /// The consumer group that rejected it.
    public var consumerGroup: String
    /// When it was rejected.
    public var time: Date
    /// The original value's length in bytes when ``value`` holds only its head.
    public var originalValueLength: Int?
    /// The original value's SHA-256 (hex) when ``value`` holds only its head.
    public var originalValueSHA256: String?

    /// The most of the original value a letter keeps (64 KiB).
    public static let maximumValueBytes = 64 * 1024
    /// The most of the original key a letter keeps.
    public static let maximumKeyBytes = 1024
    /// The most of a reason a letter keeps.
    public static let maximumReasonCharacters = 4096

    /// Creates a dead letter from the original message's raw bytes.
    public init(originalTopic: String, partition: Int, offset: Int64, key: [UInt8]?, value: [UInt8],
                reason: String, consumerGroup: String, time: Date = Date()) {
        self.originalTopic = originalTopic
        self.partition = partition
        self.offset = offset
        (self.key, self.keyEncoding) = key.map { Self.encode(Array($0.prefix(Self.maximumKeyBytes))) } ?? (nil, .utf8)
        // A letter must fit the broker's message limit (1 MB by default), so
        // a large original keeps its head, its length and its SHA-256.
        let kept = value.count > Self.maximumValueBytes ? Array(value.prefix(Self.maximumValueBytes)) : value
        (self.value, self.valueEncoding) = Self.encode(kept)
        let truncated = kept.count < value.count
        let digest = truncated ? SHA256.hex(of: value) : nil
        self.originalValueLength = truncated ? value.count : nil
        self.originalValueSHA256 = digest
        let note = digest.map { " (payload truncated to its first \(kept.count) of \(value.count) bytes; SHA-256 \($0))" } ?? ""
        self.reason = String(reason.prefix(Self.maximumReasonCharacters)) + note
        self.consumerGroup = consumerGroup
        self.time = time
    }

    /// The original key bytes, or `nil` if there was none or it cannot be decoded.
    public var keyBytes: [UInt8]? { key.flatMap { Self.decode($0, keyEncoding) } }

    /// The original value bytes, or `nil` if the stored text cannot be decoded.
    public var valueBytes: [UInt8]? { Self.decode(value, valueEncoding) }

    private static func encode(_ bytes: [UInt8]) -> (String, Encoding) {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, .utf8) }
        return (Data(bytes).base64EncodedString(), .base64)
    }

    private static func decode(_ text: String, _ encoding: Encoding) -> [UInt8]? {
        switch encoding {
        case .utf8: Array(text.utf8)
        case .base64: Data(base64Encoded: text).map(Array.init)
        }
    }
}
