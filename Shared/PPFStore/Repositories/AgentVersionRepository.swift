import Foundation
import PPFContracts

// MARK: - AgentVersionRecord

/// A row of `agent_versions`: one trained agent, as stored.
public struct AgentVersionRecord: Sendable, Equatable, PGRowDecodable {
    /// The version id (``AgentVersionPublished/versionId``).
    public var id: UUID
    /// The model whose policies it proposes.
    public var modelId: String
    /// The predictor version it was trained against.
    public var predictorVersionId: UUID
    /// The `AgentArtifact` JSON (network, budget, configuration, training report).
    public var artifact: [UInt8]
    /// The training configuration in a stable text form: with the predictor
    /// version it identifies the version (a repeated training stores nothing new).
    public var configurationKey: String
    /// How it was trained (ratio range, seed, κ, reward calls, final statistics).
    public var summary: AgentTrainingSummary
    /// What caused the training (a predictor version event, a CLI run).
    public var correlationId: UUID?
    /// When it was stored.
    public var createdAt: Date

    /// The ratios it answers.
    public var ratioRange: ClosedRange<Double> { summary.minimumRatio...summary.maximumRatio }

    /// Creates a record to insert.
    public init(id: UUID = UUID(), modelId: String, predictorVersionId: UUID, artifact: [UInt8], configurationKey: String,
                summary: AgentTrainingSummary, correlationId: UUID?, createdAt: Date = Date()) {
        self.id = id
        self.modelId = modelId
        self.predictorVersionId = predictorVersionId
        self.artifact = artifact
        self.configurationKey = configurationKey
        self.summary = summary
        self.correlationId = correlationId
        self.createdAt = createdAt
    }

    /// Reads the columns of `agent_versions`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        modelId = try row.decode(column: "model_id")
        predictorVersionId = try row.decode(column: "predictor_version_id")
        artifact = try row.decode(column: "artifact")
        configurationKey = try row.decode(column: "configuration_key")
        summary = try row.decode(SQLJSON<AgentTrainingSummary>.self, column: "summary").value
        correlationId = try row.decode(column: "correlation_id")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - AgentVersionRepository

/// Reads and writes `agent_versions`.
public enum AgentVersionRepository {
    static let columns = """
        id, model_id, predictor_version_id, artifact, configuration_key, summary, correlation_id, created_at
        """

    /// Stores a version unless one with the same predictor version and
    /// configuration key exists; then that one is returned unchanged. Call
    /// it in the transaction that also enqueues the ``AgentVersionPublished``
    /// (and enqueue only when `inserted`).
    /// - Returns: the stored row and whether this call inserted it.
    /// - Throws: ``StoreError`` `foreignKeyViolation` for an unknown predictor version.
    public static func insert(_ version: AgentVersionRecord, on connection: PGConnection)
        async throws -> (record: AgentVersionRecord, inserted: Bool) {
        let summary = version.summary
        let inserted = try await connection.query(try """
            INSERT INTO agent_versions (id, model_id, predictor_version_id, artifact, minimum_ratio, maximum_ratio,
                                        allows_block_drop, configuration_key, summary, training_seconds,
                                        correlation_id, created_at)
            VALUES (\(version.id), \(version.modelId), \(version.predictorVersionId), \(version.artifact),
                    \(summary.minimumRatio), \(summary.maximumRatio), \(summary.allowsBlockDrop),
                    \(version.configurationKey), \(SQLJSON(summary)), \(summary.trainingSeconds),
                    \(version.correlationId), \(version.createdAt))
            ON CONFLICT (predictor_version_id, configuration_key) DO NOTHING
            RETURNING \(unsafeRaw: columns)
            """).decode(AgentVersionRecord.self)
        if let record = inserted.first { return (record, true) }
        // A conflicting insert waits for the other transaction, so its row is visible now.
        guard let existing = try await find(predictorVersionId: version.predictorVersionId,
                                            configurationKey: version.configurationKey, on: connection) else {
            throw StoreError(.decodingFailed,
                             "agent version for predictor \(version.predictorVersionId) conflicted on insert but cannot be read")
        }
        return (existing, false)
    }

    /// The version trained against `predictorVersionId` with `configurationKey`, or nil.
    public static func find(predictorVersionId: UUID, configurationKey: String, on connection: PGConnection)
        async throws -> AgentVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM agent_versions
             WHERE predictor_version_id = \(predictorVersionId) AND configuration_key = \(configurationKey)
            """).decode(AgentVersionRecord.self).first
    }

    /// The version with `id`, or nil.
    public static func find(id: UUID, on connection: PGConnection) async throws -> AgentVersionRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM agent_versions WHERE id = \(id)")
            .decode(AgentVersionRecord.self).first
    }

    /// The newest version of `modelId` (any predictor version), or nil.
    public static func latest(modelId: String, on connection: PGConnection) async throws -> AgentVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM agent_versions
             WHERE model_id = \(modelId) ORDER BY created_at DESC, id LIMIT 1
            """).decode(AgentVersionRecord.self).first
    }

    /// The newest version of `modelId` whose configuration key contains
    /// `marker` (any predictor version), or nil: the newest anchored agent.
    public static func latest(modelId: String, configurationKeyContaining marker: String,
                              on connection: PGConnection) async throws -> AgentVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM agent_versions
             WHERE model_id = \(modelId) AND strpos(configuration_key, \(marker)) > 0
             ORDER BY created_at DESC, id LIMIT 1
            """).decode(AgentVersionRecord.self).first
    }

    /// The newest version trained against `predictorVersionId` (any configuration), or nil.
    public static func latest(predictorVersionId: UUID, on connection: PGConnection) async throws -> AgentVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM agent_versions
             WHERE predictor_version_id = \(predictorVersionId) ORDER BY created_at DESC, id LIMIT 1
            """).decode(AgentVersionRecord.self).first
    }

    /// How many versions `modelId` has.
    public static func count(modelId: String, on connection: PGConnection) async throws -> Int {
        try await connection.query("SELECT count(*) FROM agent_versions WHERE model_id = \(modelId)")
            .first?.decode(Int.self, column: 0) ?? 0
    }
}

extension AgentVersionRepository {
    /// Whether an agent version exists for the predictor version that the
    /// train command `commandId` produced (the agent service retrained on it).
    public static func existsForPredictorTrained(byCommand commandId: UUID, on connection: PGConnection) async throws -> Bool {
        try await connection.query("""
            SELECT EXISTS (SELECT 1 FROM agent_versions a JOIN predictor_versions p ON p.id = a.predictor_version_id
                            WHERE p.correlation_id = \(commandId))
            """).first?.decode(Bool.self, column: 0) ?? false
    }
}
