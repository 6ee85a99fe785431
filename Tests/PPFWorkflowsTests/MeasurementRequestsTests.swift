import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// The measurement-request workflows against a real PostgreSQL schema: what
/// rows and outbox messages each one leaves, and what a rerun reuses.
@Suite struct MeasurementRequestsTests {
    static let model = "workflow-tiny"
    static let regime = MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 256, window: 64)

    static func store(_ policy: PruningPolicy, on connection: PGConnection) async throws -> UUID {
        try await PolicyRepository.store(policy, modelId: model, source: "test", on: connection).record.id
    }

    /// Rows of `table` (`evaluation_requests` or `outbox`), counted as the tests read them.
    static func count(_ table: String, on connection: PGConnection) async throws -> Int {
        let rows: [Int]
        switch table {
        case "evaluation_requests": rows = try await connection.query("SELECT count(*)::int FROM evaluation_requests").decode(Int.self)
        default: rows = try await connection.query("SELECT count(*)::int FROM outbox WHERE topic = \(Topic.evaluationRequests)").decode(Int.self)
        }
        return rows.first ?? -1
    }

    @Test func ensureStoresAndQueuesOnceAndReusesAnyReasonsRequestInTheSameRegime() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withTransaction { connection in
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.25)
                let id = try await Self.store(policy, on: connection)
                let first = try await MeasurementRequests.ensure(
                    policyId: id, policy: policy, modelId: Self.model, regime: Self.regime, reason: .spotCheck,
                    correlationId: UUID(), producer: "test/1", on: connection)
                #expect(first.isNew)
                let stored = try #require(try await EvaluationRequestRepository.find(id: first.requestId, on: connection))
                #expect(stored.reason == EvaluationReason.spotCheck.rawValue && stored.policyId == id)
                #expect(stored.tokenBudget == 256 && stored.window == 64 && stored.metric == "flap")

                // Another reason in the same regime reuses it; another regime is another request.
                let again = try await MeasurementRequests.ensure(
                    policyId: id, policy: policy, modelId: Self.model, regime: Self.regime, reason: .staticVerify,
                    correlationId: UUID(), producer: "test/1", on: connection)
                #expect(again == .init(requestId: first.requestId, isNew: false))
                var longer = Self.regime
                longer.tokenBudget = 512
                let other = try await MeasurementRequests.ensure(
                    policyId: id, policy: policy, modelId: Self.model, regime: longer, reason: .spotCheck,
                    correlationId: UUID(), producer: "test/1", on: connection)
                #expect(other.isNew && other.requestId != first.requestId)
                #expect(try await Self.count("evaluation_requests", on: connection) == 2)
                #expect(try await Self.count("outbox", on: connection) == 2, "one message per stored request")
            }
        }
    }

    @Test func theQueuedMessageIsTheRequestKeyedByPolicy() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withTransaction { connection in
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0, mlp: 0.5)
                let id = try await Self.store(policy, on: connection)
                let cause = UUID()
                let request = try EvaluationRequest(requestId: UUID(), modelId: Self.model, policyId: id, policy: policy,
                                                    regime: Self.regime, reason: .bootstrap)
                try await MeasurementRequests.enqueue(request, correlationId: cause, producer: "test/1", on: connection)
                try await MeasurementRequests.republish(request, correlationId: cause, producer: "test/1", on: connection)
                let rows = try await connection.query("""
                    SELECT key, payload FROM outbox WHERE topic = \(Topic.evaluationRequests) ORDER BY id
                    """).decode((String, [UInt8]).self)
                #expect(rows.count == 2, "republishing queues the same request again")
                #expect(try await Self.count("evaluation_requests", on: connection) == 1, "but stores no second row")
                for (key, payload) in rows {
                    #expect(key == id.uuidString.lowercased())
                    let envelope = try Envelope<EvaluationRequest>.decode(payload)
                    #expect(envelope.payload == request && envelope.correlationId == cause && envelope.producer == "test/1")
                }
            }
        }
    }

    @Test func enqueueOutsideATransactionIsRefusedAndLeavesNoRequest() async throws {
        try await TestDatabase.withSchema { schema in
            let connection = try await schema.connect()
            let policy = PruningPolicy.uniform(blocks: 4, attention: 0.5, mlp: 0)
            let id = try await Self.store(policy, on: connection)
            let request = try EvaluationRequest(requestId: UUID(), modelId: Self.model, policyId: id, policy: policy,
                                                regime: Self.regime, reason: .bootstrap)
            await #expect(throws: StoreError.self) {
                try await MeasurementRequests.republish(request, correlationId: UUID(), producer: "t", on: connection)
            }
            #expect(try await Self.count("outbox", on: connection) == 0)
        }
    }
}

/// ``BootstrapQueue``: fills a regime to a count, resumably.
@Suite struct BootstrapQueueTests {
    static func candidates(_ count: Int) -> [BootstrapCandidate] {
        (0..<count).map { index in
            let ratio = 0.05 * Double(index + 1)
            return BootstrapCandidate(policy: .uniform(blocks: 4, attention: 0, mlp: ratio), source: "sampler:test",
                                      targetRatio: ratio, achievedRatio: ratio)
        }
    }

    @Test func aRerunReusesWhatIsStoredAnnouncesTheUnmeasuredAgainAndFillsOnlyTheShortfall() async throws {
        try await TestDatabase.withSchema { schema in
            let queue = BootstrapQueue(pool: schema.pool, producer: "ppf/test", modelId: MeasurementRequestsTests.model,
                                       regime: MeasurementRequestsTests.regime)
            // A duplicate of the first candidate is skipped: one policy, one request per regime.
            let proposed = Self.candidates(5)
            let first = try await queue.fill(from: [proposed[0]] + proposed, upTo: 3)
            #expect(first.newlyStored == 3 && first.alreadyMeasured == 0 && first.republished == 0)
            #expect(first.requestIds.count == 3)

            let second = try await queue.fill(from: proposed, upTo: 5)
            // Rows of one transaction share created_at, so only the set is stable.
            #expect(Set(second.requestIds.prefix(3)) == Set(first.requestIds), "the stored requests come first")
            #expect(second.newlyStored == 2 && second.republished == 3)

            let third = try await queue.fill(from: proposed, upTo: 9)
            #expect(third.requestIds.count == 5 && third.newlyStored == 0, "the candidates ran out")
            try await schema.pool.withConnection { connection in
                #expect(try await MeasurementRequestsTests.count("evaluation_requests", on: connection) == 5)
                // 3 + (2 new + 3 again) + 5 again.
                #expect(try await MeasurementRequestsTests.count("outbox", on: connection) == 13)
                let audited = try await connection.query(
                    "SELECT count(*)::int FROM audit_log WHERE action = 'bootstrap.enqueued'").decode(Int.self)
                #expect(audited == [2], "one audit entry per batch that stored something")
            }
        }
    }

    @Test func aPolicyRequestedForAnotherReasonInTheRegimeIsNotMeasuredAgain() async throws {
        try await TestDatabase.withSchema { schema in
            let regime = MeasurementRequestsTests.regime, model = MeasurementRequestsTests.model
            let proposed = Self.candidates(2)
            try await schema.pool.withTransaction { connection in
                let id = try await MeasurementRequestsTests.store(proposed[0].policy, on: connection)
                _ = try await MeasurementRequests.ensure(policyId: id, policy: proposed[0].policy, modelId: model,
                                                         regime: regime, reason: .spotCheck, correlationId: UUID(),
                                                         producer: "agent/1", on: connection)
            }
            let queue = BootstrapQueue(pool: schema.pool, producer: "ppf/test", modelId: model, regime: regime)
            let filled = try await queue.fill(from: proposed, upTo: 2)
            #expect(filled.newlyStored == 1, "only the policy without a request in the regime is new")
        }
    }
}
