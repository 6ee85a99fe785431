import Foundation
import PPFContracts

// MARK: - PolicyRecord

/// A row of `policies`: a policy stored once per model and canonical key.
public struct PolicyRecord: Sendable, Equatable, PGRowDecodable {
    /// The policy's id, referenced by evaluation requests and measurements.
    public var id: UUID
    /// The model the policy prunes.
    public var modelId: String
    /// The per-block ratios.
    public var policy: PruningPolicy
    /// Who proposed it: a baseline's name, `sampler`, `agent`, `static-search`.
    public var source: String
    /// The ratio it was made for, when known.
    public var targetRatio: Double?
    /// The ratio it achieves on the model's shapes, once computed.
    public var achievedRatio: Double?
    /// The request (usually a ratio event) that caused it.
    public var correlationId: UUID?
    /// When it was first stored.
    public var createdAt: Date

    /// Reads the columns of `policies` of the same names.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        modelId = try row.decode(column: "model_id")
        policy = try row.decode(SQLJSON<PruningPolicy>.self, column: "policy").value
        source = try row.decode(column: "source")
        targetRatio = try row.decode(column: "target_ratio")
        achievedRatio = try row.decode(column: "achieved_ratio")
        correlationId = try row.decode(column: "correlation_id")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - PolicyRepository

/// Reads and writes `policies`. SQL goes through ``SQLQuery`` interpolation only.
public enum PolicyRepository {
    static let columns = "id, model_id, policy, source, target_ratio, achieved_ratio, correlation_id, created_at"

    /// Stores `policy` for `modelId` unless the model already has a policy
    /// with the same canonical key (``PruningPolicy/canonicalKey(decimals:)``,
    /// 4 decimals); then the existing row is returned unchanged.
    /// - Parameter id: the id a new row gets (ignored when the policy exists).
    /// - Returns: the stored row and whether this call inserted it.
    public static func store(
        _ policy: PruningPolicy, modelId: String, source: String, targetRatio: Double? = nil,
        achievedRatio: Double? = nil, correlationId: UUID? = nil, id: UUID = UUID(), on connection: PGConnection
    ) async throws -> (record: PolicyRecord, inserted: Bool) {
        let key = policy.canonicalKey()
        let inserted = try await connection.query(try """
            INSERT INTO policies (id, model_id, policy, policy_key, layer_count, source, target_ratio,
                                  achieved_ratio, correlation_id)
            VALUES (\(id), \(modelId), \(SQLJSON(policy)), \(key), \(policy.layers.count), \(source),
                    \(targetRatio), \(achievedRatio), \(correlationId))
            ON CONFLICT (model_id, policy_key) DO NOTHING
            RETURNING \(unsafeRaw: columns)
            """).decode(PolicyRecord.self)
        if let record = inserted.first { return (record, true) }
        // A conflicting insert waits for the other transaction, so the row is visible now.
        let existing = try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM policies WHERE model_id = \(modelId) AND policy_key = \(key)
            """).decode(PolicyRecord.self)
        guard let record = existing.first else {
            throw StoreError(.decodingFailed, "policy \(key) of model \(modelId) conflicted on insert but cannot be read")
        }
        return (record, false)
    }

    /// The policy with `id`, or nil.
    public static func find(id: UUID, on connection: PGConnection) async throws -> PolicyRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM policies WHERE id = \(id)")
            .decode(PolicyRecord.self).first
    }

    /// Every policy of `modelId`, oldest first.
    public static func all(modelId: String, on connection: PGConnection) async throws -> [PolicyRecord] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM policies WHERE model_id = \(modelId) ORDER BY created_at, id
            """).decode(PolicyRecord.self)
    }

    /// Records the ratio the policy achieves (the pruning engine computes it from the model's shapes).
    public static func setAchievedRatio(_ ratio: Double, policyId: UUID, on connection: PGConnection) async throws {
        _ = try await connection.execute("UPDATE policies SET achieved_ratio = \(ratio) WHERE id = \(policyId)")
    }
}

// MARK: - Many at once

extension PolicyRepository {
    /// A policy to store with ``storeMany(_:on:)``.
    public struct NewPolicy: Sendable {
        public var policy: PruningPolicy
        public var modelId: String
        public var source: String
        public var targetRatio: Double?
        public var achievedRatio: Double?
        public var correlationId: UUID?

        /// The arguments ``PolicyRepository/store(_:modelId:source:targetRatio:achievedRatio:correlationId:id:on:)`` takes.
        public init(_ policy: PruningPolicy, modelId: String, source: String, targetRatio: Double? = nil,
                    achievedRatio: Double? = nil, correlationId: UUID? = nil) {
            self.policy = policy
            self.modelId = modelId
            self.source = source
            self.targetRatio = targetRatio
            self.achievedRatio = achievedRatio
            self.correlationId = correlationId
        }
    }

    /// ``store(_:modelId:source:targetRatio:achievedRatio:correlationId:id:on:)``
    /// for many policies in two statements: the same policy (per model) is
    /// one row, the first writer's, whether it was stored before or appears
    /// twice in `policies`.
    /// - Returns: each policy's row, in the order given.
    public static func storeMany(_ policies: [NewPolicy], on connection: PGConnection) async throws -> [PolicyRecord] {
        struct Row: Encodable {
            let ord: Int, id: UUID, model_id: String, policy: PruningPolicy, policy_key: String, layer_count: Int
            let source: String, target_ratio: Double?, achieved_ratio: Double?, correlation_id: UUID?
        }
        guard !policies.isEmpty else { return [] }
        let keys = policies.map { $0.policy.canonicalKey() }
        let rows = policies.enumerated().map { index, new in
            Row(ord: index, id: UUID(), model_id: new.modelId, policy: new.policy, policy_key: keys[index],
                layer_count: new.policy.layers.count, source: new.source, target_ratio: new.targetRatio,
                achieved_ratio: new.achievedRatio, correlation_id: new.correlationId)
        }
        _ = try await connection.execute(try """
            INSERT INTO policies (id, model_id, policy, policy_key, layer_count, source, target_ratio,
                                  achieved_ratio, correlation_id)
            SELECT x.id, x.model_id, x.policy, x.policy_key, x.layer_count, x.source, x.target_ratio,
                   x.achieved_ratio, x.correlation_id
              FROM jsonb_to_recordset(\(SQLJSON(rows)))
                   AS x(ord integer, id uuid, model_id text, policy jsonb, policy_key text, layer_count integer,
                        source text, target_ratio double precision, achieved_ratio double precision, correlation_id uuid)
             ORDER BY x.ord
            ON CONFLICT (model_id, policy_key) DO NOTHING
            """)
        // A conflicting insert waits for the other transaction, so every row is visible now.
        let stored = try await connection.query("""
            SELECT \(unsafeRaw: columns), policy_key FROM policies
              JOIN unnest(\(policies.map(\.modelId)), \(keys)) AS k(model_id, policy_key) USING (model_id, policy_key)
            """)
        var byKey: [String: PolicyRecord] = [:]
        for row in stored {
            let record = try PolicyRecord(row: row)
            byKey["\(record.modelId)\u{0}\(try row.decode(String.self, column: "policy_key"))"] = record
        }
        return try policies.enumerated().map { index, new in
            guard let record = byKey["\(new.modelId)\u{0}\(keys[index])"] else {
                throw StoreError(.decodingFailed, "policy \(keys[index]) of model \(new.modelId) was stored but cannot be read")
            }
            return record
        }
    }
}
