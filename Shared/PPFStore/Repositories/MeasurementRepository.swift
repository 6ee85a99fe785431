import Foundation
import PPFContracts

// MARK: - MeasurementRecord

/// A row of `measurements`: the true perplexity of one request's policy.
public struct MeasurementRecord: Sendable, Equatable, PGRowDecodable {
    /// Position in the table; predictor versions list the ids they trained on.
    public var id: Int64
    /// The request answered (unique: one measurement per request).
    public var requestId: UUID
    /// The measured policy.
    public var policyId: UUID
    /// The model.
    public var modelId: String
    /// Corpus split.
    public var split: String
    /// Tokens the request asked to score.
    public var tokenBudget: Int
    /// Context window per chunk.
    public var window: Int
    /// Mean NLL per token.
    public var nll: Double
    /// Perplexity.
    public var perplexity: Double
    /// Tokens scored.
    public var tokensCounted: Int
    /// Wall-clock seconds.
    public var seconds: Double
    /// The evaluator instance.
    public var evaluatorId: String
    /// The model engine's build.
    public var engineVersion: String
    /// The ratio the plan achieved.
    public var achievedRatio: Double
    /// When it was stored.
    public var createdAt: Date

    /// Reads the columns of `measurements`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        requestId = try row.decode(column: "request_id")
        policyId = try row.decode(column: "policy_id")
        modelId = try row.decode(column: "model_id")
        split = try row.decode(column: "split")
        tokenBudget = try row.decode(column: "token_budget")
        window = try row.decode(column: "window_size")
        nll = try row.decode(column: "nll")
        perplexity = try row.decode(column: "perplexity")
        tokensCounted = try row.decode(column: "tokens_counted")
        seconds = try row.decode(column: "seconds")
        evaluatorId = try row.decode(column: "evaluator_id")
        engineVersion = try row.decode(column: "engine_version")
        achievedRatio = try row.decode(column: "achieved_ratio")
        createdAt = try row.decode(column: "created_at")
    }
}

/// A measurement together with the policy it measured: one training example.
public struct MeasuredPolicy: Sendable, Equatable, PGRowDecodable {
    /// The measurement.
    public var measurement: MeasurementRecord
    /// The measured policy's ratios.
    public var policy: PruningPolicy
    /// The importance metric of the measured plan (from the request).
    public var metric: String

    /// Reads a `measurements` row joined with its policy's `policy` column (as
    /// `policy_json`) and its request's `metric`.
    public init(row: PGRow) throws {
        measurement = try MeasurementRecord(row: row)
        policy = try row.decode(SQLJSON<PruningPolicy>.self, column: "policy_json").value
        metric = try row.decode(String.self, column: "metric")
    }
}

// MARK: - MeasurementRepository

/// Reads and writes `measurements`.
///
/// Ownership: the evaluator inserts a row with ``insert(_:on:)`` and enqueues
/// the ``PerplexityMeasurement`` message in the same transaction. Everyone else reads.
public enum MeasurementRepository {
    static let columns = """
        m.id, m.request_id, m.policy_id, m.model_id, m.split, m.token_budget, m.window_size, m.nll, m.perplexity,
        m.tokens_counted, m.seconds, m.evaluator_id, m.engine_version, m.achieved_ratio, m.created_at
        """

    /// Stores `measurement` unless its request already has one.
    /// - Returns: the new row's id, or nil when the request was already
    ///   measured (a redone request after a crash): the caller then enqueues
    ///   nothing, so exactly one row and one message result.
    /// - Throws: ``StoreError`` `foreignKeyViolation` when the request or policy is unknown.
    public static func insert(_ measurement: PerplexityMeasurement, on connection: PGConnection) async throws -> Int64? {
        try await connection.query("""
            INSERT INTO measurements (request_id, policy_id, model_id, split, token_budget, window_size, nll,
                                      perplexity, tokens_counted, seconds, evaluator_id, engine_version, achieved_ratio)
            VALUES (\(measurement.requestId), \(measurement.policyId), \(measurement.modelId), \(measurement.split),
                    \(measurement.tokenBudget), \(measurement.window), \(measurement.nll), \(measurement.perplexity),
                    \(measurement.tokensCounted), \(measurement.seconds), \(measurement.evaluatorId),
                    \(measurement.engineVersion), \(measurement.achievedRatio))
            ON CONFLICT (request_id) DO NOTHING
            RETURNING id
            """).first?.decode(Int64.self, column: 0)
    }

    /// The measurement answering `requestId`, or nil.
    public static func find(requestId: UUID, on connection: PGConnection) async throws -> MeasurementRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM measurements m WHERE m.request_id = \(requestId)")
            .decode(MeasurementRecord.self).first
    }

    /// Every measurement of `modelId` with its policy, in insertion order: the predictor's training set.
    public static func measuredPolicies(modelId: String, on connection: PGConnection) async throws -> [MeasuredPolicy] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns), p.policy AS policy_json, r.metric
              FROM measurements m JOIN policies p ON p.id = m.policy_id
                   JOIN evaluation_requests r ON r.id = m.request_id
             WHERE m.model_id = \(modelId)
             ORDER BY m.id
            """).decode(MeasuredPolicy.self)
    }

    /// How many measurements of `modelId` are not among `trainedOn`: what
    /// arrived since a predictor version was trained.
    /// - Parameter ignoredSource: a `policies.source` prefix whose measurements do not count (nil: all count).
    public static func count(modelId: String, excluding trainedOn: [Int64], ignoringSourcesPrefixed ignoredSource: String? = nil,
                             on connection: PGConnection) async throws -> Int {
        let rows: PGRows
        if let ignoredSource {
            rows = try await connection.query("""
                SELECT count(*) FROM measurements m JOIN policies p ON p.id = m.policy_id
                 WHERE m.model_id = \(modelId) AND NOT (m.id = ANY(\(trainedOn)))
                   AND NOT starts_with(p.source, \(ignoredSource))
                """)
        } else {
            rows = try await connection.query("""
                SELECT count(*) FROM measurements WHERE model_id = \(modelId) AND NOT (id = ANY(\(trainedOn)))
                """)
        }
        return try rows.first?.decode(Int.self, column: 0) ?? 0
    }

    /// Every model with at least one measurement.
    public static func modelIds(on connection: PGConnection) async throws -> [String] {
        try await connection.query("SELECT DISTINCT model_id FROM measurements ORDER BY model_id").decode(String.self)
    }
}
