import Foundation
import PPFContracts
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``RatioEventFollower`` against a real PostgreSQL schema: it waits for
/// each stage of one ratio event and reports a stage that never comes as a
/// timeout, not as an answer.
@Suite struct RatioEventFollowerTests {
    static let model = "workflow-tiny"
    static let regime = MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 256, window: 64)

    static func follower(_ schema: TestSchema, event: UUID, published: Recorded<Int> = Recorded()) -> RatioEventFollower {
        RatioEventFollower(pool: schema.pool, producer: "ppf/test", eventId: event, answerTimeout: .seconds(5),
                           measureTimeout: .seconds(5), publishPending: { published.append(1) })
    }

    static func emit(_ ratio: Double, on schema: TestSchema) async throws -> UUID {
        let change = try RatioChange(modelId: model, targetRatio: ratio, mode: .dynamic, requestedBy: "test")
        return try await schema.pool.withTransaction { try await RatioEvents.emit(change, producer: "t/1", on: $0) }.messageId
    }

    /// The "evaluator": answers requests of `correlationId` with `reason`, in order, with perplexities 30, 31, …
    static func answer(_ schema: TestSchema, correlationId: UUID, reason: String, count: Int) async throws {
        var answered: [UUID] = []
        while answered.count < count {
            let requests = try await schema.pool.withConnection {
                try await EvaluationRequestRepository.all(correlationId: correlationId, reason: reason, on: $0)
            }
            for request in requests where !answered.contains(request.id) {
                let measurement = try PerplexityMeasurement(
                    requestId: request.id, policyId: request.policyId, modelId: model, split: "validation",
                    tokenBudget: 256, window: 64, nll: 3.4, perplexity: 30 + Double(answered.count), tokensCounted: 256,
                    seconds: 1, evaluatorId: "e", engineVersion: "t", achievedRatio: 0.3)
                _ = try await schema.pool.withConnection { try await MeasurementRepository.insert(measurement, on: $0) }
                answered.append(request.id)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func itWaitsForTheAnswerThePlanAndTheSpotCheckOfItsOwnEvent() async throws {
        try await TestDatabase.withSchema { schema in
            let event = try await Self.emit(0.3, on: schema)
            let other = try await Self.emit(0.3, on: schema)
            let follower = Self.follower(schema, event: event)
            let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.3)
            let stored = try await schema.pool.withConnection {
                try await PolicyRepository.store(policy, modelId: Self.model, source: "agent", on: $0).record
            }

            // The agent answers a second after the follower starts waiting.
            let agent = Task {
                try await Task.sleep(for: .milliseconds(600))
                let published = try PolicyPublished(
                    ratioEventId: event, modelId: Self.model, mode: .dynamic, targetRatio: 0.3, achievedRatio: 0.3,
                    policyId: stored.id, policy: policy, metric: "flap", source: .agent)
                _ = try await schema.pool.withConnection { try await RatioEventOutcomeRepository.insert(.answered(published), on: $0) }
            }
            let (entry, answeredPolicy) = try await follower.answer()
            try await agent.value
            #expect(entry.status == "answered" && entry.policyId == stored.id)
            #expect(answeredPolicy?.policy == policy)

            // No plan yet: nil after the timeout, then the stored plan.
            #expect(try await follower.plan(timeout: .milliseconds(300)) == nil)
            let plan = PlanRecord(ratioEventId: event, policyId: stored.id, modelId: Self.model, metric: "flap",
                                  plan: "{}", keptParameters: 70, totalParameters: 100, achievedRatio: 0.3,
                                  targetRatio: 0.3, exportPath: nil, prunerId: "p1", seconds: 0.1, createdAt: Date())
            _ = try await schema.pool.withConnection { try await PlanRepository.insert(plan, on: $0) }
            #expect(try await follower.plan(timeout: .seconds(2))?.planId == plan.id)

            // A measurement of the same policy for another event is not this event's spot-check.
            try await schema.pool.withTransaction { connection in
                _ = try await MeasurementRequests.ensure(
                    policyId: stored.id, policy: policy, modelId: Self.model, regime: Self.regime, reason: .spotCheck,
                    correlationId: other, producer: "agent/test", on: connection)
            }
            try await Self.answer(schema, correlationId: other, reason: EvaluationReason.spotCheck.rawValue, count: 1)
            let impatient = RatioEventFollower(pool: schema.pool, producer: "ppf/test", eventId: event,
                                               answerTimeout: .seconds(1), measureTimeout: .milliseconds(700),
                                               publishPending: {})
            #expect(try await impatient.spotCheck(policyId: stored.id) == nil)
        }
    }

    @Test func aRejectionAndASilentAgentAreNamedErrors() async throws {
        try await TestDatabase.withSchema { schema in
            let rejected = try await Self.emit(0.97, on: schema)
            let rejection = RatioEventRejected(ratioEventId: rejected, modelId: Self.model, targetRatio: 0.97,
                                               reason: .ratioOutOfRange, message: "0.97 is above the agent's 0.8")
            _ = try await schema.pool.withConnection {
                try await RatioEventOutcomeRepository.insert(.rejected(rejection, ratioEventId: rejected), on: $0)
            }
            do {
                _ = try await Self.follower(schema, event: rejected).answer()
                Issue.record("a rejected event has no answer")
            } catch let error as WorkflowError {
                #expect("\(error)".contains("rejected") && "\(error)".contains("above the agent's 0.8"))
            }

            let silent = try await Self.emit(0.3, on: schema)
            let follower = RatioEventFollower(pool: schema.pool, producer: "ppf/test", eventId: silent,
                                              answerTimeout: .milliseconds(500), measureTimeout: .seconds(1),
                                              publishPending: {})
            let started = ContinuousClock.now
            await #expect(throws: WorkflowError.self) { _ = try await follower.answer() }
            #expect(ContinuousClock.now - started < TestDeadlines.scaled(.seconds(30)), "the wait is bounded by answerTimeout (0.5 s; generous for a loaded runner)")
        }
    }

    @Test func aBaselineIsMeasuredOnceInTheRegimeAndItsRequestIsPublished() async throws {
        try await TestDatabase.withSchema { schema in
            let event = try await Self.emit(0.3, on: schema)
            let published = Recorded<Int>()
            let follower = Self.follower(schema, event: event, published: published)
            let baseline = PruningPolicy.uniform(blocks: 4, attention: 0.3, mlp: 0.3)
            let evaluator = Task { try await Self.answer(schema, correlationId: event, reason: EvaluationReason.spotCheck.rawValue, count: 1) }
            let first = try await follower.measureBaseline(baseline, named: "llm-pruner", targetRatio: 0.3,
                                                           regime: Self.regime, modelId: Self.model)
            try await evaluator.value
            #expect(first == 30)
            #expect(published.count == 1, "the request is published without waiting for a relay")

            // Again: the stored measurement is reused, and no second request is made.
            let second = try await follower.measureBaseline(baseline, named: "llm-pruner", targetRatio: 0.3,
                                                            regime: Self.regime, modelId: Self.model)
            #expect(second == 30)
            let requests = try await schema.pool.withConnection {
                try await EvaluationRequestRepository.all(correlationId: event, reason: EvaluationReason.spotCheck.rawValue, on: $0)
            }
            #expect(requests.count == 1)
        }
    }
}
