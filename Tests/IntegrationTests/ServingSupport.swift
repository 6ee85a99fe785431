import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport

/// What the pruner and model-host tests do the way the rest of the system
/// would: store a ratio event and its policy (the agent's rows), announce
/// the policy, and read dead letters.
enum Serving {
    /// Stores a ratio event of `model` at `ratio` and `policy` for it, as the agent does.
    static func storePolicy(_ policy: PruningPolicy, ratio: Double, model: String,
                            database: IsolatedDatabase) async throws -> (event: UUID, policy: PolicyRecord) {
        try await database.pool.withTransaction { connection in
            let event = UUID()
            try await connection.execute("""
                INSERT INTO ratio_events (id, model_id, target_ratio, mode, requested_by)
                VALUES (\(event), \(model), \(ratio), 'dynamic', 'it')
                """)
            let stored = try await PolicyRepository.store(policy, modelId: model, source: "agent", targetRatio: ratio,
                                                          correlationId: event, on: connection).record
            return (event, stored)
        }
    }

    /// The agent's announcement of `stored` for `event`.
    static func announcement(_ stored: PolicyRecord, event: UUID, ratio: Double, metric: String = "magnitude",
                             model: String? = nil) throws -> Envelope<PolicyPublished> {
        let payload = try PolicyPublished(ratioEventId: event, modelId: model ?? stored.modelId, mode: .dynamic,
                                          targetRatio: ratio, achievedRatio: ratio, policyId: stored.id,
                                          policy: stored.policy, metric: metric, source: .agent)
        return Envelope(correlationId: event, producer: "it/agent", payload: payload)
    }

    /// Dead letters of `topic` whose payload contains `text` and whose reason contains `reason`.
    static func deadLetters(on topic: String, containing text: String, reason: String,
                            in database: IsolatedDatabase) async throws -> Int {
        try await database.count("""
            SELECT count(*)::int FROM dead_letters WHERE topic = \(topic)
               AND convert_from(payload, 'UTF8') LIKE \("%" + text + "%") AND reason LIKE \("%" + reason + "%")
            """)
    }

    /// The envelope's JSON with `"schemaVersion":1` replaced by 99: a message from a future build.
    static func futureVersion<Payload: MessagePayload>(of envelope: Envelope<Payload>) throws -> [UInt8] {
        Array(String(decoding: try envelope.encoded(), as: UTF8.self)
            .replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":99").utf8)
    }
}
