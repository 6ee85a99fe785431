import Foundation
import PPFAgent
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``AgentVersions`` against a real PostgreSQL schema: the row a training
/// becomes, storing it once with its event and audit entry, and restoring it.
@Suite struct AgentVersionsTests {
    static let model = "workflow-tiny"

    /// A small agent trained in milliseconds on a synthetic objective.
    static func trained(seed: UInt64) throws -> (trained: (agent: PruningAgent, report: TrainingReport),
                                                 configuration: TrainingConfiguration) {
        let layer = LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.5],
                                mlpChannels: 100, maxRemovedMLPChannels: 90)
        let budget = try ParameterBudget(layers: Array(repeating: layer, count: 4), allowsBlockDrop: false)
        let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 4)
        var configuration = TrainingConfiguration()
        configuration.iterations = 3
        configuration.seed = seed
        return (try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel),
                configuration)
    }

    static func predictorVersion(on connection: PGConnection) async throws -> PredictorVersionRecord {
        let version = PredictorVersionRecord(modelId: model, artifact: Array("{}".utf8), sampleCount: 1,
                                             trainingMeasurementIds: [], heldOut: nil, trainingSeconds: 1,
                                             correlationId: nil)
        try await PredictorVersionRepository.insert(version, on: connection)
        return version
    }

    @Test func aTrainedAgentIsStoredOnceWithItsEventAndAuditEntryAndRestoresToTheSameAgent() async throws {
        try await TestDatabase.withSchema { schema in
            let predictor = try await schema.pool.withConnection { try await Self.predictorVersion(on: $0) }
            let (trained, configuration) = try Self.trained(seed: 7)
            let cause = UUID()
            let record = try AgentVersions.record(of: trained, modelId: Self.model, predictorVersionId: predictor.id,
                                                  configuration: configuration, correlationId: cause)
            #expect(record.configurationKey == AgentArtifact.configurationKey(configuration, allowsBlockDrop: false))
            #expect(record.predictorVersionId == predictor.id && record.correlationId == cause)

            let first = try await AgentVersions.store(record, correlationId: cause, producer: "agent/1", pool: schema.pool)
            #expect(first.inserted && first.record.id == record.id)
            // The same training again (another trainer, a redelivery) keeps the first row and writes nothing.
            let again = try AgentVersions.record(of: trained, modelId: Self.model, predictorVersionId: predictor.id,
                                                 configuration: configuration, correlationId: UUID())
            let second = try await AgentVersions.store(again, correlationId: UUID(), producer: "agent/2", pool: schema.pool)
            #expect(!second.inserted && second.record.id == record.id)

            try await schema.pool.withConnection { connection in
                let events = try await connection.query("""
                    SELECT payload FROM outbox WHERE topic = \(Topic.agentVersions)
                    """).decode([UInt8].self)
                #expect(events.count == 1, "one AgentVersionPublished, from the call that stored the row")
                let envelope = try Envelope<AgentVersionPublished>.decode(try #require(events.first))
                #expect(envelope.correlationId == cause && envelope.payload.versionId == record.id)
                let audited = try await connection.query(
                    "SELECT count(*)::int FROM audit_log WHERE action = 'agent.trained'").decode(Int.self)
                #expect(audited == [1])
            }

            let restored = try await AgentVersions.restoreAgent(first.record, queue: BlockingQueue(label: "test"))
            let ratio = 0.3
            #expect(try restored.policy(forRatio: ratio) == trained.agent.policy(forRatio: ratio),
                    "the stored artifact restores the agent that was trained (same weights, same computation)")
        }
    }

    @Test func obtainTrainsAndStoresOnceThenRestoresTheStoredVersion() async throws {
        try await TestDatabase.withSchema { schema in
            let row = try await schema.pool.withConnection { try await Self.predictorVersion(on: $0) }
            let predictor = LoadedPredictor(record: row, artifact: PredictorArtifact(predictor: try StaticPruningTests.predictor(), trainingSampleIds: [], heldOutSampleIds: [], heldOutMetrics: nil, learningCurve: [], trainingSeconds: 0),
                                            regime: .assumedForUnstoredMeasurements, regimeIsStored: false)
            let layer = LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.5],
                                    mlpChannels: 100, maxRemovedMLPChannels: 90)
            let budget = try ParameterBudget(layers: Array(repeating: layer, count: 4), allowsBlockDrop: false)
            var configuration = TrainingConfiguration()
            configuration.iterations = 3
            let steps = Recorded<Int>()
            let first = try await AgentVersions.obtain(
                modelId: Self.model, predictor: predictor, budget: budget, configuration: configuration, correlationId: nil,
                producer: "agent/1", pool: schema.pool, queue: BlockingQueue(label: "test"), progress: { steps.append($0.iteration) })
            #expect(first.origin == .trained && steps.count == 3)
            let again = try await AgentVersions.obtain(
                modelId: Self.model, predictor: predictor, budget: budget, configuration: configuration, correlationId: nil,
                producer: "agent/2", pool: schema.pool, queue: BlockingQueue(label: "test"), progress: { steps.append($0.iteration) })
            #expect(again.origin == .stored && again.agent.versionId == first.agent.versionId)
            #expect(steps.count == 3, "a stored version is restored, not trained again")
            #expect(try again.agent.agent.policy(forRatio: 0.3) == first.agent.agent.policy(forRatio: 0.3))
            configuration.seed = 99
            let other = try await AgentVersions.obtain(
                modelId: Self.model, predictor: predictor, budget: budget, configuration: configuration, correlationId: nil,
                producer: "agent/1", pool: schema.pool, queue: BlockingQueue(label: "test"))
            #expect(other.origin == .trained && other.agent.versionId != first.agent.versionId, "another configuration, another version")
            let layers = try await AgentVersions.layers(modelId: Self.model, checkpoint: nil, pool: schema.pool,
                                                        queue: BlockingQueue(label: "test"))
            #expect(layers == budget.layers, "without a checkpoint the newest stored agent gives the shapes")
            #expect(try await AgentVersions.layers(modelId: "unknown", checkpoint: nil, pool: schema.pool,
                                                   queue: BlockingQueue(label: "test")) == nil)
        }
    }

    @Test func anchorsAreServedOnceStoredAndCarriedOverToTheNextPredictorVersion() async throws {
        // Two distillations (1,500 Adam steps each) in a debug build: about 10 s
        // alone, several times that beside the parallel suites of `make test`.
        try await TestDatabase.withSchema(timeLimit: .seconds(300)) { schema in
            let layer = LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.5],
                                    mlpChannels: 100, maxRemovedMLPChannels: 90)
            let budget = try ParameterBudget(layers: Array(repeating: layer, count: 4), allowsBlockDrop: false)
            var configuration = TrainingConfiguration()
            configuration.iterations = 3
            func loaded(_ row: PredictorVersionRecord) throws -> LoadedPredictor {
                LoadedPredictor(record: row, artifact: PredictorArtifact(predictor: try StaticPruningTests.predictor(), trainingSampleIds: [], heldOutSampleIds: [], heldOutMetrics: nil, learningCurve: [], trainingSeconds: 0),
                                regime: .assumedForUnstoredMeasurements, regimeIsStored: false)
            }
            func obtain(_ predictor: LoadedPredictor) async throws -> AgentVersions.Obtained {
                try await AgentVersions.obtain(modelId: Self.model, predictor: predictor, budget: budget,
                                               configuration: configuration, correlationId: nil, producer: "agent/1",
                                               pool: schema.pool, queue: BlockingQueue(label: "test"))
            }
            let first = try loaded(try await schema.pool.withConnection { try await Self.predictorVersion(on: $0) })
            let base = try await obtain(first)
            #expect(base.anchors == 0, "no anchors are stored yet: the RL-trained agent is served")

            // A measured winner at 0.3 that prunes the first two blocks' MLPs hardest.
            let winner = PruningPolicy(layers: [0.8, 0.8, 0.1, 0.1].map { LayerPolicy(attentionRatio: 0, mlpRatio: $0) })
            let anchors = [AgentAnchor(ratio: try budget.achievedRatio(winner), policy: winner, score: 0.1, perplexity: 30)]
            let stored = try await AgentVersions.anchored(base.agent, anchors: anchors, correlationId: nil, producer: "ppf",
                                                          pool: schema.pool, queue: BlockingQueue(label: "test"))
            #expect(stored.inserted && stored.agent.versionId != base.agent.versionId)
            #expect(stored.agent.predictorVersionId == first.record.id)
            let answer = try stored.agent.agent.policy(forRatio: anchors[0].ratio)
            #expect(answer.layers[0].mlpRatio > answer.layers[2].mlpRatio + 0.3, "the anchored agent answers like the winner")

            // The agent service's next preparation serves the anchored version, restored, not fitted again.
            let served = try await obtain(first)
            #expect(served.anchors == 1 && served.agent.versionId == stored.agent.versionId)
            // A new predictor version: a new RL-trained base, distilled toward the same anchors.
            let second = try loaded(try await schema.pool.withConnection { try await Self.predictorVersion(on: $0) })
            let next = try await obtain(second)
            #expect(next.origin == .trained && next.anchors == 1)
            #expect(next.agent.predictorVersionId == second.record.id && next.agent.versionId != stored.agent.versionId)
            #expect(try next.agent.agent.policy(forRatio: anchors[0].ratio).layers[0].mlpRatio > 0.5)
            let newest = try await schema.pool.withConnection { try await AgentVersionRepository.latest(modelId: Self.model, on: $0) }
            #expect(newest?.id == next.agent.versionId, "the newest stored version is the anchored one")
        }
    }

    @Test func aPredictorVersionWhoseArtifactIsNotAPredictorFailsToLoadWithAnError() async throws {
        try await TestDatabase.withSchema { schema in
            try await schema.pool.withConnection { connection in
                let predictor = try await Self.predictorVersion(on: connection)
                // "{}" is no predictor artifact: loading it is a PredictorError, not a crash.
                await #expect(throws: (any Error).self) {
                    _ = try await AgentVersions.loadPredictor(predictor, queue: BlockingQueue(label: "test"), on: connection)
                }
            }
        }
    }
}
