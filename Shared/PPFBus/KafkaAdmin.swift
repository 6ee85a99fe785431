import Logging

// MARK: - Admin types

/// A topic to create.
public struct TopicSpec: Sendable, Hashable {
    /// Topic name (see `PPFContracts.Topic`).
    public var name: String
    /// Number of partitions: the most consumers of one group that can work in parallel.
    public var partitions: Int
    /// Copies of each partition; 1 on the single local broker.
    public var replicationFactor: Int

    /// Creates a topic description.
    public init(name: String, partitions: Int, replicationFactor: Int = 1) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
    }
}

/// What ``KafkaAdmin/createTopics(_:timeout:)`` did with one topic.
public enum TopicCreation: Sendable, Hashable {
    /// The topic was created.
    case created
    /// The topic existed already and was left as it is (partition count included).
    case alreadyExisted
}

/// A broker of the cluster.
public struct BrokerMetadata: Sendable, Hashable {
    /// Broker id.
    public var id: Int
    /// Advertised host.
    public var host: String
    /// Advertised port.
    public var port: Int
}

/// One partition of a topic.
public struct PartitionMetadata: Sendable, Hashable {
    /// Partition number.
    public var id: Int
    /// Id of the leader broker (-1 if none).
    public var leader: Int
}

/// A topic and its partitions.
public struct TopicMetadata: Sendable, Hashable {
    /// Topic name.
    public var name: String
    /// Partitions, by id.
    public var partitions: [PartitionMetadata]
    /// The broker's error name for this topic, if it reported one.
    public var error: String?
}

/// The cluster as one metadata request saw it.
public struct ClusterMetadata: Sendable, Hashable {
    /// Brokers.
    public var brokers: [BrokerMetadata]
    /// Topics, sorted by name.
    public var topics: [TopicMetadata]

    /// The topic named `name`, if it exists.
    public func topic(_ name: String) -> TopicMetadata? { topics.first { $0.name == name } }
}

// MARK: - KafkaAdmin

/// Creates topics and reads cluster metadata (for start-up, tests and `ppf status`).
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient

    private init(client: RDKafkaClient) {
        self.client = client
    }

    /// Creates an admin client. It connects lazily, on the first request.
    /// - Throws: ``BusError`` if librdkafka is too old or rejects the configuration.
    public static func make(configuration: KafkaConfiguration, logger: Logger) throws -> KafkaAdmin {
        var logger = logger
        logger[metadataKey: "kafka.client"] = "admin"
        return KafkaAdmin(client: try RDKafkaClient.make(role: .admin, configuration: configuration, logger: logger))
    }

    /// Creates the topics that do not exist yet. Idempotent: a topic that
    /// already exists counts as success and is not changed.
    /// - Returns: what happened to each topic, by name.
    /// - Throws: ``BusError`` `.adminFailed` naming every topic that failed,
    ///   or `.brokerUnreachable`.
    @discardableResult
    public func createTopics(_ specs: [TopicSpec], timeout: Duration = .seconds(10)) async throws -> [String: TopicCreation] {
        guard !specs.isEmpty else { return [:] }
        let client = self.client
        let milliseconds = Int32(clamping: KafkaConfiguration.milliseconds(timeout))
        return try await BlockingCalls.run { () throws(BusError) in
            try client.createTopics(specs, timeoutMilliseconds: milliseconds)
        }
    }

    /// Fetches brokers, topics and partitions.
    /// - Throws: ``BusError`` `.brokerUnreachable` if no broker answered within `timeout`.
    public func metadata(timeout: Duration = .seconds(5)) async throws -> ClusterMetadata {
        let client = self.client
        let milliseconds = Int32(clamping: KafkaConfiguration.milliseconds(timeout))
        return try await BlockingCalls.run { () throws(BusError) in
            try client.metadata(timeoutMilliseconds: milliseconds)
        }
    }

    /// The names of all topics, sorted.
    public func listTopics(timeout: Duration = .seconds(5)) async throws -> [String] {
        try await metadata(timeout: timeout).topics.map(\.name)
    }
}
