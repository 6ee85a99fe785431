import CRdKafka

// MARK: - Producing

/// Carries one message's continuation through librdkafka as the message's
/// opaque (`_private`), from `produceva` to the delivery-report callback.
final class DeliveryPromise: @unchecked Sendable {
    private let resolve: @Sendable (Result<DeliveryReport, BusError>) -> Void

    /// Resumes `continuation` with the message's delivery result.
    init(_ continuation: CheckedContinuation<DeliveryReport, any Error>) {
        resolve = { continuation.resume(with: $0.mapError { $0 as any Error }) }
    }

    /// Calls `resolve` once with the message's delivery result (from the poll thread).
    init(resolve: @escaping @Sendable (Result<DeliveryReport, BusError>) -> Void) {
        self.resolve = resolve
    }

    func fulfil(_ result: Result<DeliveryReport, BusError>) { resolve(result) }
}

extension RDKafkaClient {
    /// Queues one message; `promise` is resumed by the delivery-report
    /// callback, which the producer's poll thread serves.
    ///
    /// Key, value and headers are copied by librdkafka before this returns.
    func produce(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader], promise: DeliveryPromise) throws(BusError) {
        guard let cHeaders = rd_kafka_headers_new(headers.count) else {
            throw BusError(.produceFailed, "librdkafka could not allocate headers for a message to \(topic)")
        }
        for header in headers {
            let err: rd_kafka_resp_err_t = if let bytes = header.value {
                bytes.withUnsafeBytes { rd_kafka_header_add(cHeaders, header.name, -1, $0.baseAddress, $0.count) }
            } else {
                rd_kafka_header_add(cHeaders, header.name, -1, nil, 0)
            }
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                rd_kafka_headers_destroy(cHeaders)
                throw BusError.kafka(.produceFailed, "could not add header '\(header.name)' to a message to \(topic)", err)
            }
        }
        let opaque = Unmanaged.passRetained(promise).toOpaque()
        let error: OpaquePointer? = topic.withCString { topicName in
            value.withUnsafeBytes { valueBytes in
                withOptionalBytes(key) { keyBytes in
                    var arguments = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6)
                    arguments[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    arguments[0].u.cstr = topicName
                    arguments[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    arguments[1].u.i = RD_KAFKA_MSG_F_COPY
                    arguments[2].vtype = RD_KAFKA_VTYPE_VALUE
                    arguments[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                    arguments[2].u.mem.size = valueBytes.count
                    arguments[3].vtype = RD_KAFKA_VTYPE_KEY
                    arguments[3].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes?.baseAddress)
                    arguments[3].u.mem.size = keyBytes?.count ?? 0
                    arguments[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                    arguments[4].u.ptr = opaque
                    // librdkafka owns the header list once produceva succeeds.
                    arguments[5].vtype = RD_KAFKA_VTYPE_HEADERS
                    arguments[5].u.headers = cHeaders
                    return withHandle { rd_kafka_produceva($0, arguments, arguments.count) }
                }
            }
        }
        if let error {
            // No delivery report will come: undo the retain and free what
            // librdkafka did not take.
            Unmanaged<DeliveryPromise>.fromOpaque(opaque).release()
            rd_kafka_headers_destroy(cHeaders)
            throw BusError.consuming(.produceFailed, "could not queue a message for \(topic)", error)
        }
    }

    /// Waits until every queued message is delivered or failed. Blocking.
    func flush(timeoutMilliseconds: Int32) -> rd_kafka_resp_err_t {
        withHandle { rd_kafka_flush($0, timeoutMilliseconds) }
    }

    /// Fails every message still queued or in flight, so that their delivery
    /// reports (with `_PURGE_QUEUE`/`_PURGE_INFLIGHT`) resume their callers.
    func purgeAll() {
        withHandle { _ = rd_kafka_purge($0, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)) }
    }

    /// Messages queued or in flight, not yet reported.
    var outstandingMessages: Int {
        withHandle { Int(rd_kafka_outq_len($0)) }
    }
}

/// Lends optional bytes as an optional buffer.
private func withOptionalBytes<Result>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> Result) -> Result {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

/// Resumes the message's continuation with its delivery result. Runs on the
/// producer's poll thread, inside `rd_kafka_poll`/`rd_kafka_flush`.
func deliveryReportCallback(_ rk: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let message, let promiseOpaque = message.pointee._private else { return }
    let promise = Unmanaged<DeliveryPromise>.fromOpaque(promiseOpaque).takeRetainedValue()
    let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "?"
    let err = message.pointee.err
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
        promise.fulfil(.failure(BusError.kafka(.deliveryFailed, "message to \(topic) was not acknowledged by the broker", err)))
        return
    }
    promise.fulfil(.success(DeliveryReport(topic: topic, partition: Int(message.pointee.partition), offset: message.pointee.offset)))
}
