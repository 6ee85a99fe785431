import CRdKafka
import Foundation

// MARK: - Rebalance bridge

/// A group rebalance as the consumer sees it, already applied to librdkafka.
enum RebalanceEvent: Sendable, Equatable {
    /// These partitions are now ours.
    case assigned([TopicPartition])
    /// These partitions are about to be taken away.
    case revoked([TopicPartition])
    /// The rebalance failed; every partition was unassigned.
    case failed(String)
}

/// What the consumer wants done with newly assigned partitions.
enum RebalanceResponse: Sendable, Equatable {
    /// Start fetching them.
    case fetch
    /// Pause them at once: the consumer's buffer is full (backpressure).
    case pause
}

/// librdkafka's rebalance callback. It runs on the consumer's poll thread,
/// inside `rd_kafka_consumer_poll` or `rd_kafka_consumer_close`, and must
/// (un)assign before it returns. Handles both the eager protocol (the
/// default `range,roundrobin` assignors) and the cooperative one.
func rebalanceCallback(
    _ rk: OpaquePointer?,
    _ err: rd_kafka_resp_err_t,
    _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let rk else { return }
    let callbacks = RDKafkaCallbacks.from(opaque)
    let listener = callbacks?.rebalanceListener.withLock { $0 }
    let cooperative = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } == "COOPERATIVE"
    let topicPartitions = RDKafkaClient.partitions(of: partitions)

    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, partitions) {
                callbacks?.logger.error("incremental assign failed: \(String(cString: rd_kafka_error_string(error)))")
                rd_kafka_error_destroy(error)
            }
        } else {
            let result = rd_kafka_assign(rk, partitions)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                callbacks?.logger.error("assign failed: \(String(cString: rd_kafka_err2str(result)))")
            }
        }
        if listener?(.assigned(topicPartitions)) == .pause, let partitions {
            _ = rd_kafka_pause_partitions(rk, partitions)
        }
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        // Tell the consumer first, so it drops buffered messages of these
        // partitions before another member starts on them.
        _ = listener?(.revoked(topicPartitions))
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, partitions) {
                callbacks?.logger.error("incremental unassign failed: \(String(cString: rd_kafka_error_string(error)))")
                rd_kafka_error_destroy(error)
            }
        } else {
            _ = rd_kafka_assign(rk, nil)
        }
    default:
        let reason = String(cString: rd_kafka_err2str(err))
        callbacks?.logger.warning("rebalance failed, unassigning everything: \(reason)")
        _ = rd_kafka_assign(rk, nil)
        _ = listener?(.failed(reason))
    }
}

// MARK: - Consuming

/// One result of `rd_kafka_consumer_poll`.
enum ConsumerPollResult: Sendable {
    /// Nothing arrived within the timeout.
    case nothing
    /// A message.
    case message(ConsumedMessage)
    /// A consumer error (for example, a subscribed topic does not exist).
    case error(BusError)
}

extension RDKafkaClient {
    /// Subscribes the group member to `topics` (balanced assignment).
    func subscribe(topics: [String]) throws(BusError) {
        let entries = topics.map { (TopicPartition(topic: $0, partition: Int(RD_KAFKA_PARTITION_UA)), offset: Int64?.none) }
        let err = Self.withPartitionList(entries) { list in withHandle { rd_kafka_subscribe($0, list) } }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw BusError.kafka(.subscribeFailed, "could not subscribe to \(topics.joined(separator: ", "))", err)
        }
    }

    /// Polls for one message, serving rebalances and errors. Blocking: call
    /// it from the consumer's poll thread only.
    func consumerPoll(timeoutMilliseconds: Int32) -> ConsumerPollResult {
        guard let message = withHandle({ rd_kafka_consumer_poll($0, timeoutMilliseconds) }) else { return .nothing }
        defer { rd_kafka_message_destroy(message) }
        let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let err = message.pointee.err
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return .nothing }
            let detail = rd_kafka_message_errstr(message).map { String(cString: $0) }
            return .error(.kafka(.consumeFailed, "consumer error on \(topic.isEmpty ? "the group" : topic)",
                                 err, detail: detail))
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(message, &timestampType)
        return .message(ConsumedMessage(
            topic: topic,
            partition: Int(message.pointee.partition),
            offset: message.pointee.offset,
            key: Self.bytes(message.pointee.key, message.pointee.key_len),
            value: Self.bytes(message.pointee.payload, message.pointee.len) ?? [],
            headers: Self.headers(of: message),
            timestamp: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || milliseconds < 0
                ? nil : Date(timeIntervalSince1970: Double(milliseconds) / 1000)))
    }

    private static func bytes(_ pointer: UnsafeMutableRawPointer?, _ count: Int) -> [UInt8]? {
        guard let pointer else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private static func headers(of message: UnsafeMutablePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        var headers: [KafkaHeader] = []
        for index in 0..<rd_kafka_header_cnt(list) {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                  let name else { continue }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            headers.append(KafkaHeader(name: String(cString: name), value: bytes))
        }
        return headers
    }

    /// The partitions currently assigned to this member.
    func assignment() -> [TopicPartition] {
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        guard withHandle({ rd_kafka_assignment($0, &list) }) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return Self.partitions(of: list)
    }

    /// Pauses or resumes fetching from `partitions`.
    func setPaused(_ paused: Bool, _ partitions: [TopicPartition]) {
        guard !partitions.isEmpty else { return }
        Self.withPartitionList(partitions.map { ($0, offset: nil) }) { list in
            withHandle { _ = paused ? rd_kafka_pause_partitions($0, list) : rd_kafka_resume_partitions($0, list) }
        }
    }

    /// Commits `offset` as the next offset to read for `partition`,
    /// synchronously. Blocking: call it from the blocking queue.
    func commit(_ partition: TopicPartition, nextOffset offset: Int64) throws(BusError) {
        let err = Self.withPartitionList([(partition, offset: offset)]) { list in
            withHandle { rd_kafka_commit($0, list, 0) }
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw BusError.kafka(.commitFailed, "could not commit offset \(offset) of \(partition)", err)
        }
    }

    /// Moves the fetch position of `partition` back to `offset` (librdkafka
    /// drops what it had prefetched). Blocking: call it from the poll thread.
    func seek(_ partition: TopicPartition, to offset: Int64, timeoutMilliseconds: Int32) throws(BusError) {
        let error = Self.withPartitionList([(partition, offset: offset)]) { list in
            withHandle { rd_kafka_seek_partitions($0, list, timeoutMilliseconds) }
        }
        if let error {
            throw BusError.consuming(.seekFailed, "could not seek \(partition) to offset \(offset)", error)
        }
    }

    /// Makes a blocked `rd_kafka_consumer_poll` return early.
    func wakeConsumerPoll() {
        withHandle { handle in
            guard let queue = rd_kafka_queue_get_consumer(handle) else { return }
            rd_kafka_queue_yield(queue)
            rd_kafka_queue_destroy(queue)
        }
    }

    /// Leaves the group: revokes (through the rebalance callback), and tells
    /// the coordinator, so another member takes over at once rather than
    /// after the session timeout. Blocking: call it from the poll thread.
    func closeConsumer() -> BusError? {
        let err = withHandle { rd_kafka_consumer_close($0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .kafka(.closed, "the consumer did not leave its group cleanly", err)
        }
        return nil
    }
}
