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
