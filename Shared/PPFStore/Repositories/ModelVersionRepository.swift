import Foundation

// MARK: - ModelVersionRecord

/// A row of `model_versions`: one model version a model-host instance put
/// into service, and when it stopped serving.
public struct ModelVersionRecord: Sendable, Equatable, PGRowDecodable {
    /// Position in the table.
    public var id: Int64
    /// The deployment.
    public var modelId: String
    /// The model-host instance.
    public var instanceId: String
    /// `dense` or the plan id (``PPFContracts/ModelVersion``).
    public var version: String
    /// The plan; nil for the dense model.
    public var planId: UUID?
    /// 0 for the version the instance started with, then 1, 2, … per swap.
    public var swapNumber: Int
    /// Seconds spent building the version, off the serving path.
    public var buildSeconds: Double
    /// When it started answering.
    public var servedFrom: Date
    /// When the next version replaced it; nil while it serves.
    public var servedUntil: Date?

    /// Reads the columns of `model_versions`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        modelId = try row.decode(column: "model_id")
        instanceId = try row.decode(column: "instance_id")
        version = try row.decode(column: "version")
        planId = try row.decode(column: "plan_id")
        swapNumber = try row.decode(column: "swap_number")
        buildSeconds = try row.decode(column: "build_seconds")
        servedFrom = try row.decode(column: "served_from")
        servedUntil = try row.decode(column: "served_until")
    }
}

// MARK: - ModelVersionRepository

/// Reads and writes `model_versions`. model-host writes; `ppf` and tests read.
public enum ModelVersionRepository {
    static let columns = "id, model_id, instance_id, version, plan_id, swap_number, build_seconds, served_from, served_until"

    /// Records that `instanceId` serves `version` from now on: closes the
    /// instance's open row (if any) and opens a new one. Call it in the
    /// transaction that also enqueues the ``PPFContracts/ModelHostStatus``.
    /// - Returns: the new row.
    /// - Throws: ``StoreError`` `foreignKeyViolation` for an unknown plan id.
    public static func startServing(modelId: String, instanceId: String, version: String, planId: UUID?,
                                    swapNumber: Int, buildSeconds: Double,
                                    on connection: PGConnection) async throws -> ModelVersionRecord {
        try await close(modelId: modelId, instanceId: instanceId, on: connection)
        let rows = try await connection.query("""
            INSERT INTO model_versions (model_id, instance_id, version, plan_id, swap_number, build_seconds)
            VALUES (\(modelId), \(instanceId), \(version), \(planId), \(swapNumber), \(buildSeconds))
            RETURNING \(unsafeRaw: columns)
            """).decode(ModelVersionRecord.self)
        guard let row = rows.first else { throw StoreError(.decodingFailed, "INSERT INTO model_versions returned no row") }
        return row
    }

    /// Marks the instance's serving version as no longer serving (at shutdown, or before the next one).
    public static func close(modelId: String, instanceId: String, on connection: PGConnection) async throws {
        _ = try await connection.execute("""
            UPDATE model_versions SET served_until = clock_timestamp()
             WHERE model_id = \(modelId) AND instance_id = \(instanceId) AND served_until IS NULL
            """)
    }

    /// The version `instanceId` serves now, or nil.
    public static func current(modelId: String, instanceId: String, on connection: PGConnection) async throws -> ModelVersionRecord? {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM model_versions
             WHERE model_id = \(modelId) AND instance_id = \(instanceId) AND served_until IS NULL
             ORDER BY id DESC LIMIT 1
            """).decode(ModelVersionRecord.self).first
    }

    /// Every version `modelId` served, on every instance, oldest first.
    public static func history(modelId: String, on connection: PGConnection) async throws -> [ModelVersionRecord] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM model_versions WHERE model_id = \(modelId) ORDER BY id
            """).decode(ModelVersionRecord.self)
    }
}
