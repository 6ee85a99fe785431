// MARK: - KafkaConfiguration

/// Everything PPF lets you tune about its Kafka clients, as a value.
///
/// Every default is chosen for the local stack (Tansu on loopback) and
/// documented on its property. ``librdkafkaProperties(for:)`` is the one place
/// that turns it into librdkafka's string keys. Reading the environment or
/// command line into this value is `PPFRuntime`'s job, not this module's.
public struct KafkaConfiguration: Sendable, Equatable {
    /// Where the brokers listen. Default: `["127.0.0.1:19092"]`, the local stack.
    public var bootstrapServers: [String] = ["127.0.0.1:19092"]
    /// Names this client in broker logs. Default: `"ppf"`.
    public var clientId: String = "ppf"
    /// How long the group coordinator waits for a heartbeat before it evicts a
    /// member. Default: 6 s. librdkafka's own 45 s makes group joins take ~23 s
    /// on Tansu; 2–6 s makes them take 1.6–3.6 s (design.md, "Facts measured").
    public var sessionTimeout: Duration = .seconds(6)
    /// How often a consumer heartbeats; must be well below ``sessionTimeout``.
    /// Default: 1 s.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How long a consumer may go without polling before it is considered
    /// stuck and leaves the group. PPF keeps polling while the handler works
    /// (it pauses partitions instead), so this rarely matters. Default: 300 s.
    public var maxPollInterval: Duration = .seconds(300)
    /// Where a new consumer group starts reading. Default: `.earliest`, so a
    /// group that joins after messages were produced still sees them.
    public var autoOffsetReset: AutoOffsetReset = .earliest
    /// How long the producer keeps retrying a message before its delivery
    /// report fails. Default: 30 s.
    public var messageTimeout: Duration = .seconds(30)
    /// How long the producer waits to batch messages. Default: 5 ms
    /// (librdkafka's default): PPF's messages are few and latency matters.
    public var linger: Duration = .milliseconds(5)
    /// Whether the producer is idempotent (`enable.idempotence`). Default:
    /// off. An idempotent producer's id lives in the broker, and the local
    /// broker forgets it when it restarts: from then on it refuses every
    /// message of that producer (UNKNOWN_PRODUCER_ID) and librdkafka retries
    /// until each message times out, so the process never publishes again.
    /// PPF does not need it: the outbox relay sends one message at a time,
    /// and every consumer deduplicates on the message id, so a duplicate from
    /// a retry changes nothing. Turn it on only against brokers that keep
    /// producer state across restarts.
    public var idempotentProducer: Bool = false
    /// How often clients refresh topic metadata. Default: 5 s (librdkafka:
    /// 5 min). A consumer subscribed to a topic that is missing (the local
    /// broker forgets its topics on restart, and services recreate them)
    /// joins its partitions at the first refresh after the topic is back.
    public var metadataRefreshInterval: Duration = .seconds(5)
    /// Interval of librdkafka's statistics JSON; `nil` turns statistics off.
    /// Default: off.
    public var statisticsInterval: Duration? = nil
    /// Most verbose librdkafka log level forwarded to the logger. Default: `.warning`.
    public var logLevel: LogLevel = .warning
    /// How many fetched messages a consumer holds ahead of its handler before
    /// it pauses fetching. Default: 256. Not a librdkafka key. Pausing and
    /// resuming costs a fetch round trip, so a small buffer throttles a
    /// burst: with 8, the agent answered 200 back-to-back events at one per
    /// 50 ms, against one per 5 ms with 256 (docs/benchmarks.md).
    public var consumerBufferCapacity: Int = 256
    /// How many bytes of fetched messages a consumer holds ahead of its
    /// handler before it pauses fetching, whatever their count. Default: 16 MiB.
    public var consumerBufferBytes: Int = 16 << 20
    /// Raw librdkafka properties applied last, overriding everything above
    /// (for example `"partition.assignment.strategy": "cooperative-sticky"`).
    /// Default: none.
    public var extraProperties: [String: String] = [:]

    /// Creates the default configuration (see each property).
    public init() {}

    /// Creates the default configuration for the given brokers.
    public init(bootstrapServers: [String]) {
        self.bootstrapServers = bootstrapServers
    }

    /// Where a consumer group without a committed offset starts.
    public enum AutoOffsetReset: String, Sendable, Equatable {
        /// The oldest retained message.
        case earliest
        /// Only messages produced after the group joined.
        case latest
    }

    /// librdkafka's syslog-style log levels.
    public enum LogLevel: Int, Sendable, Equatable, Comparable {
        case critical = 2, error = 3, warning = 4, notice = 5, info = 6, debug = 7

        /// Lower levels are more severe.
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Which kind of client the properties are for.
    public enum ClientRole: Sendable, Equatable {
        /// A producer: acknowledged by all replicas, never creating topics.
        case producer
        /// A consumer in `groupId`: manual commits, manual offset store.
        case consumer(groupId: String)
        /// A client used only for admin requests and metadata.
        case admin
    }

    // MARK: - Translation to librdkafka

    /// The librdkafka properties for a client in `role`. This is the only
    /// place PPF's settings become librdkafka keys.
    public func librdkafkaProperties(for role: ClientRole) -> [String: String] {
        var properties: [String: String] = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "client.id": clientId,
            "statistics.interval.ms": statisticsInterval.map { String(Self.milliseconds($0)) } ?? "0",
            "log_level": String(logLevel.rawValue),
            "topic.metadata.refresh.interval.ms": String(Self.milliseconds(metadataRefreshInterval)),
        ]
        switch role {
        case .producer:
            // Every message is acknowledged by all in-sync replicas; retries
            // may duplicate it (see idempotentProducer), consumers dedupe.
            properties["acks"] = "all"
            properties["enable.idempotence"] = idempotentProducer ? "true" : "false"
            // Topics are created by the services with their partition counts
            // (Topic.all); a send must never create one with the broker's default.
            properties["allow.auto.create.topics"] = "false"
            properties["message.timeout.ms"] = String(Self.milliseconds(messageTimeout))
            properties["linger.ms"] = String(Self.milliseconds(linger))
            // One request in flight per broker connection: without idempotence, this is what keeps
            // a batch sent with sendAll in order on its partition when librdkafka retries part of it.
            properties["max.in.flight.requests.per.connection"] = "1"
        case .consumer(let groupId):
            // Offsets move only when the application says the handler
            // succeeded (at-least-once); see KafkaConsumer.commit(_:).
            properties["group.id"] = groupId
            properties["enable.auto.commit"] = "false"
            properties["enable.auto.offset.store"] = "false"
            properties["enable.partition.eof"] = "false"
            properties["auto.offset.reset"] = autoOffsetReset.rawValue
            properties["session.timeout.ms"] = String(Self.milliseconds(sessionTimeout))
            properties["heartbeat.interval.ms"] = String(Self.milliseconds(heartbeatInterval))
            properties["max.poll.interval.ms"] = String(Self.milliseconds(maxPollInterval))
        case .admin:
            break
        }
        properties.merge(extraProperties) { _, extra in extra }
        return properties
    }

    /// Whole milliseconds of a duration, as librdkafka's `*.ms` keys expect.
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
