import Foundation
import PPFContracts

// MARK: - RatioEventHistoryEntry

/// One row of the `ratio_event_history` view: a ratio event with its
/// outcome, the plan made from its policy and the first spot-check
/// measurement. What `ppf history` lists and `ppf ratio set --wait` follows.
public struct RatioEventHistoryEntry: Sendable, Equatable, PGRowDecodable {
    public var ratioEventId: UUID
    public var modelId: String
    public var requestedAt: Date
    public var targetRatio: Double
    /// `dynamic` or `static`.
    public var mode: String
    public var requestedBy: String
    /// `pending`, `answered` or `rejected`.
    public var status: String
    /// Why it was rejected.
    public var reason: String?
    public var message: String?
    /// Where the policy came from (`agent`, `static-search`).
    public var source: String?
    public var policyId: UUID?
    public var achievedRatio: Double?
    public var predictedPerplexity: Double?
    public var predictedLogPerplexityStd: Double?
    /// The static search's verified (measured) perplexity.
    public var verifiedPerplexity: Double?
    public var spotCheckPerplexity: Double?
    /// From the event to its answer.
    public var answerMilliseconds: Double?
    public var planId: UUID?
    public var keptParameters: Int?
    public var totalParameters: Int?
    public var agentVersionId: UUID?
    public var predictorVersionId: UUID?

    /// Reads the columns of ``RatioEventHistoryRepository/columns``.
    public init(row: PGRow) throws {
        ratioEventId = try row.decode(column: "ratio_event_id")
        modelId = try row.decode(column: "model_id")
        requestedAt = try row.decode(column: "requested_at")
        targetRatio = try row.decode(column: "target_ratio")
        mode = try row.decode(column: "mode")
        requestedBy = try row.decode(column: "requested_by")
        status = try row.decode(column: "status")
        reason = try row.decode(column: "reason")
        message = try row.decode(column: "message")
        source = try row.decode(column: "source")
        policyId = try row.decode(column: "policy_id")
        achievedRatio = try row.decode(column: "achieved_ratio")
        predictedPerplexity = try row.decode(column: "predicted_perplexity")
        predictedLogPerplexityStd = try row.decode(column: "predicted_log_perplexity_std")
        verifiedPerplexity = try row.decode(column: "verified_perplexity")
        spotCheckPerplexity = try row.decode(column: "spot_check_perplexity")
        answerMilliseconds = try row.decode(column: "answer_ms")
        planId = try row.decode(column: "plan_id")
        keptParameters = try row.decode(column: "kept_parameters")
        totalParameters = try row.decode(column: "total_parameters")
        agentVersionId = try row.decode(column: "agent_version_id")
        predictorVersionId = try row.decode(column: "predictor_version_id")
    }
}

// MARK: - RatioEventHistoryRepository

/// Reads the `ratio_event_history` view.
public enum RatioEventHistoryRepository {
    /// The view's columns an entry reads (`answer_ms` as float8: the view computes a numeric).
    static let columns = """
        ratio_event_id, model_id, requested_at, target_ratio, mode, requested_by, status, reason, message, source,
        policy_id, achieved_ratio, predicted_perplexity, predicted_log_perplexity_std, verified_perplexity,
        spot_check_perplexity, answer_ms::float8 AS answer_ms, plan_id, kept_parameters, total_parameters,
        agent_version_id, predictor_version_id
        """

    /// The entry of one ratio event, or nil for an unknown id.
    public static func entry(ratioEventId: UUID, on connection: PGConnection) async throws -> RatioEventHistoryEntry? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM ratio_event_history WHERE ratio_event_id = \(ratioEventId)
            """).decode(RatioEventHistoryEntry.self).first
    }

    /// The newest `limit` events requested at or after `since` (of `modelId`
    /// only, when given), oldest first.
    public static func recent(since: Date, modelId: String?, limit: Int,
                              on connection: PGConnection) async throws -> [RatioEventHistoryEntry] {
        try await connection.query("""
            SELECT * FROM (
              SELECT \(unsafeRaw: columns) FROM ratio_event_history
               WHERE requested_at >= \(since) AND (\(modelId)::text IS NULL OR model_id = \(modelId))
               ORDER BY requested_at DESC LIMIT \(limit)) newest
             ORDER BY requested_at
            """).decode(RatioEventHistoryEntry.self)
    }
}

extension MeasurementRepository {
    /// The first measurement of `policyId` asked for by `correlationId` (a
    /// ratio event's spot-check), or nil while none has arrived.
    public static func first(policyId: UUID, correlationId: UUID,
                             on connection: PGConnection) async throws -> MeasurementRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM measurements m JOIN evaluation_requests r ON r.id = m.request_id
             WHERE r.correlation_id = \(correlationId) AND m.policy_id = \(policyId) ORDER BY m.id LIMIT 1
            """).decode(MeasurementRecord.self).first
    }
}

// MARK: - Answers and their measurements

/// A ratio event's outcome with the newest measurement of its policy in the
/// metric it was answered for (a spot-check, or any earlier measurement of
/// the same policy): prediction against truth.
public struct MeasuredAnswer: Sendable, Equatable {
    /// `pending`, `answered` or `rejected`.
    public var status: String
    public var predictedPerplexity: Double?
    /// Nil until the policy has a measurement in its metric.
    public var measuredPerplexity: Double?
}

extension RatioEventHistoryRepository {
    /// ``MeasuredAnswer`` of each of `ratioEventIds` that is recorded (in no particular order).
    public static func measuredAnswers(ratioEventIds: [UUID], on connection: PGConnection) async throws -> [MeasuredAnswer] {
        try await connection.query("""
            SELECT h.status, h.predicted_perplexity,
                   (SELECT m.perplexity FROM measurements m JOIN evaluation_requests r ON r.id = m.request_id
                     WHERE m.policy_id = h.policy_id AND r.metric = h.metric ORDER BY m.id DESC LIMIT 1)
              FROM ratio_event_history h WHERE h.ratio_event_id = ANY(\(ratioEventIds))
            """).decode((String, Double?, Double?).self).map {
            MeasuredAnswer(status: $0.0, predictedPerplexity: $0.1, measuredPerplexity: $0.2)
        }
    }
}

/// A dynamic answer's prediction, as published, beside its spot-check measurement.
public struct SpotCheck: Sendable, Equatable {
    /// The perplexity and ensemble std of log-perplexity the agent published.
    public var predictedPerplexity: Double
    public var predictedLogPerplexityStd: Double
    /// The spot-check's measured perplexity.
    public var measuredPerplexity: Double
    /// The predictor version that made the prediction.
    public var predictorVersionId: UUID?
}

extension RatioEventHistoryRepository {
    /// Every dynamic answer of `modelId` that published a prediction and whose
    /// spot-check was measured in the regime (`split`, `tokenBudget`,
    /// `window`, `metric`), oldest first. Other policies measured under the
    /// same event (`ppf ratio set --compare`'s baselines) are not its spot-check.
    public static func spotChecks(modelId: String, metric: String, split: String, tokenBudget: Int, window: Int,
                                  on connection: PGConnection) async throws -> [SpotCheck] {
        try await connection.query("""
            SELECT o.predicted_perplexity, o.predicted_log_perplexity_std, m.perplexity, o.predictor_version_id
              FROM ratio_events e
              JOIN ratio_event_outcomes o ON o.ratio_event_id = e.id
              JOIN evaluation_requests r ON r.correlation_id = e.id AND r.reason = 'spot-check' AND r.metric = \(metric)
              JOIN measurements m ON m.request_id = r.id AND m.policy_id = o.policy_id
             WHERE e.model_id = \(modelId) AND e.mode = 'dynamic'
               AND o.predicted_perplexity IS NOT NULL AND o.predicted_log_perplexity_std IS NOT NULL
               AND m.split = \(split) AND m.token_budget = \(tokenBudget) AND m.window_size = \(window)
             ORDER BY m.id
            """).decode((Double, Double, Double, UUID?).self).map {
            SpotCheck(predictedPerplexity: $0.0, predictedLogPerplexityStd: $0.1, measuredPerplexity: $0.2, predictorVersionId: $0.3)
        }
    }
}
