import Foundation
import PPFContracts
import PPFStore

// MARK: - RatioEvents

/// Asking for a new ratio: the one way every asker (`ppf ratio set`,
/// `ppf agent refine`, `ppf bench load`, the tests) emits a ratio-change event.
public enum RatioEvents {
    /// Emits `change`: its `ratio_events` row, an audit entry by the
    /// requester, and its message in the outbox, in the caller's transaction;
    /// a relay publishes it after the commit, so the event is never recorded
    /// without being sent (design.md, "Outbox").
    /// - Parameters:
    ///   - id: the event id: the envelope's message id and correlation id.
    ///   - producer: the envelope's `producer` (`service/instance`).
    /// - Returns: the envelope enqueued.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction.
    @discardableResult
    public static func emit(_ change: RatioChange, id: UUID = UUID(), producer: String,
                            on connection: PGConnection) async throws -> Envelope<RatioChange> {
        try await RatioEventRepository.insert(id: id, change: change, on: connection)
        try await AuditLog.record(actor: change.requestedBy, action: "ratio-change", correlationId: id, details: change,
                                  on: connection)
        let envelope = Envelope(correlationId: id, producer: producer, payload: change, messageId: id)
        _ = try await Outbox.enqueue(envelope, topic: Topic.ratioEvents, key: change.modelId, on: connection)
        return envelope
    }
}
