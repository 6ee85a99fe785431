import Foundation
import PPFContracts

// MARK: - RatioEventOutcome

/// A row of `ratio_event_outcomes`: how one ratio event was answered.
/// Exactly one per event (the primary key), written in the transaction that
/// publishes the answer.
public struct RatioEventOutcome: Sendable, Equatable, PGRowDecodable {
    /// Answered with a policy, or rejected with a reason.
    public enum Status: String, Sendable, Equatable {
        /// A policy was published.
        case answered
        /// A ``RatioEventRejected`` was published and the event dead-lettered.
        case rejected
    }

    /// The event (`ratio_events.id`).
    public var ratioEventId: UUID
    /// The model the event named.
    public var modelId: String
    /// Answered or rejected.
    public var status: Status
    /// For a rejection: ``RatioEventRejected/Reason`` raw value.
    public var reason: String?
    /// For a rejection: the sentence a person can act on.
    public var message: String?
    /// The published policy (`policies.id`); set exactly when answered.
    public var policyId: UUID?
    /// ``PolicyPublished/Source`` raw value (`agent`, `static-search`).
    public var source: String?
    /// The importance metric the plan must use.
    public var metric: String?
    /// The agent version that proposed the policy.
    public var agentVersionId: UUID?
    /// The predictor version that scored it.
    public var predictorVersionId: UUID?
    /// The ratio the policy achieves.
    public var achievedRatio: Double?
    /// Predicted perplexity.
    public var predictedPerplexity: Double?
    /// The predictor ensemble's std of log-perplexity.
    public var predictedLogPerplexityStd: Double?
    /// Measured validation perplexity (static mode).
    public var measuredPerplexity: Double?
    /// True measurements the answer cost (static verification; 0 for dynamic).
    public var verificationMeasurements: Int
    /// When it was stored.
    public var answeredAt: Date

    /// An answer with a policy.
    public static func answered(_ policy: PolicyPublished, verificationMeasurements: Int = 0) -> RatioEventOutcome {
        RatioEventOutcome(
            ratioEventId: policy.ratioEventId, modelId: policy.modelId, status: .answered, reason: nil, message: nil,
            policyId: policy.policyId, source: policy.source.rawValue, metric: policy.metric,
            agentVersionId: policy.agentVersionId, predictorVersionId: policy.predictorVersionId,
            achievedRatio: policy.achievedRatio, predictedPerplexity: policy.predictedPerplexity,
            predictedLogPerplexityStd: policy.predictedLogPerplexityStd, measuredPerplexity: policy.measuredPerplexity,
            verificationMeasurements: verificationMeasurements, answeredAt: Date())
    }

    /// A rejection with its reason; `ratioEventId` must be known.
    public static func rejected(_ rejection: RatioEventRejected, ratioEventId: UUID) -> RatioEventOutcome {
        RatioEventOutcome(
            ratioEventId: ratioEventId, modelId: rejection.modelId, status: .rejected,
            reason: rejection.reason.rawValue, message: rejection.message, policyId: nil, source: nil, metric: nil,
            agentVersionId: nil, predictorVersionId: nil, achievedRatio: nil, predictedPerplexity: nil,
            predictedLogPerplexityStd: nil, measuredPerplexity: nil, verificationMeasurements: 0, answeredAt: Date())
    }

    private init(ratioEventId: UUID, modelId: String, status: Status, reason: String?, message: String?,
                 policyId: UUID?, source: String?, metric: String?, agentVersionId: UUID?, predictorVersionId: UUID?,
                 achievedRatio: Double?, predictedPerplexity: Double?, predictedLogPerplexityStd: Double?,
                 measuredPerplexity: Double?, verificationMeasurements: Int, answeredAt: Date) {
        self.ratioEventId = ratioEventId
        self.modelId = modelId
        self.status = status
        self.reason = reason
        self.message = message
        self.policyId = policyId
        self.source = source
        self.metric = metric
        self.agentVersionId = agentVersionId
        self.predictorVersionId = predictorVersionId
        self.achievedRatio = achievedRatio
        self.predictedPerplexity = predictedPerplexity
        self.predictedLogPerplexityStd = predictedLogPerplexityStd
        self.measuredPerplexity = measuredPerplexity
        self.verificationMeasurements = verificationMeasurements
        self.answeredAt = answeredAt
    }

    /// Reads the columns of `ratio_event_outcomes`.
    public init(row: PGRow) throws {
        ratioEventId = try row.decode(column: "ratio_event_id")
        modelId = try row.decode(column: "model_id")
        let statusName: String = try row.decode(column: "status")
        guard let status = Status(rawValue: statusName) else {
            throw StoreError(.decodingFailed, "outcome of ratio event \(ratioEventId) has unknown status '\(statusName)'")
        }
        self.status = status
        reason = try row.decode(column: "reason")
        message = try row.decode(column: "message")
        policyId = try row.decode(column: "policy_id")
        source = try row.decode(column: "source")
        metric = try row.decode(column: "metric")
        agentVersionId = try row.decode(column: "agent_version_id")
        predictorVersionId = try row.decode(column: "predictor_version_id")
        achievedRatio = try row.decode(column: "achieved_ratio")
        predictedPerplexity = try row.decode(column: "predicted_perplexity")
        predictedLogPerplexityStd = try row.decode(column: "predicted_log_perplexity_std")
        measuredPerplexity = try row.decode(column: "measured_perplexity")
        verificationMeasurements = try row.decode(column: "verification_measurements")
        answeredAt = try row.decode(column: "answered_at")
    }
}

// MARK: - RatioEventOutcomeRepository

/// Reads and writes `ratio_event_outcomes`.
public enum RatioEventOutcomeRepository {
    static let columns = """
        ratio_event_id, model_id, status, reason, message, policy_id, source, metric, agent_version_id,
        predictor_version_id, achieved_ratio, predicted_perplexity, predicted_log_perplexity_std,
        measured_perplexity, verification_measurements, answered_at
        """

    /// Stores `outcome` unless its event already has one.
    /// - Returns: whether this call stored it. `false` means the event was
    ///   answered already (a redelivery, or another instance): the caller must
    ///   then publish nothing, so roll the transaction back.
    /// - Throws: ``StoreError`` `foreignKeyViolation` when the event, policy
    ///   or versions are unknown.
    public static func insert(_ outcome: RatioEventOutcome, on connection: PGConnection) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO ratio_event_outcomes (ratio_event_id, model_id, status, reason, message, policy_id, source,
                                              metric, agent_version_id, predictor_version_id, achieved_ratio,
                                              predicted_perplexity, predicted_log_perplexity_std, measured_perplexity,
                                              verification_measurements)
            VALUES (\(outcome.ratioEventId), \(outcome.modelId), \(outcome.status.rawValue), \(outcome.reason),
                    \(outcome.message), \(outcome.policyId), \(outcome.source), \(outcome.metric),
                    \(outcome.agentVersionId), \(outcome.predictorVersionId), \(outcome.achievedRatio),
                    \(outcome.predictedPerplexity), \(outcome.predictedLogPerplexityStd), \(outcome.measuredPerplexity),
                    \(outcome.verificationMeasurements))
            ON CONFLICT (ratio_event_id) DO NOTHING
            """) == 1
    }

    /// The outcome of `ratioEventId`, or nil while it is pending.
    public static func find(ratioEventId: UUID, on connection: PGConnection) async throws -> RatioEventOutcome? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM ratio_event_outcomes WHERE ratio_event_id = \(ratioEventId)
            """).decode(RatioEventOutcome.self).first
    }

    /// Every outcome of `modelId`, oldest first.
    public static func all(modelId: String, on connection: PGConnection) async throws -> [RatioEventOutcome] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM ratio_event_outcomes WHERE model_id = \(modelId)
             ORDER BY answered_at, ratio_event_id
            """).decode(RatioEventOutcome.self)
    }
}

// MARK: - Answer latency

/// How fast a set of ratio events was answered, in PostgreSQL's clock: from
/// each event's row (`ratio_events.created_at`) to its outcome
/// (`ratio_event_outcomes.answered_at`, the answer's commit) and to the
/// publication of its answer (`outbox.published_at` of the entry that
/// carries it: the ``PolicyPublished`` or ``RatioEventRejected``). Seconds.
public struct AnswerLatencySummary: Sendable, Equatable, PGRowDecodable {
    /// Events with an outcome.
    public var answered: Int
    /// Median of event → outcome (nil when none is answered).
    public var answeredP50: Double?
    /// 99th percentile of event → outcome (interpolated, as `percentile_cont`).
    public var answeredP99: Double?
    /// Slowest event → outcome.
    public var answeredMax: Double?
    /// Events whose answer is published.
    public var published: Int
    /// Median of event → published answer (nil when none is published).
    public var publishedP50: Double?
    /// 99th percentile of event → published answer.
    public var publishedP99: Double?
    /// Slowest event → published answer.
    public var publishedMax: Double?

    /// Reads the columns of ``RatioEventOutcomeRepository/latencySummary(ratioEventIds:on:)``.
    public init(row: PGRow) throws {
        answered = try row.decode(column: "answered")
        answeredP50 = try row.decode(column: "answered_p50")
        answeredP99 = try row.decode(column: "answered_p99")
        answeredMax = try row.decode(column: "answered_max")
        published = try row.decode(column: "published")
        publishedP50 = try row.decode(column: "published_p50")
        publishedP99 = try row.decode(column: "published_p99")
        publishedMax = try row.decode(column: "published_max")
    }
}

extension RatioEventOutcomeRepository {
    /// The answer latency of `ratioEventIds` (see ``AnswerLatencySummary``);
    /// events without an outcome or a published answer are left out of the
    /// percentiles and counted out of ``AnswerLatencySummary/answered`` / ``AnswerLatencySummary/published``.
    public static func latencySummary(ratioEventIds: [UUID], on connection: PGConnection) async throws -> AnswerLatencySummary {
        let rows = try await connection.query("""
            WITH answers AS MATERIALIZED (
                -- Each outbox payload is parsed once per call, not once per event: `ppf bench load`
                -- polls this during its burst, and a per-event rescan took a core from the agent.
                SELECT (convert_from(x.payload, 'UTF8')::jsonb ->> 'correlationId')::uuid AS event,
                       min(x.published_at) AS published_at
                  FROM outbox x WHERE x.topic IN (\(Topic.prunedPolicies), \(Topic.ratioRejections))
                 GROUP BY 1
            ), events AS (
                SELECT extract(epoch FROM o.answered_at - e.created_at)::float8 AS answered,
                       extract(epoch FROM a.published_at - e.created_at)::float8 AS published
                  FROM ratio_events e JOIN ratio_event_outcomes o ON o.ratio_event_id = e.id
                  LEFT JOIN answers a ON a.event = e.id
                 WHERE e.id = ANY(\(ratioEventIds))
            )
            SELECT count(*)::int AS answered,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY answered) AS answered_p50,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY answered) AS answered_p99,
                   max(answered) AS answered_max,
                   count(published)::int AS published,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY published) AS published_p50,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY published) AS published_p99,
                   max(published) AS published_max
              FROM events
            """)
        guard let row = rows.first else { throw StoreError(.decodingFailed, "the latency summary returned no row") }
        return try AnswerLatencySummary(row: row)
    }
}

extension RatioEventOutcomeRepository {
    /// How many of `ratioEventIds` were answered exactly once: one `answered`
    /// outcome and one `PolicyPublished` in the outbox (`ppf bench load`'s
    /// exactly-once check under a burst).
    public static func answeredExactlyOnce(ratioEventIds: [UUID], on connection: PGConnection) async throws -> Int {
        try await connection.query("""
            WITH entries AS (
                SELECT (convert_from(payload, 'UTF8')::jsonb ->> 'correlationId')::uuid AS event
                  FROM outbox WHERE topic = \(Topic.prunedPolicies)
            )
            SELECT count(*)::int FROM ratio_events e
             WHERE e.id = ANY(\(ratioEventIds))
               AND (SELECT count(*) FROM ratio_event_outcomes o WHERE o.ratio_event_id = e.id AND o.status = 'answered') = 1
               AND (SELECT count(*) FROM entries x WHERE x.event = e.id) = 1
            """).first?.decode(Int.self, column: 0) ?? 0
    }
}

extension PolicyRepository {
    /// Where a policy came from and the ratio it reaches.
    public struct Provenance: Sendable, Hashable {
        /// `policies.source`.
        public let source: String
        /// `policies.achieved_ratio`, else its `target_ratio`, else nil.
        public let ratio: Double?

        /// A policy's provenance.
        public init(source: String, ratio: Double?) {
            self.source = source
            self.ratio = ratio
        }
    }

    /// Every policy of `modelId`'s provenance, by lowercase policy id.
    public static func provenance(modelId: String, on connection: PGConnection) async throws -> [String: Provenance] {
        Dictionary(try await connection.query("""
            SELECT id, source, COALESCE(achieved_ratio, target_ratio) FROM policies WHERE model_id = \(modelId)
            """).decode((UUID, String, Double?).self).map {
                ($0.0.uuidString.lowercased(), Provenance(source: $0.1, ratio: $0.2))
            }, uniquingKeysWith: { first, _ in first })
    }
}

// MARK: - Many at once

extension RatioEventOutcomeRepository {
    /// ``insert(_:on:)`` for many outcomes in one statement.
    /// - Returns: the ratio event ids whose outcome this call stored; the
    ///   others were answered already (their callers must publish nothing).
    public static func insertMany(_ outcomes: [RatioEventOutcome], on connection: PGConnection) async throws -> Set<UUID> {
        struct Row: Encodable {
            let ratio_event_id: UUID, model_id: String, status: String, reason: String?, message: String?
            let policy_id: UUID?, source: String?, metric: String?, agent_version_id: UUID?, predictor_version_id: UUID?
            let achieved_ratio: Double?, predicted_perplexity: Double?, predicted_log_perplexity_std: Double?
            let measured_perplexity: Double?, verification_measurements: Int
        }
        guard !outcomes.isEmpty else { return [] }
        let rows = outcomes.map {
            Row(ratio_event_id: $0.ratioEventId, model_id: $0.modelId, status: $0.status.rawValue, reason: $0.reason,
                message: $0.message, policy_id: $0.policyId, source: $0.source, metric: $0.metric,
                agent_version_id: $0.agentVersionId, predictor_version_id: $0.predictorVersionId,
                achieved_ratio: $0.achievedRatio, predicted_perplexity: $0.predictedPerplexity,
                predicted_log_perplexity_std: $0.predictedLogPerplexityStd, measured_perplexity: $0.measuredPerplexity,
                verification_measurements: $0.verificationMeasurements)
        }
        return Set(try await connection.query(try """
            INSERT INTO ratio_event_outcomes (ratio_event_id, model_id, status, reason, message, policy_id, source,
                                              metric, agent_version_id, predictor_version_id, achieved_ratio,
                                              predicted_perplexity, predicted_log_perplexity_std, measured_perplexity,
                                              verification_measurements)
            SELECT x.ratio_event_id, x.model_id, x.status, x.reason, x.message, x.policy_id, x.source, x.metric,
                   x.agent_version_id, x.predictor_version_id, x.achieved_ratio, x.predicted_perplexity,
                   x.predicted_log_perplexity_std, x.measured_perplexity, x.verification_measurements
              FROM jsonb_to_recordset(\(SQLJSON(rows)))
                   AS x(ratio_event_id uuid, model_id text, status text, reason text, message text, policy_id uuid,
                        source text, metric text, agent_version_id uuid, predictor_version_id uuid,
                        achieved_ratio double precision, predicted_perplexity double precision,
                        predicted_log_perplexity_std double precision, measured_perplexity double precision,
                        verification_measurements integer)
            ON CONFLICT (ratio_event_id) DO NOTHING
            RETURNING ratio_event_id
            """).decode(UUID.self))
    }
}
