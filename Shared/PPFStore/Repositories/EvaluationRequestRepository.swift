import Foundation
import PPFContracts

// MARK: - EvaluationRequestRecord

/// A row of `evaluation_requests`: what was asked to be measured, and why.
public struct EvaluationRequestRecord: Sendable, Equatable, PGRowDecodable {
    /// The request id (``EvaluationRequest/requestId``).
    public var id: UUID
    /// The policy to measure.
    public var policyId: UUID
    /// The model.
    public var modelId: String
    /// Importance metric for the plan.
    public var metric: String
    /// Corpus split.
    public var split: String
    /// Tokens to score.
    public var tokenBudget: Int
    /// Context window per chunk (column `window_size`; `window` is reserved in SQL).
    public var window: Int
    /// Why (``EvaluationReason`` raw value).
    public var reason: String
    /// The request that caused it.
    public var correlationId: UUID
    /// When it was stored.
    public var createdAt: Date

    /// Reads the columns of `evaluation_requests`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        policyId = try row.decode(column: "policy_id")
        modelId = try row.decode(column: "model_id")
        metric = try row.decode(column: "metric")
        split = try row.decode(column: "split")
        tokenBudget = try row.decode(column: "token_budget")
        window = try row.decode(column: "window_size")
        reason = try row.decode(column: "reason")
        correlationId = try row.decode(column: "correlation_id")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - EvaluationRequestRepository

/// Reads and writes `evaluation_requests`.
public enum EvaluationRequestRepository {
    static let columns = "id, policy_id, model_id, metric, split, token_budget, window_size, reason, correlation_id, created_at"

    /// Stores `request` (its policy must be stored already); a second call
    /// with the same request id changes nothing.
    /// - Returns: whether this call inserted the row.
    /// - Throws: ``StoreError`` `foreignKeyViolation` for an unknown policy id.
    @discardableResult
    public static func insert(_ request: EvaluationRequest, correlationId: UUID, on connection: PGConnection) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO evaluation_requests (id, policy_id, model_id, metric, split, token_budget, window_size,
                                             reason, correlation_id)
            VALUES (\(request.requestId), \(request.policyId), \(request.modelId), \(request.metric), \(request.split),
                    \(request.tokenBudget), \(request.window), \(request.reason.rawValue), \(correlationId))
            ON CONFLICT (id) DO NOTHING
            """) == 1
    }

    /// The oldest request for `policyId` in `regime` (any reason), or nil:
    /// askers reuse it instead of measuring the same policy twice.
    public static func existing(policyId: UUID, in regime: MeasurementRegime, on connection: PGConnection) async throws -> UUID? {
        try await connection.query("""
            SELECT id FROM evaluation_requests
             WHERE policy_id = \(policyId) AND metric = \(regime.metric) AND split = \(regime.split)
               AND token_budget = \(regime.tokenBudget) AND window_size = \(regime.window)
             ORDER BY created_at, id LIMIT 1
            """).first?.decode(UUID.self, column: 0)
    }

    /// The request with `id`, or nil.
    public static func find(id: UUID, on connection: PGConnection) async throws -> EvaluationRequestRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM evaluation_requests WHERE id = \(id)")
            .decode(EvaluationRequestRecord.self).first
    }

    /// Claims, for announcing again, up to `limit` requests of `modelId` that
    /// have no measurement, were stored (or last announced again) at least
    /// `seconds` ago, and were announced again fewer than `maximumRepublishes`
    /// times; oldest first. Each claimed row's count goes up by one and its
    /// time is now, in the caller's transaction, and rows another transaction
    /// holds are skipped: two evaluators reconciling at once claim different
    /// requests, and a request is announced again at most once per `seconds`.
    /// - Returns: each claimed request with its stored policy.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction.
    public static func claimStale(modelId: String, olderThan seconds: Double, maximumRepublishes: Int, limit: Int,
                                  on connection: PGConnection) async throws -> [(EvaluationRequestRecord, PruningPolicy)] {
        guard await connection.isInTransaction else {
            throw StoreError(.notInTransaction, "EvaluationRequestRepository.claimStale must run inside the transaction that announces the requests again")
        }
        return try await connection.query("""
            WITH stale AS (
                SELECT r.id FROM evaluation_requests r
                 WHERE r.model_id = \(modelId)
                   AND r.republish_count < \(maximumRepublishes)
                   AND coalesce(r.republished_at, r.created_at) <= now() - make_interval(secs => \(seconds))
                   AND NOT EXISTS (SELECT 1 FROM measurements m WHERE m.request_id = r.id)
                 ORDER BY r.created_at, r.id
                 LIMIT \(limit)
                 FOR UPDATE SKIP LOCKED)
            UPDATE evaluation_requests r
               SET republish_count = r.republish_count + 1, republished_at = now()
              FROM stale, policies p
             WHERE r.id = stale.id AND p.id = r.policy_id
            RETURNING r.id, r.policy_id, r.model_id, r.metric, r.split, r.token_budget, r.window_size, r.reason,
                      r.correlation_id, r.created_at, p.policy
            """).map { row in
            (try EvaluationRequestRecord(row: row), try row.decode(SQLJSON<PruningPolicy>.self, column: "policy").value)
        }.sorted { ($0.0.createdAt, $0.0.id.uuidString) < ($1.0.createdAt, $1.0.id.uuidString) }
    }
}

// MARK: - Many at once

extension EvaluationRequestRepository {
    /// ``insert(_:correlationId:on:)`` for many requests in one statement.
    public static func insertMany(_ requests: [(request: EvaluationRequest, correlationId: UUID)],
                                  on connection: PGConnection) async throws {
        struct Row: Encodable {
            let id: UUID, policy_id: UUID, model_id: String, metric: String, split: String, token_budget: Int
            let window_size: Int, reason: String, correlation_id: UUID
        }
        guard !requests.isEmpty else { return }
        let rows = requests.map {
            Row(id: $0.request.requestId, policy_id: $0.request.policyId, model_id: $0.request.modelId,
                metric: $0.request.metric, split: $0.request.split, token_budget: $0.request.tokenBudget,
                window_size: $0.request.window, reason: $0.request.reason.rawValue, correlation_id: $0.correlationId)
        }
        _ = try await connection.execute(try """
            INSERT INTO evaluation_requests (id, policy_id, model_id, metric, split, token_budget, window_size,
                                             reason, correlation_id)
            SELECT x.id, x.policy_id, x.model_id, x.metric, x.split, x.token_budget, x.window_size, x.reason,
                   x.correlation_id
              FROM jsonb_to_recordset(\(SQLJSON(rows)))
                   AS x(id uuid, policy_id uuid, model_id text, metric text, split text, token_budget integer,
                        window_size integer, reason text, correlation_id uuid)
            ON CONFLICT (id) DO NOTHING
            """)
    }

    /// ``existing(policyId:in:on:)`` for many policies in one statement.
    /// - Returns: the oldest request in `regime` of each policy that has one.
    public static func existingMany(policyIds: [UUID], in regime: MeasurementRegime,
                                    on connection: PGConnection) async throws -> [UUID: UUID] {
        guard !policyIds.isEmpty else { return [:] }
        var found: [UUID: UUID] = [:]
        for row in try await connection.query("""
            SELECT DISTINCT ON (policy_id) policy_id, id FROM evaluation_requests
             WHERE policy_id = ANY(\(policyIds)) AND metric = \(regime.metric) AND split = \(regime.split)
               AND token_budget = \(regime.tokenBudget) AND window_size = \(regime.window)
             ORDER BY policy_id, created_at, id
            """) {
            found[try row.decode(UUID.self, column: "policy_id")] = try row.decode(UUID.self, column: "id")
        }
        return found
    }
}

// MARK: - Requests of a regime

/// A stored request with its policy and whether it is measured yet: what a
/// resumed bootstrap needs to wait for it or to announce it again.
public struct RequestOfRegime: Sendable, Equatable {
    /// `evaluation_requests.id`.
    public var id: UUID
    /// What caused it (one bootstrap run, one ratio event).
    public var correlationId: UUID
    /// `policies.id`.
    public var policyId: UUID
    /// The policy measured.
    public var policy: PruningPolicy
    /// Whether a measurement answers it.
    public var measured: Bool
}

extension EvaluationRequestRepository {
    /// The requests of `modelId` in `regime` asked for `reason`, oldest first.
    public static func all(modelId: String, in regime: MeasurementRegime, reason: EvaluationReason,
                           on connection: PGConnection) async throws -> [RequestOfRegime] {
        try await connection.query("""
            SELECT r.id, r.correlation_id, p.id AS policy_id, p.policy,
                   EXISTS (SELECT 1 FROM measurements m WHERE m.request_id = r.id) AS measured
              FROM evaluation_requests r JOIN policies p ON p.id = r.policy_id
             WHERE r.model_id = \(modelId) AND r.metric = \(regime.metric) AND r.split = \(regime.split)
               AND r.token_budget = \(regime.tokenBudget) AND r.window_size = \(regime.window)
               AND r.reason = \(reason.rawValue)
             ORDER BY r.created_at, r.id
            """).map { row in
            RequestOfRegime(id: try row.decode(UUID.self, column: "id"),
                            correlationId: try row.decode(UUID.self, column: "correlation_id"),
                            policyId: try row.decode(UUID.self, column: "policy_id"),
                            policy: try row.decode(SQLJSON<PruningPolicy>.self, column: "policy").value,
                            measured: try row.decode(Bool.self, column: "measured"))
        }
    }

    /// The canonical keys (``PruningPolicy/canonicalKey()``) of every policy
    /// of `modelId` with a request in `regime`, of any reason: those are
    /// never measured twice there.
    public static func requestedPolicyKeys(modelId: String, in regime: MeasurementRegime,
                                           on connection: PGConnection) async throws -> Set<String> {
        Set(try await connection.query("""
            SELECT DISTINCT p.policy_key FROM evaluation_requests r JOIN policies p ON p.id = r.policy_id
             WHERE r.model_id = \(modelId) AND r.metric = \(regime.metric) AND r.split = \(regime.split)
               AND r.token_budget = \(regime.tokenBudget) AND r.window_size = \(regime.window)
            """).decode(String.self))
    }
}
