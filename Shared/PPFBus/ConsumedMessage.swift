import Foundation

// MARK: - ConsumedMessage

/// A message read from Kafka, copied out of librdkafka (no C memory is kept).
public struct ConsumedMessage: Sendable, Hashable {
    /// Topic it was read from.
    public var topic: String
    /// Partition it was read from.
    public var partition: Int
    /// Its offset in that partition.
    public var offset: Int64
    /// The key (the id ordering follows), if the producer set one.
    public var key: [UInt8]?
    /// The value bytes (a JSON envelope for PPF messages).
    public var value: [UInt8]
    /// Record headers, in order.
    public var headers: [KafkaHeader]
    /// The record's timestamp (producer create time, or broker log-append
    /// time), when the broker reported one.
    public var timestamp: Date?

    /// Creates a message (for tests and tools; consumers receive them).
    public init(topic: String, partition: Int, offset: Int64, key: [UInt8]?, value: [UInt8],
                headers: [KafkaHeader] = [], timestamp: Date? = nil) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// The partition this message came from.
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// The key as UTF-8 text, when it is valid UTF-8.
    public var keyString: String? { key.flatMap { String(validating: $0, as: UTF8.self) } }

    /// The first header named `name`.
    public func header(_ name: String) -> KafkaHeader? { headers.first { $0.name == name } }
}
