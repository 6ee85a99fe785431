import Foundation
import PPFContracts
import PPFTestSupport
import Testing
@testable import PPFStore

/// Integration: migration 4's tables (agent versions, ratio-event outcomes)
/// and the queries the agent service runs, on a fresh schema.
@Suite(.timeLimit(.minutes(1))) struct RunTimeRepositoryTests {
    static let model = "tiny-4"

    static func summary(seed: UInt64 = 1) -> AgentTrainingSummary {
        AgentTrainingSummary(minimumRatio: 0.05, maximumRatio: 0.6, allowsBlockDrop: false, seed: seed,
                             uncertaintyPenalty: 1, iterations: 300, rewardCalls: 300, policiesScored: 38400,
                             trainingSeconds: 2.5, finalMeanReward: -3.25, finalMeanPredictedLogPerplexity: 3.2,
                             finalMeanUncertainty: 0.05)
    }

    /// A stored predictor version trained on `measurementIds`.
    static func predictorVersion(_ measurementIds: [Int64] = [], trainedBy command: UUID? = nil,
                                 on connection: PGConnection) async throws -> PredictorVersionRecord {
        let version = PredictorVersionRecord(modelId: model, artifact: Array("{}".utf8), sampleCount: max(1, measurementIds.count),
                                             trainingMeasurementIds: measurementIds, heldOut: nil, trainingSeconds: 1,
                                             correlationId: command)
        try await PredictorVersionRepository.insert(version, on: connection)
        return version
    }

    /// A measured policy: policy, request and measurement rows; returns the measurement id.
    static func measured(_ policy: PruningPolicy, metric: String, tokenBudget: Int = 512, correlationId: UUID = UUID(),
                         reason: EvaluationReason = .bootstrap, perplexity: Double = exp(3),
                         on connection: PGConnection) async throws -> Int64 {
        let stored = try await PolicyRepository.store(policy, modelId: model, source: "sampler", on: connection).record
        let request = try EvaluationRequest(requestId: UUID(), modelId: model, policyId: stored.id, policy: policy,
                                            metric: metric, split: "validation", tokenBudget: tokenBudget, window: 128,
                                            reason: reason)
        try await EvaluationRequestRepository.insert(request, correlationId: correlationId, on: connection)
        let measurement = try PerplexityMeasurement(
            requestId: request.requestId, policyId: stored.id, modelId: model, split: "validation",
            tokenBudget: tokenBudget, window: 128, nll: log(perplexity), perplexity: perplexity, tokensCounted: 500, seconds: 1,
            evaluatorId: "e", engineVersion: "t", achievedRatio: 0.2)
        return try #require(try await MeasurementRepository.insert(measurement, on: connection))
    }

    @Test func anAgentVersionIsStoredOncePerPredictorVersionAndConfiguration() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let command = UUID()
                let predictor = try await Self.predictorVersion(trainedBy: command, on: connection)
                #expect(try await AgentVersionRepository.latest(modelId: Self.model, on: connection) == nil)
                #expect(try await !AgentVersionRepository.existsForPredictorTrained(byCommand: command, on: connection))
                let first = AgentVersionRecord(modelId: Self.model, predictorVersionId: predictor.id, artifact: [1, 2, 3],
                                               configurationKey: "seed=1", summary: Self.summary(), correlationId: predictor.id,
                                               createdAt: Date(timeIntervalSinceNow: -5))
                let stored = try await AgentVersionRepository.insert(first, on: connection)
                #expect(stored.inserted && stored.record.id == first.id)
                #expect(try await AgentVersionRepository.existsForPredictorTrained(byCommand: command, on: connection))
                #expect(try await !AgentVersionRepository.existsForPredictorTrained(byCommand: UUID(), on: connection))
                #expect(stored.record.summary == Self.summary())
                #expect(stored.record.ratioRange == 0.05...0.6)

                let again = AgentVersionRecord(modelId: Self.model, predictorVersionId: predictor.id, artifact: [9],
                                               configurationKey: "seed=1", summary: Self.summary(), correlationId: nil)
                let repeated = try await AgentVersionRepository.insert(again, on: connection)
                #expect(!repeated.inserted, "the same configuration against the same predictor is one version")
                #expect(repeated.record.id == first.id && repeated.record.artifact == [1, 2, 3])

                let seeded = AgentVersionRecord(modelId: Self.model, predictorVersionId: predictor.id, artifact: [4],
                                                configurationKey: "seed=2", summary: Self.summary(seed: 2), correlationId: nil)
                #expect(try await AgentVersionRepository.insert(seeded, on: connection).inserted)
                #expect(try await AgentVersionRepository.latest(modelId: Self.model, on: connection)?.id == seeded.id)
                #expect(try await AgentVersionRepository.latest(predictorVersionId: predictor.id, on: connection)?.id == seeded.id)
                #expect(try await AgentVersionRepository.find(id: first.id, on: connection)?.correlationId == predictor.id)
                #expect(try await AgentVersionRepository.count(modelId: Self.model, on: connection) == 2)
            }
        }
    }

    @Test func anAgentVersionForAnUnknownPredictorVersionIsAForeignKeyViolation() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let orphan = AgentVersionRecord(modelId: Self.model, predictorVersionId: UUID(), artifact: [1],
                                                configurationKey: "k", summary: Self.summary(), correlationId: nil)
                await #expect { _ = try await AgentVersionRepository.insert(orphan, on: connection) } throws: { error in
                    (error as? StoreError)?.code == .foreignKeyViolation
                }
            }
        }
    }

    @Test func aRatioEventGetsExactlyOneOutcomeAndIsPendingUntilThen() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let id = UUID()
                let change = try RatioChange(modelId: Self.model, targetRatio: 0.35, mode: .dynamic, requestedBy: "t")
                #expect(try await RatioEventRepository.insert(id: id, change: change, on: connection))
                #expect(try await !RatioEventRepository.insert(id: id, change: change, on: connection),
                        "recording an event twice keeps one row")
                let pending = try await RatioEventRepository.unanswered(on: connection)
                #expect(pending.map(\.id) == [id])
                #expect(try pending.first?.change() == change)
                #expect(try await RatioEventRepository.unanswered(olderThan: 3600, on: connection).isEmpty,
                        "an event recorded just now is left to the consumer")

                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.4)
                let stored = try await PolicyRepository.store(policy, modelId: Self.model, source: "agent",
                                                              targetRatio: 0.35, correlationId: id, on: connection).record
                let published = try PolicyPublished(
                    ratioEventId: id, modelId: Self.model, mode: .dynamic, targetRatio: 0.35, achievedRatio: 0.3498,
                    policyId: stored.id, policy: policy, metric: "flap", source: .agent,
                    predictedPerplexity: 41.5, predictedLogPerplexityStd: 0.03)
                #expect(try await RatioEventOutcomeRepository.insert(.answered(published), on: connection))
                let rejection = RatioEventRejected(ratioEventId: id, modelId: Self.model, targetRatio: 0.35,
                                                   reason: .searchFailed, message: "late")
                #expect(try await !RatioEventOutcomeRepository.insert(.rejected(rejection, ratioEventId: id), on: connection),
                        "a second outcome for the same event is refused")

                let outcome = try #require(try await RatioEventOutcomeRepository.find(ratioEventId: id, on: connection))
                #expect(outcome.status == .answered && outcome.policyId == stored.id)
                #expect(outcome.source == "agent" && outcome.metric == "flap")
                #expect(outcome.predictedPerplexity == 41.5 && outcome.predictedLogPerplexityStd == 0.03)
                #expect(outcome.measuredPerplexity == nil && outcome.verificationMeasurements == 0)
                #expect(try await RatioEventRepository.unanswered(on: connection).isEmpty)
                #expect(try await RatioEventOutcomeRepository.all(modelId: Self.model, on: connection).count == 1)
            }
        }
    }

    @Test func aBootstrapFollowsItsMeasurementsAndItsTrainCommandThroughTheStore() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let ids = [try await Self.measured(.uniform(blocks: 4, attention: 0.1, mlp: 0.1), metric: "flap", on: connection),
                           try await Self.measured(.uniform(blocks: 4, attention: 0.2, mlp: 0.1), metric: "flap", on: connection)]
                let requests = try await MeasurementRepository.find(requestIds: [], on: connection).map(\.requestId)
                #expect(requests.isEmpty)
                let measured = try await connection.query("SELECT request_id FROM measurements WHERE id = ANY(\(ids))")
                    .decode(UUID.self)
                let progress = try await MeasurementRepository.progress(requestIds: measured + [UUID()], on: connection)
                #expect(progress.measured == 2 && progress.evaluators == 1)

                let command = UUID()
                #expect(try await PredictorVersionRepository.find(trainedByCommand: command, modelId: Self.model,
                                                                  on: connection) == nil)
                #expect(try await AuditLog.latestDetail("reason", action: "predictor.training-skipped",
                                                        correlationId: command, on: connection) == nil)
                try await AuditLog.record(actor: "predictor/1", action: "predictor.training-skipped", correlationId: command,
                                          details: ["modelId": Self.model], on: connection)
                #expect(try await AuditLog.latestDetail("reason", action: "predictor.training-skipped",
                                                        correlationId: command, on: connection) == .some(nil),
                        "an entry without the field")
                try await AuditLog.record(actor: "predictor/1", action: "predictor.training-skipped", correlationId: command,
                                          details: ["modelId": Self.model, "reason": "too few policies"], on: connection)
                #expect(try await AuditLog.latestDetail("reason", action: "predictor.training-skipped",
                                                        correlationId: command, on: connection) == "too few policies")
                let version = try await Self.predictorVersion(ids, trainedBy: command, on: connection)
                #expect(try await PredictorVersionRepository.find(trainedByCommand: command, modelId: Self.model,
                                                                  on: connection)?.id == version.id)
                #expect(try await PredictorVersionRepository.find(trainedByCommand: command, modelId: "other",
                                                                  on: connection) == nil)
            }
        }
    }

    @Test func theSystemStatusCountsWhatEachServiceStillOwes() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                #expect(try await SystemStatusRepository.isMigrated(on: connection))
                let empty = try await SystemStatusRepository.current(on: connection)
                #expect(empty.instances.isEmpty && empty.ratioEvents == 0 && empty.plans == 0 && empty.serving.isEmpty)
                #expect(empty.backlog == .init(unansweredRatioEvents: 0, unmeasuredRequests: 0, answersWithoutPlan: 0))

                let change = try RatioChange(modelId: Self.model, targetRatio: 0.3, mode: .dynamic, requestedBy: "t")
                try await RatioEventRepository.insert(id: UUID(), change: change, on: connection)
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.1, mlp: 0.3)
                let stored = try await PolicyRepository.store(policy, modelId: Self.model, source: "t", on: connection).record
                let request = try EvaluationRequest(requestId: UUID(), modelId: Self.model, policyId: stored.id, policy: policy,
                                                    metric: "flap", split: "validation", tokenBudget: 256, window: 64,
                                                    reason: .bootstrap)
                try await EvaluationRequestRepository.insert(request, correlationId: UUID(), on: connection)
                _ = try await Self.measured(policy, metric: "flap", on: connection)
                let status = try await SystemStatusRepository.current(on: connection)
                #expect(status.ratioEvents == 1)
                #expect(status.backlog == .init(unansweredRatioEvents: 1, unmeasuredRequests: 1, answersWithoutPlan: 0),
                        "one event without an outcome, one request without a measurement (the other is measured)")

                // Heartbeats: the second beat of an instance replaces its row; the BLAS line comes from its details.
                let started = Date(timeIntervalSinceNow: -60)
                for inFlight in [3, 1] {
                    try await SystemStatusRepository.recordHeartbeat(
                        Heartbeat(service: "evaluator", instanceId: "h-1", version: "9.9", startedAt: started, inFlight: inFlight,
                                  details: ["blas": "OpenBLAS 0.3.34, kernel Zen, 1 thread(s)"]), on: connection)
                }
                try await SystemStatusRepository.recordHeartbeat(
                    Heartbeat(service: "agent", instanceId: "h-2", version: "9.9", startedAt: started, inFlight: 0, details: [:]),
                    on: connection)
                let beating = try await SystemStatusRepository.current(on: connection).instances
                #expect(beating.map(\.service) == ["agent", "evaluator"])
                #expect(beating.map(\.blas) == ["", "OpenBLAS 0.3.34, kernel Zen, 1 thread(s)"])
                #expect(beating[1].inFlight == 1 && beating[1].uptimeSeconds >= 59 && beating[1].secondsSinceHeartbeat < 30)
            }
        }
    }

    @Test func anEventCountsAsAnsweredExactlyOnceWithOneAnsweredOutcomeAndOnePublishedPolicy() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withTransaction { connection in
                let once = UUID(), twice = UUID(), pending = UUID()
                let change = try RatioChange(modelId: Self.model, targetRatio: 0.3, mode: .dynamic, requestedBy: "t")
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.2, mlp: 0.2)
                let stored = try await PolicyRepository.store(policy, modelId: Self.model, source: "agent", on: connection).record
                for id in [once, twice, pending] { try await RatioEventRepository.insert(id: id, change: change, on: connection) }
                for (id, copies) in [(once, 1), (twice, 2)] {
                    let published = try PolicyPublished(
                        ratioEventId: id, modelId: Self.model, mode: .dynamic, targetRatio: 0.3, achievedRatio: 0.3,
                        policyId: stored.id, policy: policy, metric: "flap", source: .agent,
                        predictedPerplexity: 40, predictedLogPerplexityStd: 0.1)
                    try await RatioEventOutcomeRepository.insert(.answered(published), on: connection)
                    for _ in 0..<copies {
                        _ = try await Outbox.enqueue(Envelope(correlationId: id, producer: "agent/1", payload: published),
                                                     topic: Topic.prunedPolicies, key: Self.model, on: connection)
                    }
                }
                #expect(try await RatioEventOutcomeRepository.answeredExactlyOnce(
                    ratioEventIds: [once, twice, pending], on: connection) == 1, "only the event published once")
                #expect(try await PolicyRepository.provenance(modelId: Self.model, on: connection)
                    == [stored.id.uuidString.lowercased(): PolicyRepository.Provenance(source: "agent", ratio: nil)])
            }
        }
    }

    @Test func theHistoryViewShowsAPendingEventThenItsAnswerSpotCheckAndNewestEventsOldestFirst() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let first = UUID(), second = UUID()
                let change = try RatioChange(modelId: Self.model, targetRatio: 0.35, mode: .dynamic, requestedBy: "t")
                try await RatioEventRepository.insert(id: first, change: change, on: connection)
                let pending = try #require(try await RatioEventHistoryRepository.entry(ratioEventId: first, on: connection))
                #expect(pending.status == "pending" && pending.policyId == nil && pending.answerMilliseconds == nil)
                #expect(pending.targetRatio == 0.35 && pending.mode == "dynamic" && pending.requestedBy == "t")
                #expect(try await RatioEventHistoryRepository.entry(ratioEventId: UUID(), on: connection) == nil)

                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.4)
                let stored = try await PolicyRepository.store(policy, modelId: Self.model, source: "agent",
                                                              targetRatio: 0.35, correlationId: first, on: connection).record
                let published = try PolicyPublished(
                    ratioEventId: first, modelId: Self.model, mode: .dynamic, targetRatio: 0.35, achievedRatio: 0.3498,
                    policyId: stored.id, policy: policy, metric: "flap", source: .agent,
                    predictedPerplexity: 41.5, predictedLogPerplexityStd: 0.03)
                try await RatioEventOutcomeRepository.insert(.answered(published), on: connection)
                // `ppf ratio set --compare` measures a baseline under the same event; measured first,
                // it must not show as the answered policy's spot-check.
                let baseline = PruningPolicy.uniform(blocks: 4, attention: 0.35, mlp: 0.35)
                _ = try await Self.measured(baseline, metric: "flap", correlationId: first, reason: .spotCheck,
                                            perplexity: 99, on: connection)
                #expect(try await RatioEventHistoryRepository.entry(ratioEventId: first, on: connection)?
                    .spotCheckPerplexity == nil, "a baseline's measurement is not the policy's spot-check")
                _ = try await Self.measured(policy, metric: "flap", correlationId: first, reason: .spotCheck, on: connection)
                let answered = try #require(try await RatioEventHistoryRepository.entry(ratioEventId: first, on: connection))
                #expect(answered.status == "answered" && answered.policyId == stored.id && answered.source == "agent")
                #expect(answered.achievedRatio == 0.3498 && answered.predictedPerplexity == 41.5)
                #expect(answered.predictedLogPerplexityStd == 0.03 && (answered.answerMilliseconds ?? -1) >= 0)
                #expect(answered.spotCheckPerplexity.map { abs($0 - exp(3)) < 1e-9 } == true)
                let spot = try #require(try await MeasurementRepository.first(policyId: stored.id, correlationId: first,
                                                                              on: connection))
                #expect(spot.tokenBudget == 512 && spot.split == "validation")
                // The calibration's view: the published prediction beside its own spot-check, not the baseline's.
                #expect(try await RatioEventHistoryRepository.spotChecks(
                    modelId: Self.model, metric: "flap", split: "validation", tokenBudget: 512, window: 128, on: connection)
                    == [SpotCheck(predictedPerplexity: 41.5, predictedLogPerplexityStd: 0.03, measuredPerplexity: exp(3),
                                  predictorVersionId: nil)])
                #expect(try await RatioEventHistoryRepository.spotChecks(
                    modelId: Self.model, metric: "flap", split: "validation", tokenBudget: 256, window: 128, on: connection)
                    .isEmpty, "another regime's measurements do not calibrate this one")

                try await RatioEventRepository.insert(id: second, change: change, on: connection)
                let answers = try await RatioEventHistoryRepository.measuredAnswers(ratioEventIds: [first, second],
                                                                                    on: connection)
                #expect(answers.count == 2)
                #expect(answers.contains(MeasuredAnswer(status: "answered", predictedPerplexity: 41.5, measuredPerplexity: exp(3))))
                #expect(answers.contains(MeasuredAnswer(status: "pending", predictedPerplexity: nil, measuredPerplexity: nil)))
                let recent = try await RatioEventHistoryRepository.recent(since: .distantPast, modelId: Self.model,
                                                                          limit: 10, on: connection)
                #expect(recent.map(\.ratioEventId) == [first, second], "oldest first")
                let newest = try await RatioEventHistoryRepository.recent(since: .distantPast, modelId: nil, limit: 1,
                                                                          on: connection)
                #expect(newest.map(\.ratioEventId) == [second], "the limit keeps the newest")
                #expect(try await RatioEventHistoryRepository.recent(since: .distantPast, modelId: "other", limit: 10,
                                                                     on: connection).isEmpty)
            }
        }
    }

    @Test func aRejectionIsStoredWithItsReasonAndNoPolicy() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let id = UUID()
                let change = try RatioChange(modelId: "nobody", targetRatio: 0.9, mode: .static, requestedBy: "t")
                try await RatioEventRepository.insert(id: id, change: change, on: connection)
                let rejection = RatioEventRejected(ratioEventId: id, modelId: "nobody", targetRatio: 0.9,
                                                   reason: .unknownModel, message: "no such model")
                #expect(try await RatioEventOutcomeRepository.insert(.rejected(rejection, ratioEventId: id), on: connection))
                let outcome = try #require(try await RatioEventOutcomeRepository.find(ratioEventId: id, on: connection))
                #expect(outcome.status == .rejected && outcome.reason == "unknown-model" && outcome.policyId == nil)
                #expect(outcome.message == "no such model")
                #expect(try await RatioEventRepository.find(id: id, on: connection)?.mode == .static)
            }
        }
    }

    @Test func anOutcomeForAnUnrecordedEventIsAForeignKeyViolation() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let rejection = RatioEventRejected(ratioEventId: nil, modelId: "m", targetRatio: 0.2,
                                                   reason: .invalidEvent, message: "x")
                await #expect {
                    _ = try await RatioEventOutcomeRepository.insert(.rejected(rejection, ratioEventId: UUID()), on: connection)
                } throws: { error in
                    (error as? StoreError)?.code == .foreignKeyViolation
                }
            }
        }
    }

    @Test func theRegimeOfAPredictorVersionIsWhatMostOfItsMeasurementsShare() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                var dropping = PruningPolicy.uniform(blocks: 4, attention: 0.1, mlp: 0.1)
                dropping.layers[2] = LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true)
                let ids = [
                    try await Self.measured(.uniform(blocks: 4, attention: 0.2, mlp: 0.2), metric: "flap", on: connection),
                    try await Self.measured(dropping, metric: "flap", on: connection),
                    try await Self.measured(.uniform(blocks: 4, attention: 0.3, mlp: 0.3), metric: "magnitude", on: connection),
                ]
                let version = try await Self.predictorVersion(ids, on: connection)
                let regime = try #require(try await PredictorVersionRepository.regime(versionId: version.id, on: connection))
                #expect(regime == PredictorRegime(
                    measured: MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 512, window: 128),
                    measurements: 2, includesBlockDrops: true))

                let noDrops = try await Self.predictorVersion([ids[0]], on: connection)
                #expect(try await PredictorVersionRepository.regime(versionId: noDrops.id, on: connection)?.includesBlockDrops == false)
                let elsewhere = try await Self.predictorVersion([], on: connection)
                #expect(try await PredictorVersionRepository.regime(versionId: elsewhere.id, on: connection) == nil,
                        "an artifact made elsewhere lists no stored measurement")
                #expect(try await MeasurementRepository.exists(modelId: Self.model, on: connection))
                #expect(try await !MeasurementRepository.exists(modelId: "other", on: connection))
            }
        }
    }

    @Test func verificationRequestsAreFoundByTheirEventAndTheirMeasurementsByRequest() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let event = UUID()
                _ = try await Self.measured(.uniform(blocks: 4, attention: 0.2, mlp: 0.2), metric: "flap",
                                            correlationId: event, reason: .staticVerify, on: connection)
                _ = try await Self.measured(.uniform(blocks: 4, attention: 0.3, mlp: 0.3), metric: "flap",
                                            correlationId: event, reason: .bootstrap, on: connection)
                let requests = try await EvaluationRequestRepository.all(correlationId: event, reason: "static-verify",
                                                                         on: connection)
                #expect(requests.count == 1)
                let measured = try await MeasurementRepository.find(requestIds: requests.map(\.id) + [UUID()], on: connection)
                #expect(measured.map(\.requestId) == requests.map(\.id))
            }
        }
    }
}
