import Foundation
import PPFContracts

// MARK: - PlanRecord

/// A row of `plans`: one published policy turned into the structures each block keeps.
public struct PlanRecord: Sendable, Equatable, PGRowDecodable {
    /// The plan's id (``PlanPublished/planId``); model-host names the pruned model by it.
    public var id: UUID
    /// The ratio-change event answered; unique, so one plan per event.
    public var ratioEventId: UUID
    /// The planned policy.
    public var policyId: UUID
    /// The model (deployment).
    public var modelId: String
    /// The importance metric that chose the kept structures.
    public var metric: String
    /// The plan as JSON text (PPFPruning's `PruningPlan`, stored as is in a
    /// jsonb column). The store does not know the type; the pruner and
    /// model-host encode and decode it.
    public var plan: String
    /// Prunable parameters the pruned model keeps.
    public var keptParameters: Int
    /// Prunable parameters of the dense model.
    public var totalParameters: Int
    /// `1 − kept / total`.
    public var achievedRatio: Double
    /// The ratio the event asked for, when known.
    public var targetRatio: Double?
    /// Where the pruned model was exported as GGUF, if it was.
    public var exportPath: String?
    /// The pruner instance that made it.
    public var prunerId: String
    /// Seconds spent planning (and exporting).
    public var seconds: Double
    /// When it was stored.
    public var createdAt: Date

    /// Creates a record to insert.
    public init(id: UUID = UUID(), ratioEventId: UUID, policyId: UUID, modelId: String, metric: String, plan: String,
                keptParameters: Int, totalParameters: Int, achievedRatio: Double, targetRatio: Double?,
                exportPath: String?, prunerId: String, seconds: Double, createdAt: Date = Date()) {
        self.id = id
        self.ratioEventId = ratioEventId
        self.policyId = policyId
        self.modelId = modelId
        self.metric = metric
        self.plan = plan
        self.keptParameters = keptParameters
        self.totalParameters = totalParameters
        self.achievedRatio = achievedRatio
        self.targetRatio = targetRatio
        self.exportPath = exportPath
        self.prunerId = prunerId
        self.seconds = seconds
        self.createdAt = createdAt
    }

    /// Reads the columns of `plans`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        ratioEventId = try row.decode(column: "ratio_event_id")
        policyId = try row.decode(column: "policy_id")
        modelId = try row.decode(column: "model_id")
        metric = try row.decode(column: "metric")
        plan = try row.decode(column: "plan")
        keptParameters = try row.decode(column: "kept_parameters")
        totalParameters = try row.decode(column: "total_parameters")
        achievedRatio = try row.decode(column: "achieved_ratio")
        targetRatio = try row.decode(column: "target_ratio")
        exportPath = try row.decode(column: "export_path")
        prunerId = try row.decode(column: "pruner_id")
        seconds = try row.decode(column: "seconds")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - UnplannedPolicy

/// A policy published for a ratio-change event that has no plan yet: what a
/// pruner reconciles on start (the local broker forgets in-flight messages).
public struct UnplannedPolicy: Sendable, Equatable, PGRowDecodable {
    /// The ratio-change event the policy answers.
    public var ratioEventId: UUID
    /// The policy's id.
    public var policyId: UUID
    /// Its per-block ratios.
    public var policy: PruningPolicy
    /// The ratio the event asked for, when known.
    public var targetRatio: Double?
    /// The metric its ``PolicyPublished`` named, when that announcement is
    /// still in the outbox; `nil` when only the policy row tells of it.
    public var metric: String?

    /// Reads `ratio_event_id`, `policy_id`, `policy`, `target_ratio` and `metric`.
    public init(row: PGRow) throws {
        ratioEventId = try row.decode(column: "ratio_event_id")
        policyId = try row.decode(column: "policy_id")
        policy = try row.decode(SQLJSON<PruningPolicy>.self, column: "policy").value
        targetRatio = try row.decode(column: "target_ratio")
        metric = try row.decode(column: "metric")
    }
}

// MARK: - PlanRepository

/// Reads and writes `plans`.
///
/// Ownership: the pruner inserts a row with ``insert(_:on:)`` and enqueues the
/// ``PlanPublished`` message in the same transaction. model-host reads.
public enum PlanRepository {
    static let columns = """
        id, ratio_event_id, policy_id, model_id, metric, plan, kept_parameters, total_parameters, achieved_ratio,
        target_ratio, export_path, pruner_id, seconds, created_at
        """

    /// Stores `plan` unless its ratio event already has one.
    /// - Returns: whether this call inserted the row; `false` means the event
    ///   was planned already (a redelivery, a re-published policy, or another
    ///   pruner that won the race): the caller then announces nothing.
    /// - Throws: ``StoreError`` `foreignKeyViolation` for an unknown policy id;
    ///   a server error when `plan.plan` is not JSON.
    public static func insert(_ plan: PlanRecord, on connection: PGConnection) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO plans (id, ratio_event_id, policy_id, model_id, metric, plan, kept_parameters, total_parameters,
                               achieved_ratio, target_ratio, export_path, pruner_id, seconds, created_at)
            VALUES (\(plan.id), \(plan.ratioEventId), \(plan.policyId), \(plan.modelId), \(plan.metric),
                    \(plan.plan)::jsonb, \(plan.keptParameters), \(plan.totalParameters), \(plan.achievedRatio),
                    \(plan.targetRatio), \(plan.exportPath), \(plan.prunerId), \(plan.seconds), \(plan.createdAt))
            ON CONFLICT (ratio_event_id) DO NOTHING
            """) == 1
    }

    /// The plan with `id`, or nil.
    public static func find(id: UUID, on connection: PGConnection) async throws -> PlanRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM plans WHERE id = \(id)")
            .decode(PlanRecord.self).first
    }

    /// The plan answering ratio event `ratioEventId`, or nil.
    public static func find(ratioEventId: UUID, on connection: PGConnection) async throws -> PlanRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM plans WHERE ratio_event_id = \(ratioEventId)")
            .decode(PlanRecord.self).first
    }

    /// The newest plan of `modelId`, or nil: what model-host serves after a restart.
    public static func latest(modelId: String, on connection: PGConnection) async throws -> PlanRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM plans WHERE model_id = \(modelId) ORDER BY created_at DESC, id DESC LIMIT 1
            """).decode(PlanRecord.self).first
    }

    /// How many plans `modelId` has.
    public static func count(modelId: String, on connection: PGConnection) async throws -> Int {
        try await connection.query("SELECT count(*) FROM plans WHERE model_id = \(modelId)")
            .first?.decode(Int.self, column: 0) ?? 0
    }

    /// Policies published for `modelId` whose ratio event has no plan, oldest first.
    ///
    /// Two sources, because the broker may have lost the message:
    /// - each ``PolicyPublished`` still in the outbox (topic
    ///   ``Topic/prunedPolicies``, key the model id), published or not: it
    ///   names the event, the policy and the metric exactly;
    /// - a policy row whose correlation id is a ratio event of the model,
    ///   when that event has no announcement in the outbox and exactly one
    ///   policy row (several rows, as a search that stored its candidates
    ///   leaves, do not say which one was chosen). Its metric is unknown.
    ///
    /// - Parameter seconds: only policies announced (or stored) at least this
    ///   long ago (younger ones are still on their way through the broker). Default 0: all.
    public static func unplanned(modelId: String, olderThan seconds: Double = 0,
                                 on connection: PGConnection) async throws -> [UnplannedPolicy] {
        try await connection.query("""
            WITH announced AS (
                SELECT DISTINCT ON (ratio_event_id) ratio_event_id, policy_id, metric, target_ratio, at
                  FROM (SELECT (d.doc #>> '{payload,ratioEventId}')::uuid AS ratio_event_id,
                               (d.doc #>> '{payload,policyId}')::uuid AS policy_id,
                               d.doc #>> '{payload,metric}' AS metric,
                               (d.doc #>> '{payload,targetRatio}')::float8 AS target_ratio,
                               o.created_at AS at, o.id
                          FROM outbox o CROSS JOIN LATERAL (SELECT convert_from(o.payload, 'UTF8')::jsonb AS doc) d
                         WHERE o.topic = \(Topic.prunedPolicies) AND o.key = \(modelId)
                           AND d.doc ->> 'type' = \(PolicyPublished.messageType)) entries
                 ORDER BY ratio_event_id, id DESC
            ), recorded AS (
                SELECT e.id AS ratio_event_id, min(p.id::text)::uuid AS policy_id, NULL::text AS metric,
                       e.target_ratio, e.created_at AS at
                  FROM ratio_events e JOIN policies p ON p.correlation_id = e.id AND p.model_id = e.model_id
                 WHERE e.model_id = \(modelId)
                   AND NOT EXISTS (SELECT 1 FROM announced a WHERE a.ratio_event_id = e.id)
                 GROUP BY e.id, e.target_ratio, e.created_at
                HAVING count(*) = 1
            ), candidates AS (
                SELECT * FROM announced UNION ALL SELECT * FROM recorded
            )
            SELECT c.ratio_event_id, c.policy_id, c.metric, c.target_ratio, p.policy
              FROM candidates c JOIN policies p ON p.id = c.policy_id
             WHERE NOT EXISTS (SELECT 1 FROM plans WHERE plans.ratio_event_id = c.ratio_event_id)
               AND c.at <= now() - make_interval(secs => \(seconds))
             ORDER BY c.at, c.ratio_event_id
            """).decode(UnplannedPolicy.self)
    }
}
