import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// A request message against the row stored under its id (issue 16 §4): the
/// evaluator measures only a message that agrees with the system of record.
@Suite struct RequestConsistencyTests {
    /// Stores `policy` and a request for it; returns the message and the row as read back.
    static func stored(_ policy: PruningPolicy, on connection: PGConnection) async throws
        -> (EvaluationRequest, EvaluationRequestRecord, PruningPolicy) {
        let record = try await PolicyRepository.store(policy, modelId: "consistency-tiny", source: "test", on: connection).record
        let request = try EvaluationRequest(requestId: UUID(), modelId: "consistency-tiny", policyId: record.id, policy: policy,
                                            metric: "magnitude", split: "validation", tokenBudget: 256, window: 64,
                                            reason: .bootstrap)
        try await EvaluationRequestRepository.insert(request, correlationId: UUID(), on: connection)
        let row = try #require(try await EvaluationRequestRepository.find(id: request.requestId, on: connection))
        let storedPolicy = try #require(try await PolicyRepository.find(id: record.id, on: connection)).policy
        return (request, row, storedPolicy)
    }

    @Test func aFaithfulMessageAgreesWithItsRowAfterTheJSONBRoundTrip() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withTransaction { connection in
                // Ratios without a short decimal form, to exercise the jsonb round trip.
                let policy = PruningPolicy(layers: (0..<4).map {
                    LayerPolicy(attentionRatio: 1.0 / Double($0 + 3), mlpRatio: 0.1 * Double($0) + 1e-9, dropped: $0 == 3)
                })
                let (request, row, storedPolicy) = try await Self.stored(policy, on: connection)
                #expect(row.differences(from: request, storedPolicy: storedPolicy).isEmpty)
            }
        }
    }

    @Test func everyForgedFieldIsNamed() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withTransaction { connection in
                let (request, row, storedPolicy) = try await Self.stored(.uniform(blocks: 4, attention: 0.2, mlp: 0.3), on: connection)
                var forged = request
                forged.policy = .uniform(blocks: 4, attention: 0.2, mlp: 0.9)
                forged.split = "test"
                forged.tokenBudget = 4096
                forged.metric = "wanda-sp"
                let differences = row.differences(from: forged, storedPolicy: storedPolicy)
                #expect(differences.count == 4, "\(differences)")
                #expect(differences.contains { $0.hasPrefix("policy layer 0") && $0.contains("mlp 0.9") })
                #expect(differences.contains("split 'test' (stored 'validation')"))
                #expect(differences.contains("token budget '4096' (stored '256')"))
                #expect(differences.contains("metric 'wanda-sp' (stored 'magnitude')"))

                var shorter = request
                shorter.policy = .uniform(blocks: 3, attention: 0.2, mlp: 0.3)
                #expect(row.differences(from: shorter, storedPolicy: storedPolicy) == ["policy of 3 layers (stored 4)"])
                var otherPolicy = request
                otherPolicy.policyId = UUID()
                #expect(row.differences(from: otherPolicy, storedPolicy: storedPolicy).count == 1)
            }
        }
    }
}
