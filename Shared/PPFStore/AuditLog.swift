import Foundation

/// Writes to the `audit_log` table: who asked for what, and when.
public enum AuditLog {
    /// Records an action; `details` is stored as jsonb.
    /// - Returns: the entry's id.
    @discardableResult
    public static func record<Details: Encodable & Sendable>(
        actor: String, action: String, correlationId: UUID?, details: Details, on connection: PGConnection
    ) async throws -> Int64 {
        let rows = try await connection.query(try """
            INSERT INTO audit_log (actor, action, correlation_id, details)
            VALUES (\(actor), \(action), \(correlationId), \(SQLJSON(details)))
            RETURNING id
            """)
        guard let row = rows.first else { throw StoreError(.decodingFailed, "INSERT INTO audit_log returned no id") }
        return try row.decode(Int64.self, column: 0)
    }
}

extension AuditLog {
    /// The newest `details->>'<field>'` of an entry for `action` caused by
    /// `correlationId`: whether (and why) something was done for a request.
    /// - Returns: nil when no such entry exists; `.some(nil)` when the entry lacks the field.
    public static func latestDetail(_ field: String, action: String, correlationId: UUID,
                                    on connection: PGConnection) async throws -> String?? {
        guard let row = try await connection.query("""
            SELECT details->>\(field) FROM audit_log
             WHERE action = \(action) AND correlation_id = \(correlationId)
             ORDER BY id DESC LIMIT 1
            """).first else { return nil }
        return .some(try row.decode(String?.self, column: 0))
    }
}

extension MeasurementRepository {
    /// How many of `requestIds` are measured, and by how many distinct evaluators.
    public static func progress(requestIds: [UUID], on connection: PGConnection) async throws -> (measured: Int, evaluators: Int) {
        guard let row = try await connection.query("""
            SELECT count(*)::int, count(DISTINCT evaluator_id)::int FROM measurements WHERE request_id = ANY(\(requestIds))
            """).first else { return (0, 0) }
        return (try row.decode(Int.self, column: 0), try row.decode(Int.self, column: 1))
    }
}

extension PredictorVersionRepository {
    /// The version the train command `commandId` produced, or nil while none has.
    public static func find(trainedByCommand commandId: UUID, modelId: String,
                            on connection: PGConnection) async throws -> PredictorVersionRecord? {
        guard let id = try await connection.query("""
            SELECT id FROM predictor_versions WHERE model_id = \(modelId) AND correlation_id = \(commandId)
            """).first?.decode(UUID.self, column: 0) else { return nil }
        return try await find(id: id, on: connection)
    }
}

// MARK: - Many at once

extension AuditLog {
    /// Records one entry per element of `entries` (correlation id and
    /// details), all by `actor` for `action`, in one statement.
    public static func recordMany<Details: Encodable & Sendable>(
        actor: String, action: String, entries: [(correlationId: UUID?, details: Details)], on connection: PGConnection
    ) async throws {
        guard !entries.isEmpty else { return }
        let rows = entries.enumerated().map {
            AuditRow(ord: $0, correlation_id: $1.correlationId, details: $1.details)
        }
        _ = try await connection.execute(try """
            INSERT INTO audit_log (actor, action, correlation_id, details)
            SELECT \(actor), \(action), x.correlation_id, x.details
              FROM jsonb_to_recordset(\(SQLJSON(rows))) AS x(ord integer, correlation_id uuid, details jsonb)
             ORDER BY x.ord
            """)
    }
}

/// One row of ``AuditLog/recordMany(actor:action:entries:on:)``, as JSON.
private struct AuditRow<Details: Encodable & Sendable>: Encodable, Sendable {
    let ord: Int
    let correlation_id: UUID?
    let details: Details
}
