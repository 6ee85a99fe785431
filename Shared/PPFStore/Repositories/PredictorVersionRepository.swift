import Foundation
import PPFContracts

// MARK: - PredictorVersionRecord

/// A row of `predictor_versions`: one trained predictor, as stored.
public struct PredictorVersionRecord: Sendable, Equatable, PGRowDecodable {
    /// The version id (``PredictorVersionPublished/versionId``).
    public var id: UUID
    /// The model it scores policies of.
    public var modelId: String
    /// The `PredictorArtifact` JSON (weights, normalisation, feature spec, metrics).
    public var artifact: [UInt8]
    /// Measured policies it was trained and evaluated on.
    public var sampleCount: Int
    /// The `measurements.id`s it used (training and held-out folds).
    public var trainingMeasurementIds: [Int64]
    /// Held-out metrics; nil when too few samples to hold any out.
    public var heldOut: HeldOutSummary?
    /// Wall-clock seconds of training.
    public var trainingSeconds: Double
    /// What caused the training (a command, or the measurement that crossed the threshold).
    public var correlationId: UUID?
    /// When it was stored.
    public var createdAt: Date

    /// Creates a record to insert.
    public init(id: UUID = UUID(), modelId: String, artifact: [UInt8], sampleCount: Int, trainingMeasurementIds: [Int64],
                heldOut: HeldOutSummary?, trainingSeconds: Double, correlationId: UUID?, createdAt: Date = Date()) {
        self.id = id
        self.modelId = modelId
        self.artifact = artifact
        self.sampleCount = sampleCount
        self.trainingMeasurementIds = trainingMeasurementIds
        self.heldOut = heldOut
        self.trainingSeconds = trainingSeconds
        self.correlationId = correlationId
        self.createdAt = createdAt
    }

    /// Reads the columns of `predictor_versions`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        modelId = try row.decode(column: "model_id")
        artifact = try row.decode(column: "artifact")
        sampleCount = try row.decode(column: "sample_count")
        trainingMeasurementIds = try row.decode(column: "training_measurement_ids")
        if let count = try row.decode(Int?.self, column: "held_out_count") {
            heldOut = HeldOutSummary(
                count: count, kendallTau: try row.decode(column: "kendall_tau"),
                spearman: try row.decode(column: "spearman"), mae: try row.decode(column: "mae"),
                mape: try row.decode(column: "mape"), rmseLog: try row.decode(column: "rmse_log"))
        } else {
            heldOut = nil
        }
        trainingSeconds = try row.decode(column: "training_seconds")
        correlationId = try row.decode(column: "correlation_id")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - PredictorVersionRepository

/// Reads and writes `predictor_versions`.
public enum PredictorVersionRepository {
    static let summaryColumns = """
        id, model_id, sample_count, training_measurement_ids, held_out_count, kendall_tau, spearman, mae, mape,
        rmse_log, training_seconds, correlation_id, created_at
        """

    /// Stores a version. Call it in the transaction that also enqueues its
    /// ``PredictorVersionPublished``.
    public static func insert(_ version: PredictorVersionRecord, on connection: PGConnection) async throws {
        let held = version.heldOut
        _ = try await connection.execute("""
            INSERT INTO predictor_versions (id, model_id, artifact, sample_count, training_measurement_ids,
                                            held_out_count, kendall_tau, spearman, mae, mape, rmse_log,
                                            training_seconds, correlation_id, created_at)
            VALUES (\(version.id), \(version.modelId), \(version.artifact), \(version.sampleCount),
                    \(version.trainingMeasurementIds), \(held?.count), \(held?.kendallTau), \(held?.spearman),
                    \(held?.mae), \(held?.mape), \(held?.rmseLog), \(version.trainingSeconds),
                    \(version.correlationId), \(version.createdAt))
            """)
    }

    /// The newest version of `modelId` with its artifact, or nil when none exists.
    public static func latest(modelId: String, on connection: PGConnection) async throws -> PredictorVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: summaryColumns), artifact FROM predictor_versions
             WHERE model_id = \(modelId) ORDER BY created_at DESC, id LIMIT 1
            """).decode(PredictorVersionRecord.self).first
    }

    /// The newest version's id and training ids, without the artifact (cheap;
    /// for cache checks and retraining thresholds), or nil.
    public static func latestSummary(modelId: String, on connection: PGConnection)
        async throws -> (id: UUID, trainingMeasurementIds: [Int64])? {
        guard let row = try await connection.query("""
            SELECT id, training_measurement_ids FROM predictor_versions
             WHERE model_id = \(modelId) ORDER BY created_at DESC, id LIMIT 1
            """).first else { return nil }
        return (try row.decode(UUID.self, column: 0), try row.decode([Int64].self, column: 1))
    }

    /// The version with `id` (with its artifact), or nil.
    public static func find(id: UUID, on connection: PGConnection) async throws -> PredictorVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: summaryColumns), artifact FROM predictor_versions WHERE id = \(id)
            """).decode(PredictorVersionRecord.self).first
    }

    /// How many versions `modelId` has.
    public static func count(modelId: String, on connection: PGConnection) async throws -> Int {
        try await connection.query("SELECT count(*) FROM predictor_versions WHERE model_id = \(modelId)")
            .first?.decode(Int.self, column: 0) ?? 0
    }

    /// Every model with at least one version.
    public static func modelIds(on connection: PGConnection) async throws -> [String] {
        try await connection.query("SELECT DISTINCT model_id FROM predictor_versions ORDER BY model_id").decode(String.self)
    }
}
