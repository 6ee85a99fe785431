import CRdKafka

// MARK: - Admin requests

extension RDKafkaClient {
    /// Creates topics; reports per topic whether it was created or already
    /// existed. Blocking: call it from the blocking queue.
    func createTopics(_ specs: [TopicSpec], timeoutMilliseconds: Int32) throws(BusError) -> [String: TopicCreation] {
        var reason = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for spec in specs {
            guard let topic = rd_kafka_NewTopic_new(spec.name, Int32(spec.partitions), Int32(spec.replicationFactor),
                                                    &reason, reason.count) else {
                throw BusError(.adminFailed, "invalid topic \(spec.name): \(text(of: reason))")
            }
            newTopics.append(topic)
        }
        return try withAdminRequest(RD_KAFKA_ADMIN_OP_CREATETOPICS, timeoutMilliseconds: timeoutMilliseconds) { handle, options, queue in
            rd_kafka_CreateTopics(handle, &newTopics, newTopics.count, options, queue)
        } read: { event throws(BusError) in
            var count = 0
            guard let result = rd_kafka_event_CreateTopics_result(event),
                  let topics = rd_kafka_CreateTopics_result_topics(result, &count) else {
                throw BusError(.adminFailed, "the broker's CreateTopics answer had no topic results")
            }
            var outcomes: [String: TopicCreation] = [:]
            var failures: [String] = []
            var firstError = RD_KAFKA_RESP_ERR_NO_ERROR
            for index in 0..<count {
                let topic = topics[index]
                let name = String(cString: rd_kafka_topic_result_name(topic))
                let err = rd_kafka_topic_result_error(topic)
                switch err {
                case RD_KAFKA_RESP_ERR_NO_ERROR:
                    outcomes[name] = .created
                case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                    outcomes[name] = .alreadyExisted
                default:
                    let detail = rd_kafka_topic_result_error_string(topic).map { String(cString: $0) }
                        ?? String(cString: rd_kafka_err2str(err))
                    failures.append("\(name): \(detail)")
                    if firstError == RD_KAFKA_RESP_ERR_NO_ERROR { firstError = err }
                }
            }
            if !failures.isEmpty {
                throw BusError.kafka(.adminFailed, "could not create topics", firstError,
                                     detail: failures.joined(separator: "; "))
            }
            return outcomes
        }
    }

    /// Runs one admin request on a private queue and reads its result event.
    private func withAdminRequest<Result>(
        _ operation: rd_kafka_admin_op_t,
        timeoutMilliseconds: Int32,
        send: (OpaquePointer, OpaquePointer, OpaquePointer) -> Void,
        read: (OpaquePointer) throws(BusError) -> Result
    ) throws(BusError) -> Result {
        try withHandle { handle throws(BusError) in
            guard let queue = rd_kafka_queue_new(handle), let options = rd_kafka_AdminOptions_new(handle, operation) else {
                throw BusError(.adminFailed, "librdkafka could not allocate an admin request")
            }
            defer {
                rd_kafka_AdminOptions_destroy(options)
                rd_kafka_queue_destroy(queue)
            }
            var reason = [CChar](repeating: 0, count: 512)
            _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &reason, reason.count)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &reason, reason.count)
            send(handle, options, queue)
            // The request itself times out after timeoutMilliseconds; the
            // margin covers queueing, so we always get its own error event.
            guard let event = rd_kafka_queue_poll(queue, timeoutMilliseconds + 2000) else {
                throw BusError(.brokerUnreachable, "no answer to an admin request within \(timeoutMilliseconds) ms",
                               isRetriable: true)
            }
            defer { rd_kafka_event_destroy(event) }
            let err = rd_kafka_event_error(event)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let detail = rd_kafka_event_error_string(event).map { String(cString: $0) }
                throw BusError.kafka(.adminFailed, "admin request failed", err, detail: detail)
            }
            return try read(event)
        }
    }

    /// Fetches metadata for every topic. Blocking: call it from the blocking queue.
    func metadata(timeoutMilliseconds: Int32) throws(BusError) -> ClusterMetadata {
        var pointer: UnsafePointer<rd_kafka_metadata>?
        let err = withHandle { rd_kafka_metadata($0, 1, nil, &pointer, timeoutMilliseconds) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata = pointer else {
            let unreachable = err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT
                || err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
            throw BusError.kafka(unreachable ? .brokerUnreachable : .metadataFailed,
                                 "could not fetch cluster metadata within \(timeoutMilliseconds) ms", err)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        let brokers = (0..<Int(metadata.pointee.broker_cnt)).map { index in
            let broker = metadata.pointee.brokers[index]
            return BrokerMetadata(id: Int(broker.id), host: String(cString: broker.host), port: Int(broker.port))
        }
        let topics = (0..<Int(metadata.pointee.topic_cnt)).map { index in
            let topic = metadata.pointee.topics[index]
            let partitions = (0..<Int(topic.partition_cnt)).map { partitionIndex in
                let partition = topic.partitions[partitionIndex]
                return PartitionMetadata(id: Int(partition.id), leader: Int(partition.leader))
            }
            return TopicMetadata(
                name: String(cString: topic.topic),
                partitions: partitions.sorted { $0.id < $1.id },
                error: topic.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : String(cString: rd_kafka_err2name(topic.err)))
        }
        return ClusterMetadata(brokers: brokers, topics: topics.sorted { $0.name < $1.name })
    }
}
