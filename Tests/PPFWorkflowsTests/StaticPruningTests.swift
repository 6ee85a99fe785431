import Foundation
import PPFAgent
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore
import PPFTensor
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``StaticPruning``: the one static search every caller runs, and the
/// evaluator measurer against a real PostgreSQL schema.
@Suite struct StaticPruningTests {
    static let blocks = 4
    static let model = "workflow-tiny"

    /// A predictor over 4 blocks whose truth punishes block 0 most, and an agent trained against it
    /// over `budget` (default: four made-up blocks).
    static func loadedAgent(budget given: ParameterBudget? = nil) throws -> LoadedAgent {
        let reward = try PredictorReward(predictor: try predictor(), blockCount: blocks)
        let layer = LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.25, 0.5, 0.75],
                                mlpChannels: 100, maxRemovedMLPChannels: 90)
        let budget = try given ?? ParameterBudget(layers: Array(repeating: layer, count: blocks), allowsBlockDrop: false)
        var configuration = TrainingConfiguration()
        configuration.iterations = 20
        configuration.seed = 3
        let trained = try PruningAgent.train(budget: budget, configuration: configuration, reward: reward.model)
        let record = try AgentVersions.record(of: trained, modelId: model, predictorVersionId: UUID(),
                                              configuration: configuration, correlationId: nil)
        return LoadedAgent(record: record, agent: trained.agent, reward: reward,
                           regime: PredictorRegime(measured: .bootstrapDefault, measurements: 120, includesBlockDrops: false))
    }

    /// A small predictor over 4 blocks trained on ``trueLogPerplexity``.
    static func predictor() throws -> PerformancePredictor {
        let spec = try FeatureSpec(layerCount: blocks)
        var generator = SeededGenerator(seed: 5)
        let samples = try (0..<120).map { index in
            let policy = PruningPolicy(layers: (0..<blocks).map { _ in
                LayerPolicy(attentionRatio: Double.random(in: 0...0.6, using: &generator),
                            mlpRatio: Double.random(in: 0...0.6, using: &generator))
            })
            return TrainingSample(id: "s\(index)", features: try PolicyFeatures(policy: policy, spec: spec),
                                  perplexity: exp(Self.trueLogPerplexity(policy)))
        }
        return try PerformancePredictor.train(
            on: samples, hyperparameters: PredictorHyperparameters(ensembleSize: 2, seed: 7, maxEpochs: 120, patience: 30))
    }

    static func trueLogPerplexity(_ policy: PruningPolicy) -> Double {
        2.5 + policy.layers.enumerated().reduce(0.0) { sum, item in
            sum + (item.offset == 0 ? 2.0 : 0.5) * (0.5 * item.element.attentionRatio + item.element.mlpRatio)
        }
    }

    /// Scores policies with a known function that disagrees with the predictor: the candidate the
    /// predictor likes least measures best, so the test can see that measurements decide.
    struct ReversingMeasurer: PolicyMeasurer {
        let skip: Set<Int>
        func measure(_ candidates: [StaticCandidate], ratio: Double,
                     onMeasured: @Sendable (Int, CandidateMeasurement) async -> Void) async throws -> [CandidateMeasurement?] {
            var out: [CandidateMeasurement?] = []
            for (index, candidate) in candidates.enumerated() {
                guard !skip.contains(index) else {
                    out.append(nil)
                    continue
                }
                let measurement = CandidateMeasurement(perplexity: 100 - candidate.candidate.prediction.mean)
                out.append(measurement)
                await onMeasured(index, measurement)
            }
            return out
        }
    }

    @Test func theBestMeasuredCandidateWinsOverTheBestPredictedOne() async throws {
        let agent = try Self.loadedAgent()
        var configuration = StaticSearchConfiguration()
        configuration.topK = 3
        configuration.iterations = 8
        let outcome = try await StaticPruning.run(agent: agent, ratio: 0.3, configuration: configuration,
                                                  measurer: ReversingMeasurer(skip: []), queue: BlockingQueue(label: "test"))
        #expect(outcome.candidates.count == 3 && outcome.candidates.allSatisfy { $0.origin == "agent" })
        #expect(outcome.measuredCount == 3)
        let worstPredicted = outcome.candidates.indices.max {
            outcome.candidates[$0].candidate.prediction.mean < outcome.candidates[$1].candidate.prediction.mean
        }
        #expect(outcome.bestIndex == worstPredicted, "the measurer, not the predictor, chooses")
        #expect(outcome.rewardCalls == outcome.search.rewardCalls, "no starts: one search")
        for candidate in outcome.candidates {
            #expect(abs(candidate.candidate.achievedRatio - 0.3) < 0.02, "every candidate meets the ratio")
        }
    }

    @Test func eachStartAddsOneSearchAndItsBestCandidateAndMissingMeasurementsAreSkipped() async throws {
        let agent = try Self.loadedAgent()
        var configuration = StaticSearchConfiguration()
        configuration.topK = 3
        configuration.iterations = 6
        let uniform = PruningPolicy.uniform(blocks: Self.blocks, attention: 0.3, mlp: 0.3)
        let events = Recorded<String>()
        let outcome = try await StaticPruning.run(
            agent: agent, ratio: 0.3, configuration: configuration, starts: [("uniform", uniform)],
            measurer: ReversingMeasurer(skip: [0]), queue: BlockingQueue(label: "test"),
            events: { events.append(Self.phase($0)) })
        #expect(outcome.candidates.map(\.origin) == ["agent", "uniform"], "with starts, the best of each search")
        #expect(outcome.measurements[0] == nil && outcome.bestIndex == 1, "an unmeasured candidate is never chosen")
        #expect(outcome.rewardCalls > outcome.search.rewardCalls)
        #expect(events.values == ["searched:agent", "searched:uniform", "verifying:2", "measured:1"])

        await #expect(throws: StaticPruningError.self) {
            _ = try await StaticPruning.run(agent: agent, ratio: 0.3, configuration: configuration,
                                            measurer: ReversingMeasurer(skip: [0, 1, 2]), queue: BlockingQueue(label: "test"))
        }
    }

    /// A short name of each phase, for comparing the order of events.
    static func phase(_ event: StaticPruningEvent) -> String {
        switch event {
        case .searched(let origin, _): "searched:\(origin)"
        case .verifying(let candidates): "verifying:\(candidates.count)"
        case .measured(let index, _, _, _, _): "measured:\(index)"
        }
    }

    // MARK: - EvaluatorMeasurer

    static let regime = MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 256, window: 64)

    static func candidates() -> [StaticCandidate] {
        [0.2, 0.3].map { ratio in
            let policy = PruningPolicy.uniform(blocks: blocks, attention: ratio, mlp: ratio)
            return StaticCandidate(origin: "agent", candidate: SearchCandidate(
                policy: policy, achievedRatio: ratio, prediction: PPFAgent.Prediction(mean: 3, std: 0.1), reward: -3))
        }
    }

    @Test func theEvaluatorMeasurerRequestsEachCandidateOnceAndReturnsTheStoredMeasurements() async throws {
        try await TestDatabase.withSchema { schema in
            let event = UUID()
            let measurer = EvaluatorMeasurer(pool: schema.pool, producer: "agent/test", correlationId: event,
                                             modelId: Self.model, regime: Self.regime, timeout: .seconds(20),
                                             pollInterval: .milliseconds(50))
            // The "evaluator": answers each queued request as it appears.
            let answering = Task {
                var answered: Set<UUID> = []
                while answered.count < 2 {
                    let requests = try await schema.pool.withConnection {
                        try await EvaluationRequestRepository.all(correlationId: event, reason: "static-verify", on: $0)
                    }
                    for request in requests where !answered.contains(request.id) {
                        answered.insert(request.id)
                        let measurement = try PerplexityMeasurement(
                            requestId: request.id, policyId: request.policyId, modelId: Self.model, split: "validation",
                            tokenBudget: 256, window: 64, nll: 3, perplexity: 20 + Double(answered.count), tokensCounted: 256,
                            seconds: 1, evaluatorId: "e", engineVersion: "t", achievedRatio: 0.2)
                        _ = try await schema.pool.withConnection { try await MeasurementRepository.insert(measurement, on: $0) }
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let measured = try await measurer.measure(Self.candidates(), ratio: 0.25) { _, _ in }
            try await answering.value
            #expect(measured.compactMap { $0?.perplexity }.sorted() == [21, 22])

            // A resumed run (same event, same candidates) reuses the requests and reads the same measurements.
            let again = try await measurer.measure(Self.candidates(), ratio: 0.25) { _, _ in }
            #expect(again == measured)
            try await schema.pool.withConnection { connection in
                let requests = try await EvaluationRequestRepository.all(correlationId: event, reason: "static-verify", on: connection)
                #expect(requests.count == 2, "one request per candidate, reused on resume")
                #expect(requests.allSatisfy { $0.tokenBudget == 256 && $0.window == 64 && $0.split == "validation" })
                let queued = try await connection.query(
                    "SELECT count(*)::int FROM outbox WHERE topic = \(Topic.evaluationRequests)").decode(Int.self)
                #expect(queued == [2], "measured requests are not announced again")
            }
        }
    }

    @Test func theEvaluatorMeasurerGivesUpAtItsTimeoutAndStopsWhenSettledElsewhere() async throws {
        try await TestDatabase.withSchema { schema in
            let late = EvaluatorMeasurer(pool: schema.pool, producer: "agent/test", correlationId: UUID(), modelId: Self.model,
                                         regime: Self.regime, timeout: .milliseconds(200), pollInterval: .milliseconds(50))
            let none = try await late.measure(Self.candidates(), ratio: 0.25) { _, _ in }
            #expect(none == [nil, nil], "nothing measured within the timeout")

            let settled = EvaluatorMeasurer(pool: schema.pool, producer: "agent/test", correlationId: UUID(),
                                            modelId: Self.model, regime: Self.regime, timeout: .seconds(30),
                                            pollInterval: .milliseconds(50), isSettled: { true })
            await #expect(throws: StaticPruningError.settledElsewhere) {
                _ = try await settled.measure(Self.candidates(), ratio: 0.25) { _, _ in }
            }
        }
    }
}
