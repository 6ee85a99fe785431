import CRdKafka

// MARK: - BusError

/// The one error type of `PPFBus`.
///
/// `code` says what PPF was doing when it failed; `kafkaCode` and
/// `kafkaCodeName` mirror librdkafka's `rd_kafka_resp_err_t` when the failure
/// came from the library, so logs name the exact broker or client condition.
/// The description never contains message payloads or credentials.
public struct BusError: Error, Sendable, CustomStringConvertible {
    /// What kind of operation failed. Growable: new codes are new static lets.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// Stable, short name of the code, e.g. `"deliveryFailed"`.
        public let name: String
        private init(_ name: String) { self.name = name }
        /// The code's name.
        public var description: String { name }

        /// The loaded librdkafka is older than PPF supports.
        public static let unsupportedLibrary = Code("unsupportedLibrary")
        /// A configuration property was rejected by librdkafka.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// `rd_kafka_new` failed.
        public static let clientCreationFailed = Code("clientCreationFailed")
        /// The broker could not be reached in time.
        public static let brokerUnreachable = Code("brokerUnreachable")
        /// A message could not be queued for sending.
        public static let produceFailed = Code("produceFailed")
        /// A queued message was not acknowledged by the broker.
        public static let deliveryFailed = Code("deliveryFailed")
        /// `flush` did not finish within its timeout.
        public static let flushTimedOut = Code("flushTimedOut")
        /// Subscribing to topics failed.
        public static let subscribeFailed = Code("subscribeFailed")
        /// The consumer reported an error while fetching.
        public static let consumeFailed = Code("consumeFailed")
        /// Committing an offset failed.
        public static let commitFailed = Code("commitFailed")
        /// Seeking a partition (for redelivery) failed.
        public static let seekFailed = Code("seekFailed")
        /// The client was already closed (or closing) when used.
        public static let closed = Code("closed")
        /// An admin operation (create topics) failed.
        public static let adminFailed = Code("adminFailed")
        /// Fetching cluster metadata failed.
        public static let metadataFailed = Code("metadataFailed")
        /// librdkafka raised a fatal error; the client must be recreated.
        public static let fatal = Code("fatal")
    }

    /// What failed.
    public var code: Code
    /// A message a person can act on.
    public var message: String
    /// librdkafka's numeric error code (`rd_kafka_resp_err_t`), if any.
    public var kafkaCode: Int32?
    /// librdkafka's name for `kafkaCode`, e.g. `"_MSG_TIMED_OUT"`.
    public var kafkaCodeName: String?
    /// Whether repeating the same operation later may succeed.
    public var isRetriable: Bool
    /// Source file that raised the error.
    public var file: String
    /// Source line that raised the error.
    public var line: Int

    /// Creates an error; `file` and `line` default to the caller's location.
    public init(
        _ code: Code,
        _ message: String,
        kafkaCode: Int32? = nil,
        kafkaCodeName: String? = nil,
        isRetriable: Bool = false,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.kafkaCode = kafkaCode
        self.kafkaCodeName = kafkaCodeName
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    /// Code, message, librdkafka code and source location, for logs.
    public var description: String {
        var text = "BusError.\(code): \(message)"
        if let kafkaCodeName, let kafkaCode { text += " [rdkafka \(kafkaCodeName) (\(kafkaCode))]" }
        if isRetriable { text += " (retriable)" }
        return text + " at \(file):\(line)"
    }
}

// MARK: - Mirroring librdkafka codes

extension BusError {
    /// Mirrors an `rd_kafka_resp_err_t`, keeping librdkafka's own explanation.
    static func kafka(
        _ code: Code,
        _ context: String,
        _ err: rd_kafka_resp_err_t,
        detail: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) -> BusError {
        let explanation = detail ?? String(cString: rd_kafka_err2str(err))
        return BusError(
            code, "\(context): \(explanation)",
            kafkaCode: err.rawValue,
            kafkaCodeName: String(cString: rd_kafka_err2name(err)),
            isRetriable: Self.isRetriable(err),
            file: file, line: line)
    }

    /// Mirrors an `rd_kafka_error_t` and destroys it (the caller hands it over).
    static func consuming(
        _ code: Code,
        _ context: String,
        _ error: OpaquePointer,
        file: String = #fileID,
        line: Int = #line
    ) -> BusError {
        defer { rd_kafka_error_destroy(error) }
        let err = rd_kafka_error_code(error)
        var mirrored = kafka(code, context, err, detail: String(cString: rd_kafka_error_string(error)),
                             file: file, line: line)
        mirrored.isRetriable = mirrored.isRetriable || rd_kafka_error_is_retriable(error) != 0
        return mirrored
    }

    /// Codes that describe a transient condition (broker down, leader moving,
    /// queue full, rebalance) rather than a wrong request.
    static func isRetriable(_ err: rd_kafka_resp_err_t) -> Bool {
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
             RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__WAIT_COORD,
             RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
             RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
             RD_KAFKA_RESP_ERR_NOT_COORDINATOR, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
            true
        default:
            false
        }
    }
}
