import Foundation
import PPFContracts
import PPFTestSupport
import Testing
@testable import PPFStore

/// The many-at-once writes a burst of answers uses: each stores what its
/// one-at-a-time counterpart stores, with the same dedupe rules.
@Suite(.timeLimit(.minutes(1))) struct BatchWriteTests {
    static let model = "tiny-4"

    static func change(_ ratio: Double) throws -> RatioChange {
        try RatioChange(modelId: model, targetRatio: ratio, mode: .dynamic, requestedBy: "t")
    }

    @Test func manyEventsClaimsOutcomesAndAuditEntriesStoreWhatOneAtATimeWould() async throws {
        try await TestDatabase.withSchema { schema in
            let ids = (0..<3).map { _ in UUID() }
            let changes = try [0.2, 0.3, 0.4].map(Self.change)
            let claimed = try await schema.pool.withTransaction { connection -> Set<UUID> in
                #expect(try await RatioEventRepository.insert(id: ids[0], change: changes[0], on: connection))
                try await RatioEventRepository.insertMany(Array(zip(ids, changes)), on: connection)
                #expect(try await Inbox.claim(consumer: "c", messageId: ids[1], on: connection))
                return try await Inbox.claimMany(consumer: "c", messageIds: ids, on: connection)
            }
            #expect(claimed == [ids[0], ids[2]], "the one claimed before is not claimed again")
            await #expect(throws: StoreError.self) {
                try await schema.pool.withConnection { try await Inbox.claimMany(consumer: "c", messageIds: ids, on: $0) }
            }

            try await schema.pool.withConnection { connection in
                for (id, change) in zip(ids, changes) {
                    let row = try #require(try await RatioEventRepository.find(id: id, on: connection))
                    #expect(try row.change() == change)
                }
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.4)
                let stored = try await PolicyRepository.store(policy, modelId: Self.model, source: "agent", on: connection).record
                let answers = try zip(ids, changes).map { id, change in
                    try PolicyPublished(ratioEventId: id, modelId: Self.model, mode: .dynamic, targetRatio: change.targetRatio,
                                        achievedRatio: change.targetRatio - 0.001, policyId: stored.id, policy: policy,
                                        metric: "flap", source: .agent,
                                        predictedPerplexity: id == ids[1] ? nil : 41.5, predictedLogPerplexityStd: 0.03)
                }
                #expect(try await RatioEventOutcomeRepository.insert(.answered(answers[0]), on: connection))
                let inserted = try await RatioEventOutcomeRepository.insertMany(answers.map { .answered($0) }, on: connection)
                #expect(inserted == [ids[1], ids[2]], "an event answered already keeps its one outcome")
                let single = try #require(try await RatioEventOutcomeRepository.find(ratioEventId: ids[0], on: connection))
                let batched = try #require(try await RatioEventOutcomeRepository.find(ratioEventId: ids[2], on: connection))
                #expect(batched.status == .answered && batched.policyId == stored.id && batched.source == "agent")
                #expect(batched.metric == single.metric && batched.predictedPerplexity == single.predictedPerplexity)
                #expect(batched.predictedLogPerplexityStd == 0.03 && batched.measuredPerplexity == nil)
                #expect(batched.achievedRatio == 0.399 && batched.verificationMeasurements == 0)
                #expect(try await RatioEventOutcomeRepository.find(ratioEventId: ids[1], on: connection)?.predictedPerplexity == nil,
                        "a missing value is NULL")

                try await AuditLog.recordMany(actor: "agent/t", action: "policy.published",
                                              entries: answers.map { (correlationId: $0.ratioEventId, details: $0) },
                                              on: connection)
                let audited = try await connection.query("""
                    SELECT correlation_id, details FROM audit_log WHERE action = 'policy.published' ORDER BY id
                    """)
                #expect(try audited.map { try $0.decode(UUID.self, column: 0) } == ids, "in the order given")
                #expect(try audited.map { try $0.decode(SQLJSON<PolicyPublished>.self, column: 1).value } == answers)
            }
        }
    }

    @Test func manyOutboxEntriesKeepTheirOrderAndBytesAndRefuseADuplicate() async throws {
        try await TestDatabase.withSchema { schema in
            let envelopes = try [0.2, 0.3, 0.4].map { ratio in
                Envelope(correlationId: UUID(), producer: "t", payload: try Self.change(ratio))
            }
            let entries = try envelopes.map { try Outbox.Entry($0, topic: Topic.ratioEvents, key: Self.model) }
            try await schema.pool.withTransaction { try await Outbox.enqueueMany(entries, on: $0) }
            let rows = try await schema.pool.withConnection { connection in
                try await connection.query("SELECT message_id, topic, key, payload FROM outbox ORDER BY id")
            }
            #expect(try rows.map { try $0.decode(UUID.self, column: 0) } == envelopes.map(\.messageId))
            #expect(try rows.map { try $0.decode([UInt8].self, column: 3) } == entries.map(\.payload), "byte for byte")
            #expect(try rows.allSatisfy { try $0.decode(String.self, column: 1) == Topic.ratioEvents && $0.decode(String.self, column: 2) == Self.model })
            await #expect { try await schema.pool.withTransaction { try await Outbox.enqueueMany([entries[1]], on: $0) } } throws: {
                ($0 as? StoreError)?.code == .uniqueViolation
            }
            await #expect(throws: StoreError.self) {
                try await schema.pool.withConnection { try await Outbox.enqueueMany(entries, on: $0) }
            }
        }
    }

    @Test func manyPoliciesAreOneRowPerPolicyTheFirstWritersAndComeBackInOrder() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let known = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.4)
                let fresh = PruningPolicy.uniform(blocks: 4, attention: 0.5, mlp: 0.1)
                let before = try await PolicyRepository.store(known, modelId: Self.model, source: "uniform", on: connection).record
                let event = UUID()
                let records = try await PolicyRepository.storeMany([
                    .init(fresh, modelId: Self.model, source: "agent", targetRatio: 0.3, achievedRatio: 0.29, correlationId: event),
                    .init(known, modelId: Self.model, source: "agent", targetRatio: 0.2),
                    .init(fresh, modelId: Self.model, source: "sampler"),
                    .init(known, modelId: "other", source: "agent"),
                ], on: connection)
                #expect(records.count == 4)
                #expect(records[1] == before, "a policy stored before keeps its row")
                #expect(records[0].id == records[2].id && records[0].source == "agent", "twice in the batch: the first one's row")
                #expect(records[0].policy == fresh && records[0].targetRatio == 0.3 && records[0].achievedRatio == 0.29)
                #expect(records[0].correlationId == event)
                #expect(records[3].modelId == "other" && records[3].id != before.id, "policies are deduplicated per model")
                #expect(try await PolicyRepository.all(modelId: Self.model, on: connection).count == 2)
                #expect(try await PolicyRepository.storeMany([], on: connection).isEmpty)
            }
        }
    }

    @Test func manyEvaluationRequestsAreStoredAndFoundPerPolicyInTheirRegime() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let regime = MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 256, window: 64)
                let policies = try await [0.2, 0.3, 0.4].asyncMap { ratio in
                    try await PolicyRepository.store(.uniform(blocks: 4, attention: ratio, mlp: ratio), modelId: Self.model,
                                                     source: "t", on: connection).record
                }
                let correlation = UUID()
                let requests = try policies.prefix(2).map { policy in
                    (request: try EvaluationRequest(requestId: UUID(), modelId: Self.model, policyId: policy.id,
                                                    policy: policy.policy, regime: regime, reason: .spotCheck),
                     correlationId: correlation)
                }
                try await EvaluationRequestRepository.insertMany(requests, on: connection)
                try await EvaluationRequestRepository.insertMany(requests, on: connection)
                let found = try await EvaluationRequestRepository.existingMany(policyIds: policies.map(\.id), in: regime,
                                                                              on: connection)
                #expect(found == [policies[0].id: requests[0].request.requestId, policies[1].id: requests[1].request.requestId])
                let other = MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 512, window: 64)
                #expect(try await EvaluationRequestRepository.existingMany(policyIds: policies.map(\.id), in: other,
                                                                           on: connection).isEmpty)
                let row = try #require(try await EvaluationRequestRepository.find(id: requests[1].request.requestId, on: connection))
                #expect(row.reason == "spot-check" && row.correlationId == correlation && row.tokenBudget == 256 && row.window == 64)
                #expect(try await connection.query("SELECT count(*)::int FROM evaluation_requests").first?.decode(Int.self, column: 0) == 2)
            }
        }
    }
}

extension Array where Element: Sendable {
    /// `map` with an async transform, in order.
    func asyncMap<Value>(_ transform: (Element) async throws -> Value) async rethrows -> [Value] {
        var values: [Value] = []
        for element in self { values.append(try await transform(element)) }
        return values
    }
}
