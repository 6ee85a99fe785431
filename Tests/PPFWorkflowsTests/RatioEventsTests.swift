import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``RatioEvents/emit(_:id:producer:on:)`` against a real PostgreSQL schema,
/// and the answer latency the store measures for emitted events.
@Suite struct RatioEventsTests {
    static let model = "workflow-tiny"

    @Test func anEmittedEventIsRecordedAuditedAndEnqueuedAndItsAnswerLatencyIsMeasuredInTheDatabaseClock() async throws {
        try await TestDatabase.withSchema { schema in
            let change = try RatioChange(modelId: Self.model, targetRatio: 0.3, mode: .dynamic, requestedBy: "alice")
            let (answered, pending) = try await schema.pool.withTransaction { connection in
                (try await RatioEvents.emit(change, producer: "t/1", on: connection),
                 try await RatioEvents.emit(change, producer: "t/1", on: connection))
            }
            #expect(answered.messageId == answered.correlationId && answered.payload == change)
            try await schema.pool.withConnection { connection in
                #expect(try await RatioEventRepository.find(id: answered.messageId, on: connection)?.change() == change)
                let entries = try await connection.query("""
                    SELECT count(*)::int FROM outbox WHERE topic = \(Topic.ratioEvents) AND key = \(Self.model)
                       AND message_id = ANY(\([answered.messageId, pending.messageId]))
                    """).first?.decode(Int.self, column: 0)
                #expect(entries == 2, "one outbox entry per event, keyed by model")
                let audited = try await connection.query("""
                    SELECT count(*)::int FROM audit_log WHERE actor = 'alice' AND action = 'ratio-change'
                    """).first?.decode(Int.self, column: 0)
                #expect(audited == 2)

                // The first is answered and its answer published one second after the event; the second is pending.
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.3)
                let stored = try await PolicyRepository.store(policy, modelId: Self.model, source: "agent", on: connection).record
                let published = try PolicyPublished(
                    ratioEventId: answered.messageId, modelId: Self.model, mode: .dynamic, targetRatio: 0.3, achievedRatio: 0.3,
                    policyId: stored.id, policy: policy, metric: "flap", source: .agent)
                #expect(try await RatioEventOutcomeRepository.insert(.answered(published), on: connection))
                _ = try await connection.execute("""
                    UPDATE ratio_event_outcomes o SET answered_at = e.created_at + interval '250 milliseconds'
                      FROM ratio_events e WHERE e.id = o.ratio_event_id
                    """)
                try await connection.withTransaction { connection in
                    let envelope = Envelope(correlationId: answered.messageId, producer: "t/1", payload: published)
                    _ = try await Outbox.enqueue(envelope, topic: Topic.prunedPolicies, key: Self.model, on: connection)
                }
                _ = try await connection.execute("""
                    UPDATE outbox x SET published_at = e.created_at + interval '1 second'
                      FROM ratio_events e WHERE e.id = \(answered.messageId) AND x.topic = \(Topic.prunedPolicies)
                    """)
                let summary = try await RatioEventOutcomeRepository.latencySummary(
                    ratioEventIds: [answered.messageId, pending.messageId], on: connection)
                #expect(summary.answered == 1 && summary.published == 1, "the pending event is left out")
                #expect(abs((summary.answeredP50 ?? 0) - 0.25) < 1e-6 && abs((summary.answeredMax ?? 0) - 0.25) < 1e-6)
                #expect(abs((summary.publishedP99 ?? 0) - 1) < 1e-6)
                let none = try await RatioEventOutcomeRepository.latencySummary(ratioEventIds: [pending.messageId], on: connection)
                #expect(none.answered == 0 && none.answeredP50 == nil && none.publishedMax == nil)
            }
        }
    }
}
