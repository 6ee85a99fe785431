import CRdKafka
import Logging

// MARK: - RDKafkaClient

/// Owns one librdkafka client handle (`rd_kafka_t`). The only type whose
/// stored properties are C handles; everything public in `PPFBus` is built on
/// it and shows no C type.
///
/// librdkafka handles are thread-safe, so the class is `Sendable`; blocking
/// calls on it (poll, flush, commit, close, admin requests) are made from
/// dedicated threads or ``blockingQueue``, never from the cooperative pool.
final class RDKafkaClient: @unchecked Sendable {
    /// What the handle is for; decides its librdkafka type and callbacks.
    let role: KafkaConfiguration.ClientRole
    let logger: Logger
    /// Receives librdkafka's callbacks; must outlive `handle` (it is the C
    /// opaque). Stored properties are released after `deinit` has destroyed
    /// the handle, so it does.
    let callbacks: RDKafkaCallbacks
    private let handle: OpaquePointer

    private init(role: KafkaConfiguration.ClientRole, handle: OpaquePointer, callbacks: RDKafkaCallbacks, logger: Logger) {
        self.role = role
        self.handle = handle
        self.callbacks = callbacks
        self.logger = logger
    }

    deinit {
        // Blocks until librdkafka's threads stop; consumers are closed before.
        rd_kafka_destroy(handle)
    }

    /// Creates a client for `role`, after checking that the loaded librdkafka
    /// is recent enough.
    static func make(
        role: KafkaConfiguration.ClientRole,
        configuration: KafkaConfiguration,
        logger: Logger
    ) throws(BusError) -> RDKafkaClient {
        try KafkaLibrary.requireSupportedVersion()
        let callbacks = RDKafkaCallbacks(logger: logger)
        let conf = try makeConf(configuration.librdkafkaProperties(for: role))
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(callbacks).toOpaque())
        rd_kafka_conf_set_log_cb(conf, logCallback)
        rd_kafka_conf_set_error_cb(conf, errorCallback)
        let type: rd_kafka_type_t
        switch role {
        case .producer, .admin:
            type = RD_KAFKA_PRODUCER
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReportCallback)
        case .consumer:
            type = RD_KAFKA_CONSUMER
            rd_kafka_conf_set_rebalance_cb(conf, rebalanceCallback)
        }
        var reason = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &reason, reason.count) else {
            // rd_kafka_new takes the conf over only when it succeeds.
            rd_kafka_conf_destroy(conf)
            throw BusError(.clientCreationFailed, "could not create the Kafka client: \(text(of: reason))")
        }
        if case .consumer = role {
            // Serve rebalances, errors and logs from rd_kafka_consumer_poll
            // alone, so one thread drives the whole consumer.
            rd_kafka_poll_set_consumer(handle)
        }
        return RDKafkaClient(role: role, handle: handle, callbacks: callbacks, logger: logger)
    }

    /// Builds an `rd_kafka_conf_t`; destroys it again if a property is rejected.
    private static func makeConf(_ properties: [String: String]) throws(BusError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw BusError(.clientCreationFailed, "librdkafka could not allocate a configuration")
        }
        var reason = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &reason, reason.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw BusError(.invalidConfiguration,
                               "librdkafka rejected property \(key)=\(value): \(text(of: reason))")
            }
        }
        return conf
    }

    /// Lends the raw handle to `body`.
    /// - Warning: The pointer must not escape `body`; it dies with the client.
    func withHandle<Result, Failure: Error>(_ body: (OpaquePointer) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(handle)
    }

    /// Serves queued callbacks (delivery reports, errors, logs) for up to
    /// `timeoutMilliseconds`. Blocking: call it from a poll thread only.
    func poll(timeoutMilliseconds: Int32) {
        rd_kafka_poll(handle, timeoutMilliseconds)
    }

    /// librdkafka's fatal error, if one was raised (the client is then unusable).
    func fatalError() -> BusError? {
        var reason = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(handle, &reason, reason.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return BusError.kafka(.fatal, "librdkafka raised a fatal error; recreate the client", err,
                              detail: text(of: reason))
    }
}

// MARK: - Callbacks

/// What librdkafka's C callbacks reach through the config opaque: the logger,
/// and the consumer's rebalance listener.
final class RDKafkaCallbacks: @unchecked Sendable {
    let logger: Logger
    /// Set by the consumer after the client exists; called on its poll thread.
    let rebalanceListener = Locked<(@Sendable (RebalanceEvent) -> RebalanceResponse)?>(nil)

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaCallbacks? {
        opaque.map { Unmanaged<RDKafkaCallbacks>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// Forwards librdkafka's log lines to swift-log, keeping the facility.
private func logCallback(_ rk: OpaquePointer?, _ level: Int32, _ facility: UnsafePointer<CChar>?, _ buffer: UnsafePointer<CChar>?) {
    guard let rk, let callbacks = RDKafkaCallbacks.from(rd_kafka_opaque(rk)), let buffer else { return }
    let message = Logger.Message(stringLiteral: String(cString: buffer))
    let metadata: Logger.Metadata = ["rdkafka.facility": "\(facility.map { String(cString: $0) } ?? "-")"]
    switch level {
    case ...2: callbacks.logger.critical(message, metadata: metadata)
    case 3: callbacks.logger.error(message, metadata: metadata)
    case 4: callbacks.logger.warning(message, metadata: metadata)
    case 5: callbacks.logger.notice(message, metadata: metadata)
    case 6: callbacks.logger.info(message, metadata: metadata)
    default: callbacks.logger.debug(message, metadata: metadata)
    }
}

/// Logs client-level errors (broker down, authentication, fatal errors).
/// librdkafka recovers from the transient ones by itself.
private func errorCallback(_ rk: OpaquePointer?, _ err: Int32, _ reason: UnsafePointer<CChar>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let callbacks = RDKafkaCallbacks.from(opaque) else { return }
    let code = rd_kafka_resp_err_t(rawValue: err)
    let metadata: Logger.Metadata = ["rdkafka.error": "\(String(cString: rd_kafka_err2name(code)))"]
    let text = Logger.Message(stringLiteral: reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code)))
    if code == RD_KAFKA_RESP_ERR__FATAL {
        callbacks.logger.critical(text, metadata: metadata)
    } else if BusError.isRetriable(code) {
        callbacks.logger.warning(text, metadata: metadata)
    } else {
        callbacks.logger.error(text, metadata: metadata)
    }
}

// MARK: - Partition lists

extension RDKafkaClient {
    /// Builds a temporary `rd_kafka_topic_partition_list_t`, lends it to
    /// `body` and destroys it.
    /// - Warning: The list must not escape `body`.
    static func withPartitionList<Result, Failure: Error>(
        _ entries: [(TopicPartition, offset: Int64?)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let list = rd_kafka_topic_partition_list_new(Int32(max(entries.count, 1)))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topicPartition, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(list, topicPartition.topic, Int32(topicPartition.partition))!
            if let offset { element.pointee.offset = offset }
        }
        return try body(list)
    }

    /// Reads the topic-partitions of a C list.
    static func partitions(of list: UnsafePointer<rd_kafka_topic_partition_list_t>?) -> [TopicPartition] {
        guard let list, let elements = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            TopicPartition(topic: String(cString: elements[index].topic), partition: Int(elements[index].partition))
        }
    }
}

// MARK: - C strings

/// The text in a NUL-terminated buffer that librdkafka filled in.
func text(of buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
