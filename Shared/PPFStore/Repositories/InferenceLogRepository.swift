import Foundation

// MARK: - InferenceLogEntry

/// A row of `inference_log`: one answered inference request.
public struct InferenceLogEntry: Sendable, Equatable, PGRowDecodable {
    /// The request (``PPFContracts/InferenceRequest/requestId``).
    public var requestId: UUID
    /// The request's correlation id.
    public var correlationId: UUID
    /// The deployment.
    public var modelId: String
    /// The model-host instance that answered.
    public var instanceId: String
    /// The model version that answered (`dense` or a plan id).
    public var modelVersion: String
    /// `perplexity` or `generate`.
    public var kind: String
    /// Tokens of the text or prompt.
    public var inputTokens: Int
    /// Tokens generated (0 for perplexity).
    public var outputTokens: Int
    /// The perplexity computed, for perplexity requests that succeeded.
    public var perplexity: Double?
    /// The error the reply carried, if any.
    public var error: String?
    /// Seconds the host spent.
    public var seconds: Double
    /// When it was logged.
    public var createdAt: Date

    /// Creates an entry to insert.
    public init(requestId: UUID, correlationId: UUID, modelId: String, instanceId: String, modelVersion: String,
                kind: String, inputTokens: Int, outputTokens: Int, perplexity: Double?, error: String?,
                seconds: Double, createdAt: Date = Date()) {
        self.requestId = requestId
        self.correlationId = correlationId
        self.modelId = modelId
        self.instanceId = instanceId
        self.modelVersion = modelVersion
        self.kind = kind
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.perplexity = perplexity
        self.error = error
        self.seconds = seconds
        self.createdAt = createdAt
    }

    /// Reads the columns of `inference_log`.
    public init(row: PGRow) throws {
        requestId = try row.decode(column: "request_id")
        correlationId = try row.decode(column: "correlation_id")
        modelId = try row.decode(column: "model_id")
        instanceId = try row.decode(column: "instance_id")
        modelVersion = try row.decode(column: "model_version")
        kind = try row.decode(column: "kind")
        inputTokens = try row.decode(column: "input_tokens")
        outputTokens = try row.decode(column: "output_tokens")
        perplexity = try row.decode(column: "perplexity")
        error = try row.decode(column: "error")
        seconds = try row.decode(column: "seconds")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - InferenceLogRepository

/// Reads and writes `inference_log`. model-host writes a row after the reply
/// was acknowledged, so a request found here was answered.
public enum InferenceLogRepository {
    static let columns = """
        request_id, correlation_id, model_id, instance_id, model_version, kind, input_tokens, output_tokens,
        perplexity, error, seconds, created_at
        """

    /// Logs `entry` unless its request is logged already.
    /// - Returns: whether this call inserted the row.
    public static func insert(_ entry: InferenceLogEntry, on connection: PGConnection) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO inference_log (request_id, correlation_id, model_id, instance_id, model_version, kind,
                                       input_tokens, output_tokens, perplexity, error, seconds, created_at)
            VALUES (\(entry.requestId), \(entry.correlationId), \(entry.modelId), \(entry.instanceId),
                    \(entry.modelVersion), \(entry.kind), \(entry.inputTokens), \(entry.outputTokens),
                    \(entry.perplexity), \(entry.error), \(entry.seconds), \(entry.createdAt))
            ON CONFLICT (request_id) DO NOTHING
            """) == 1
    }

    /// The entry of `requestId`, or nil when it was not answered (yet).
    public static func find(requestId: UUID, on connection: PGConnection) async throws -> InferenceLogEntry? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM inference_log WHERE request_id = \(requestId)")
            .decode(InferenceLogEntry.self).first
    }

    /// Requests answered per model version of `modelId`, most used first.
    public static func countsByVersion(modelId: String, on connection: PGConnection) async throws -> [(version: String, count: Int)] {
        try await connection.query("""
            SELECT model_version, count(*) FROM inference_log WHERE model_id = \(modelId)
             GROUP BY model_version ORDER BY count(*) DESC, model_version
            """).decode((String, Int).self).map { (version: $0.0, count: $0.1) }
    }
}
