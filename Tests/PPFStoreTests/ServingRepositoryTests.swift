import Foundation
import PPFContracts
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: migration 5's tables (plans, model versions, inference log)
/// and their repositories, on a fresh schema.
@Suite(.timeLimit(.minutes(1))) struct ServingRepositoryTests {
    static let model = "tiny-4"

    static func policy(_ ratio: Double) -> PruningPolicy {
        .uniform(blocks: 4, attention: ratio, mlp: ratio)
    }

    /// A ratio event of `model` at `ratio`, as `ppf ratio set` stores it.
    static func ratioEvent(_ ratio: Double, model: String = model, on connection: PGConnection) async throws -> UUID {
        let id = UUID()
        try await connection.execute("""
            INSERT INTO ratio_events (id, model_id, target_ratio, mode, requested_by)
            VALUES (\(id), \(model), \(ratio), 'dynamic', 'test')
            """)
        return id
    }

    /// A plan row for `event` and `policyId` whose JSON body is `{"marker": marker}`.
    static func plan(event: UUID, policyId: UUID, marker: Int, createdAt: Date = Date()) -> PlanRecord {
        PlanRecord(ratioEventId: event, policyId: policyId, modelId: model, metric: "magnitude",
                   plan: "{\"marker\": \(marker), \"layers\": [{\"keptHeads\": [0, 2]}]}", keptParameters: 60,
                   totalParameters: 80, achievedRatio: 0.25, targetRatio: 0.25, exportPath: nil, prunerId: "p1",
                   seconds: 0.01, createdAt: createdAt)
    }

    /// The agent's announcement of `policy` for `event`, written to the outbox (published or not).
    static func announce(_ stored: PolicyRecord, event: UUID, ratio: Double, metric: String, model: String = model,
                         on connection: PGConnection) async throws {
        let payload = try PolicyPublished(ratioEventId: event, modelId: model, mode: .dynamic, targetRatio: ratio,
                                          achievedRatio: ratio, policyId: stored.id, policy: stored.policy,
                                          metric: metric, source: .agent)
        try await Outbox.enqueue(Envelope(correlationId: event, producer: "agent/test", payload: payload),
                                 topic: Topic.prunedPolicies, key: model, on: connection)
    }

    struct Body: Decodable, Equatable {
        struct Layer: Decodable, Equatable { let keptHeads: [Int] }
        let marker: Int
        let layers: [Layer]
    }

    @Test func aRatioEventGetsOnePlanHoweverOftenItIsPlannedAndTheBodyComesBackAsJSON() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let stored = try await PolicyRepository.store(Self.policy(0.25), modelId: Self.model, source: "agent",
                                                              on: connection).record
                let event = try await Self.ratioEvent(0.25, on: connection)
                let first = Self.plan(event: event, policyId: stored.id, marker: 1)
                #expect(try await PlanRepository.insert(first, on: connection))
                #expect(try await !PlanRepository.insert(Self.plan(event: event, policyId: stored.id, marker: 2), on: connection),
                        "a second plan for the same ratio event must not be stored")
                #expect(try await PlanRepository.count(modelId: Self.model, on: connection) == 1)
                let found = try #require(try await PlanRepository.find(ratioEventId: event, on: connection))
                #expect(found.id == first.id && found.policyId == stored.id)
                #expect(found.keptParameters == 60 && found.totalParameters == 80 && found.achievedRatio == 0.25)
                #expect(found.exportPath == nil && found.targetRatio == 0.25)
                let body = try MessageCoding.decoder().decode(Body.self, from: Data(found.plan.utf8))
                #expect(body == Body(marker: 1, layers: [.init(keptHeads: [0, 2])]))
                #expect(try await PlanRepository.find(id: first.id, on: connection)?.ratioEventId == event)
            }
        }
    }

    @Test func theLatestPlanIsTheNewestOfTheModelAndUnknownPoliciesAreRefused() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                #expect(try await PlanRepository.latest(modelId: Self.model, on: connection) == nil)
                let stored = try await PolicyRepository.store(Self.policy(0.3), modelId: Self.model, source: "agent",
                                                              on: connection).record
                let older = Self.plan(event: UUID(), policyId: stored.id, marker: 1, createdAt: Date(timeIntervalSinceNow: -30))
                let newer = Self.plan(event: UUID(), policyId: stored.id, marker: 2)
                _ = try await PlanRepository.insert(newer, on: connection)
                _ = try await PlanRepository.insert(older, on: connection)
                #expect(try await PlanRepository.latest(modelId: Self.model, on: connection)?.id == newer.id)
                #expect(try await PlanRepository.latest(modelId: "other", on: connection) == nil)
                await #expect { _ = try await PlanRepository.insert(Self.plan(event: UUID(), policyId: UUID(), marker: 3), on: connection) }
                    throws: { ($0 as? StoreError)?.code == .foreignKeyViolation }
            }
        }
    }

    @Test func unplannedPoliciesComeFromOutboxAnnouncementsOrAnUnambiguousPolicyRow() async throws {
        try await TestDatabase.withSchema { schema in
            let (announced, recorded, ambiguous, reused, planned, foreign) = try await schema.pool.withTransaction { connection in
                // Announced in the outbox (metric known).
                let a = try await Self.ratioEvent(0.1, on: connection)
                let pa = try await PolicyRepository.store(Self.policy(0.1), modelId: Self.model, source: "agent",
                                                          correlationId: a, on: connection).record
                try await Self.announce(pa, event: a, ratio: 0.1, metric: "flap", on: connection)
                // Only a policy row tied to the event (metric unknown).
                let b = try await Self.ratioEvent(0.2, on: connection)
                _ = try await PolicyRepository.store(Self.policy(0.2), modelId: Self.model, source: "agent",
                                                     correlationId: b, on: connection)
                // Two policy rows tied to one event: which was chosen is unknown.
                let c = try await Self.ratioEvent(0.3, on: connection)
                for ratio in [0.31, 0.32] {
                    _ = try await PolicyRepository.store(Self.policy(ratio), modelId: Self.model, source: "static-search",
                                                         correlationId: c, on: connection)
                }
                // The policy of event a chosen again for event d: only the announcement tells.
                let d = try await Self.ratioEvent(0.1, on: connection)
                try await Self.announce(pa, event: d, ratio: 0.1, metric: "wanda-sp", on: connection)
                // Planned already.
                let e = try await Self.ratioEvent(0.4, on: connection)
                let pe = try await PolicyRepository.store(Self.policy(0.4), modelId: Self.model, source: "agent",
                                                          correlationId: e, on: connection).record
                try await Self.announce(pe, event: e, ratio: 0.4, metric: "flap", on: connection)
                _ = try await PlanRepository.insert(Self.plan(event: e, policyId: pe.id, marker: 5), on: connection)
                // Another model's policy.
                let f = try await Self.ratioEvent(0.1, model: "other", on: connection)
                let pf = try await PolicyRepository.store(Self.policy(0.1), modelId: "other", source: "agent",
                                                          correlationId: f, on: connection).record
                try await Self.announce(pf, event: f, ratio: 0.1, metric: "flap", model: "other", on: connection)
                return (a, b, c, d, e, f)
            }
            let unplanned = try await schema.pool.withConnection { try await PlanRepository.unplanned(modelId: Self.model, on: $0) }
            let byEvent = Dictionary(uniqueKeysWithValues: unplanned.map { ($0.ratioEventId, $0) })
            #expect(Set(byEvent.keys) == [announced, recorded, reused], "\(unplanned)")
            #expect(byEvent[announced]?.metric == "flap" && byEvent[announced]?.targetRatio == 0.1)
            #expect(byEvent[announced]?.policy == Self.policy(0.1))
            #expect(byEvent[recorded]?.metric == nil && byEvent[recorded]?.policy == Self.policy(0.2))
            #expect(byEvent[reused]?.metric == "wanda-sp" && byEvent[reused]?.policyId == byEvent[announced]?.policyId)
            #expect(byEvent[ambiguous] == nil && byEvent[planned] == nil && byEvent[foreign] == nil)
            let settled = try await schema.pool.withConnection {
                try await PlanRepository.unplanned(modelId: Self.model, olderThan: 3600, on: $0)
            }
            #expect(settled.isEmpty, "policies announced just now are left to the consumer")

            let policyId = try #require(byEvent[announced]?.policyId)
            try await schema.pool.withConnection { connection in
                _ = try await PlanRepository.insert(Self.plan(event: announced, policyId: policyId, marker: 6), on: connection)
                let left = try await PlanRepository.unplanned(modelId: Self.model, on: connection).map(\.ratioEventId)
                #expect(Set(left) == [recorded, reused])
            }
        }
    }

    @Test func startingToServeAVersionClosesTheInstancesPreviousOne() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let stored = try await PolicyRepository.store(Self.policy(0.25), modelId: Self.model, source: "agent",
                                                              on: connection).record
                let plan = Self.plan(event: UUID(), policyId: stored.id, marker: 1)
                _ = try await PlanRepository.insert(plan, on: connection)
                let dense = try await ModelVersionRepository.startServing(
                    modelId: Self.model, instanceId: "h1", version: ModelVersion.dense, planId: nil, swapNumber: 0,
                    buildSeconds: 0, on: connection)
                _ = try await ModelVersionRepository.startServing(
                    modelId: Self.model, instanceId: "h2", version: ModelVersion.dense, planId: nil, swapNumber: 0,
                    buildSeconds: 0, on: connection)
                let pruned = try await ModelVersionRepository.startServing(
                    modelId: Self.model, instanceId: "h1", version: ModelVersion.plan(plan.id), planId: plan.id,
                    swapNumber: 1, buildSeconds: 0.5, on: connection)
                #expect(dense.servedUntil == nil && pruned.servedUntil == nil)
                #expect(try await ModelVersionRepository.current(modelId: Self.model, instanceId: "h1", on: connection) == pruned)
                #expect(try await ModelVersionRepository.current(modelId: Self.model, instanceId: "h2", on: connection)?.version
                        == ModelVersion.dense, "another instance's version is untouched")
                let history = try await ModelVersionRepository.history(modelId: Self.model, on: connection)
                #expect(history.map(\.version) == [ModelVersion.dense, ModelVersion.dense, ModelVersion.plan(plan.id)])
                let closed = try #require(history.first)
                let until = try #require(closed.servedUntil)
                #expect(until >= closed.servedFrom && until <= pruned.servedFrom)
                try await ModelVersionRepository.close(modelId: Self.model, instanceId: "h1", on: connection)
                #expect(try await ModelVersionRepository.current(modelId: Self.model, instanceId: "h1", on: connection) == nil)
            }
        }
    }

    @Test func anInferenceIsLoggedOnceAndCountedPerVersion() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                func entry(_ id: UUID, version: String, perplexity: Double? = 12.5) -> InferenceLogEntry {
                    InferenceLogEntry(requestId: id, correlationId: id, modelId: Self.model, instanceId: "h1",
                                      modelVersion: version, kind: "perplexity", inputTokens: 40, outputTokens: 0,
                                      perplexity: perplexity, error: nil, seconds: 0.02)
                }
                let first = UUID()
                #expect(try await InferenceLogRepository.insert(entry(first, version: "dense"), on: connection))
                #expect(try await !InferenceLogRepository.insert(entry(first, version: "other", perplexity: 9), on: connection))
                _ = try await InferenceLogRepository.insert(entry(UUID(), version: "dense"), on: connection)
                _ = try await InferenceLogRepository.insert(entry(UUID(), version: "p1", perplexity: nil), on: connection)
                let found = try #require(try await InferenceLogRepository.find(requestId: first, on: connection))
                #expect(found.modelVersion == "dense" && found.perplexity == 12.5 && found.inputTokens == 40)
                #expect(try await InferenceLogRepository.find(requestId: UUID(), on: connection) == nil)
                let counts = try await InferenceLogRepository.countsByVersion(modelId: Self.model, on: connection)
                #expect(counts.map(\.version) == ["dense", "p1"] && counts.map(\.count) == [2, 1])
            }
        }
    }
}
