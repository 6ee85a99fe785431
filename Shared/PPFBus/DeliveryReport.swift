// MARK: - DeliveryReport

/// Where the broker stored a produced message.
public struct DeliveryReport: Sendable, Hashable {
    /// Topic the message was written to.
    public var topic: String
    /// Partition the message was written to.
    public var partition: Int
    /// Offset of the message in its partition.
    public var offset: Int64

    /// Creates a report.
    public init(topic: String, partition: Int, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}
