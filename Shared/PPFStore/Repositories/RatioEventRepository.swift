import Foundation
import PPFContracts

// MARK: - RatioEventRecord

/// A row of `ratio_events`: a request to prune a model to a target ratio.
public struct RatioEventRecord: Sendable, Equatable, PGRowDecodable {
    /// The event's id: the ``RatioChange`` envelope's message id, and the
    /// correlation id of everything it causes.
    public var id: UUID
    /// The model (deployment) to prune.
    public var modelId: String
    /// Fraction of prunable parameters to remove.
    public var targetRatio: Double
    /// Dynamic or static.
    public var mode: PruningMode
    /// Who asked.
    public var requestedBy: String
    /// When it was recorded.
    public var createdAt: Date

    /// The event as the message payload.
    /// - Throws: ``EnvelopeRejection`` when a stored value fails the payload's checks.
    public func change() throws(EnvelopeRejection) -> RatioChange {
        try RatioChange(modelId: modelId, targetRatio: targetRatio, mode: mode, requestedBy: requestedBy)
    }

    /// Reads the columns of `ratio_events`.
    public init(row: PGRow) throws {
        id = try row.decode(column: "id")
        modelId = try row.decode(column: "model_id")
        targetRatio = try row.decode(column: "target_ratio")
        let modeName: String = try row.decode(column: "mode")
        guard let mode = PruningMode(rawValue: modeName) else {
            throw StoreError(.decodingFailed, "ratio event \(id) has unknown mode '\(modeName)'")
        }
        self.mode = mode
        requestedBy = try row.decode(column: "requested_by")
        createdAt = try row.decode(column: "created_at")
    }
}

// MARK: - RatioEventRepository

/// Reads and writes `ratio_events`.
public enum RatioEventRepository {
    static let columns = "e.id, e.model_id, e.target_ratio, e.mode, e.requested_by, e.created_at"

    /// Records `change` under `id` unless it is recorded already (whoever
    /// emits an event records it; a consumer that receives one records it
    /// too, so an event published by other means still gets a row).
    /// - Returns: whether this call inserted the row.
    @discardableResult
    public static func insert(id: UUID, change: RatioChange, on connection: PGConnection) async throws -> Bool {
        try await connection.execute("""
            INSERT INTO ratio_events (id, model_id, target_ratio, mode, requested_by)
            VALUES (\(id), \(change.modelId), \(change.targetRatio), \(change.mode.rawValue), \(change.requestedBy))
            ON CONFLICT (id) DO NOTHING
            """) == 1
    }

    /// The event with `id`, or nil.
    public static func find(id: UUID, on connection: PGConnection) async throws -> RatioEventRecord? {
        try await connection.query("SELECT \(unsafeRaw: columns) FROM ratio_events e WHERE e.id = \(id)")
            .decode(RatioEventRecord.self).first
    }

    /// Events with no outcome yet, oldest first: what the agent answers on
    /// start and periodically (the local broker forgets its topics, so their
    /// messages may be gone).
    /// - Parameter seconds: only events recorded at least this long ago
    ///   (younger ones are still on their way through the broker). Default 0: all.
    public static func unanswered(olderThan seconds: Double = 0, on connection: PGConnection) async throws -> [RatioEventRecord] {
        try await connection.query("""
            SELECT \(unsafeRaw: columns) FROM ratio_events e
             WHERE NOT EXISTS (SELECT 1 FROM ratio_event_outcomes o WHERE o.ratio_event_id = e.id)
               AND e.created_at <= now() - make_interval(secs => \(seconds))
             ORDER BY e.created_at, e.id
            """).decode(RatioEventRecord.self)
    }
}

// MARK: - Many at once

extension RatioEventRepository {
    /// Stores the rows of many events in one statement; ids stored already
    /// are left as they are (``insert(id:change:on:)`` for each, in one round trip).
    public static func insertMany(_ events: [(id: UUID, change: RatioChange)], on connection: PGConnection) async throws {
        struct Row: Encodable {
            let id: UUID, model_id: String, target_ratio: Double, mode: String, requested_by: String
        }
        guard !events.isEmpty else { return }
        let rows = events.map {
            Row(id: $0.id, model_id: $0.change.modelId, target_ratio: $0.change.targetRatio,
                mode: $0.change.mode.rawValue, requested_by: $0.change.requestedBy)
        }
        _ = try await connection.execute(try """
            INSERT INTO ratio_events (id, model_id, target_ratio, mode, requested_by)
            SELECT x.id, x.model_id, x.target_ratio, x.mode, x.requested_by
              FROM jsonb_to_recordset(\(SQLJSON(rows)))
                   AS x(id uuid, model_id text, target_ratio double precision, mode text, requested_by text)
            ON CONFLICT (id) DO NOTHING
            """)
    }
}
