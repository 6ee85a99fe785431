import Foundation
import PPFContracts
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: migration 3's tables and their repositories, on a fresh schema.
@Suite(.timeLimit(.minutes(1))) struct PhaseOneRepositoryTests {
    static let model = "tiny-4"

    static func policy(_ ratio: Double) -> PruningPolicy {
        .uniform(blocks: 4, attention: ratio, mlp: ratio / 2)
    }

    /// Stores a policy, a request for it and (optionally) its measurement; returns the request.
    static func measured(_ policy: PruningPolicy, perplexity: Double?, source: String = "sampler", on connection: PGConnection)
        async throws -> EvaluationRequest {
        let stored = try await PolicyRepository.store(policy, modelId: model, source: source, targetRatio: 0.3,
                                                      on: connection).record
        let request = try EvaluationRequest(requestId: UUID(), modelId: model, policyId: stored.id, policy: policy,
                                            metric: "wanda-sp", split: "validation", tokenBudget: 512, window: 128,
                                            reason: .bootstrap)
        try await EvaluationRequestRepository.insert(request, correlationId: UUID(), on: connection)
        if let perplexity {
            _ = try await MeasurementRepository.insert(measurement(for: request, perplexity: perplexity), on: connection)
        }
        return request
    }

    static func measurement(for request: EvaluationRequest, perplexity: Double) throws -> PerplexityMeasurement {
        try PerplexityMeasurement(requestId: request.requestId, policyId: request.policyId, modelId: request.modelId,
                        split: request.split, tokenBudget: request.tokenBudget, window: request.window,
                        nll: log(perplexity), perplexity: perplexity, tokensCounted: 508, seconds: 0.5,
                        evaluatorId: "e1", engineVersion: "0.1.0", achievedRatio: 0.29)
    }

    @Test func theSamePolicyStoredTwiceForAModelIsOneRowWithOneId() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let first = try await PolicyRepository.store(Self.policy(0.25), modelId: Self.model, source: "uniform",
                                                             on: connection)
                var nearlySame = Self.policy(0.25)
                nearlySame.layers[0].mlpRatio += 1e-7
                let second = try await PolicyRepository.store(nearlySame, modelId: Self.model, source: "sampler",
                                                              on: connection)
                #expect(first.inserted && !second.inserted)
                #expect(second.record.id == first.record.id)
                #expect(second.record.source == "uniform", "the first writer's row is kept")
                let otherModel = try await PolicyRepository.store(Self.policy(0.25), modelId: "other", source: "uniform",
                                                                  on: connection)
                #expect(otherModel.inserted, "policies are deduplicated per model")
                let different = try await PolicyRepository.store(Self.policy(0.5), modelId: Self.model, source: "sampler",
                                                                 on: connection)
                #expect(different.inserted)
                #expect(try await PolicyRepository.all(modelId: Self.model, on: connection).count == 2)
                let found = try #require(try await PolicyRepository.find(id: first.record.id, on: connection))
                #expect(found.policy == Self.policy(0.25))
                #expect(found.achievedRatio == nil)
                try await PolicyRepository.setAchievedRatio(0.2501, policyId: found.id, on: connection)
                #expect(try await PolicyRepository.find(id: found.id, on: connection)?.achievedRatio == 0.2501)
            }
        }
    }

    @Test func aRequestGetsExactlyOneMeasurementEvenWhenMeasuredTwice() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let request = try await Self.measured(Self.policy(0.3), perplexity: nil, on: connection)
                let first = try await MeasurementRepository.insert(Self.measurement(for: request, perplexity: 20),
                                                                   on: connection)
                let again = try await MeasurementRepository.insert(Self.measurement(for: request, perplexity: 21),
                                                                   on: connection)
                #expect(first != nil)
                #expect(again == nil, "a redone request must not add a second row")
                let stored = try #require(try await MeasurementRepository.find(requestId: request.requestId, on: connection))
                #expect(stored.perplexity == 20)
                #expect(stored.window == 128 && stored.tokenBudget == 512 && stored.tokensCounted == 508)
                let record = try #require(try await EvaluationRequestRepository.find(id: request.requestId, on: connection))
                #expect(record.reason == "bootstrap" && record.metric == "wanda-sp")
            }
        }
    }

    @Test func onlyStaleUnmeasuredRequestsOfTheModelAreClaimedForAnnouncingAgainAndAtMostThreeTimes() async throws {
        try await TestDatabase.withSchema { schema in
            let (stale, young) = try await schema.pool.withConnection { connection in
                let stale = try await Self.measured(Self.policy(0.3), perplexity: nil, on: connection)
                _ = try await Self.measured(Self.policy(0.35), perplexity: 30, on: connection)
                let young = try await Self.measured(Self.policy(0.4), perplexity: nil, on: connection)
                let policy = try await PolicyRepository.store(Self.policy(0.3), modelId: "other", source: "t",
                                                              on: connection).record
                try await EvaluationRequestRepository.insert(
                    try EvaluationRequest(requestId: UUID(), modelId: "other", policyId: policy.id, policy: Self.policy(0.3),
                                          metric: "wanda-sp", split: "validation", tokenBudget: 512, window: 128,
                                          reason: .bootstrap),
                    correlationId: UUID(), on: connection)
                _ = try await connection.execute(
                    "UPDATE evaluation_requests SET created_at = now() - interval '1 hour' WHERE id <> \(young.requestId)")
                return (stale, young)
            }
            let claim: @Sendable () async throws -> [UUID] = {
                try await schema.pool.withTransaction { connection in
                    try await EvaluationRequestRepository.claimStale(modelId: Self.model, olderThan: 60, maximumRepublishes: 3,
                                                                     limit: 10, on: connection).map(\.0.id)
                }
            }
            #expect(try await claim() == [stale.requestId], "not the measured one, the young one or another model's")
            #expect(try await claim().isEmpty, "announced again just now: not before another 60 s")
            for _ in 0..<2 {
                _ = try await schema.pool.withConnection { connection in
                    try await connection.execute(
                        "UPDATE evaluation_requests SET republished_at = now() - interval '1 hour' WHERE republished_at IS NOT NULL")
                }
                #expect(try await claim() == [stale.requestId])
            }
            _ = try await schema.pool.withConnection { connection in
                try await connection.execute("UPDATE evaluation_requests SET republished_at = now() - interval '1 hour'")
            }
            #expect(try await claim() == [young.requestId], "the stale one was announced again three times: no more")
            let (count, policy) = try await schema.pool.withConnection { connection in
                (try await connection.query("SELECT republish_count FROM evaluation_requests WHERE id = \(stale.requestId)")
                    .first?.decode(Int.self, column: 0),
                 try await PolicyRepository.find(id: stale.policyId, on: connection)?.policy)
            }
            #expect(count == 3 && policy == stale.policy)
            await #expect(throws: StoreError.self) {
                try await schema.pool.withConnection { connection in
                    try await EvaluationRequestRepository.claimStale(modelId: Self.model, olderThan: 60, maximumRepublishes: 3,
                                                                     limit: 10, on: connection)
                }
            }
        }
    }

    @Test func aMeasurementForAnUnknownRequestIsAForeignKeyViolation() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let stored = try await PolicyRepository.store(Self.policy(0.3), modelId: Self.model, source: "t",
                                                              on: connection).record
                let orphan = try PerplexityMeasurement(
                    requestId: UUID(), policyId: stored.id, modelId: Self.model, split: "validation", tokenBudget: 64,
                    window: 64, nll: 3, perplexity: exp(3), tokensCounted: 64, seconds: 1, evaluatorId: "e",
                    engineVersion: "0.1.0", achievedRatio: 0.3)
                await #expect { _ = try await MeasurementRepository.insert(orphan, on: connection) } throws: { error in
                    (error as? StoreError)?.code == .foreignKeyViolation
                }
            }
        }
    }

    @Test func measuredPoliciesJoinEachMeasurementWithItsPolicyAndCountWhatIsNew() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                for (index, ratio) in [0.1, 0.2, 0.3].enumerated() {
                    _ = try await Self.measured(Self.policy(ratio), perplexity: 10 + Double(index), on: connection)
                }
                let measured = try await MeasurementRepository.measuredPolicies(modelId: Self.model, on: connection)
                #expect(measured.map(\.measurement.perplexity) == [10, 11, 12])
                #expect(measured.map(\.policy) == [0.1, 0.2, 0.3].map(Self.policy))
                let ids = measured.map(\.measurement.id)
                #expect(try await MeasurementRepository.count(modelId: Self.model, excluding: [], on: connection) == 3)
                #expect(try await MeasurementRepository.count(modelId: Self.model, excluding: Array(ids.prefix(2)),
                                                              on: connection) == 1)
                // A sensitivity probe's measurement does not count towards a retraining when its source is ignored.
                _ = try await Self.measured(Self.policy(0.45), perplexity: 14, source: "profile:attention", on: connection)
                #expect(try await MeasurementRepository.count(modelId: Self.model, excluding: [ids[0]], on: connection) == 3)
                #expect(try await MeasurementRepository.count(modelId: Self.model, excluding: [ids[0]],
                                                              ignoringSourcesPrefixed: "profile:", on: connection) == 2)
                #expect(try await MeasurementRepository.count(modelId: Self.model, excluding: [],
                                                              ignoringSourcesPrefixed: "samp", on: connection) == 1)
                #expect(try await MeasurementRepository.modelIds(on: connection) == [Self.model])
            }
        }
    }

    @Test func theLatestPredictorVersionComesBackWithItsArtifactAndMetrics() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                #expect(try await PredictorVersionRepository.latest(modelId: Self.model, on: connection) == nil)
                let held = HeldOutSummary(count: 8, kendallTau: 0.9, spearman: 0.97, mae: 0.4, mape: 0.02, rmseLog: 0.03)
                let older = PredictorVersionRecord(modelId: Self.model, artifact: Array("{\"a\":1}".utf8), sampleCount: 12,
                                                   trainingMeasurementIds: [1, 2], heldOut: nil, trainingSeconds: 0.5,
                                                   correlationId: nil, createdAt: Date(timeIntervalSinceNow: -60))
                let newer = PredictorVersionRecord(modelId: Self.model, artifact: Array("{\"b\":2}".utf8), sampleCount: 40,
                                                   trainingMeasurementIds: [1, 2, 3], heldOut: held, trainingSeconds: 1.25,
                                                   correlationId: UUID())
                try await PredictorVersionRepository.insert(older, on: connection)
                try await PredictorVersionRepository.insert(newer, on: connection)
                let latest = try #require(try await PredictorVersionRepository.latest(modelId: Self.model, on: connection))
                #expect(latest.id == newer.id)
                #expect(latest.artifact == newer.artifact)
                #expect(latest.heldOut == held)
                #expect(latest.trainingMeasurementIds == [1, 2, 3])
                #expect(latest.correlationId == newer.correlationId)
                let summary = try #require(try await PredictorVersionRepository.latestSummary(modelId: Self.model, on: connection))
                #expect(summary.id == newer.id && summary.trainingMeasurementIds == [1, 2, 3])
                #expect(try await PredictorVersionRepository.find(id: older.id, on: connection)?.heldOut == nil)
                #expect(try await PredictorVersionRepository.count(modelId: Self.model, on: connection) == 2)
            }
        }
    }
}
