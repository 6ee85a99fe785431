import Foundation
import PPFAgent
import PPFBus
import PPFContracts
import PPFModel
import PPFPredictor
import PPFStore
import PPFTestSupport
import Testing

/// The real `agent` executable against the real broker and database, in an
/// isolated schema, on a tiny 4-block model whose predictor version is
/// trained here on synthetic stored measurements. It trains its agent on
/// start, answers a dynamic event with exactly one policy (a redelivery adds
/// nothing), rejects what it cannot answer with a reason and a dead letter
/// while it keeps serving, answers a static event with the best *measured*
/// candidate without holding up dynamic events, and answers on restart an
/// event recorded while it was down.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(5)))) struct AgentServiceTests {
    /// Blocks of the tiny model.
    static let blocks = 4

    /// SmolLM2's head layout in miniature (9 query heads in 3 KV groups), d = 24, FFN 96.
    static func configuration() throws -> LlamaConfiguration {
        try LlamaConfiguration(blockCount: blocks, embeddingLength: 24, headCounts: [9], keyValueHeadCounts: [3],
                               feedForwardLengths: [96], headDimension: 4, contextLength: 64, vocabularySize: 50)
    }

    /// The synthetic truth: block 0 is the sensitive one, MLP costs more than attention.
    static func logPerplexity(_ policy: PruningPolicy) -> Double {
        let weights = [2.4, 0.5, 0.7, 1.0]
        return 2.3 + zip(policy.layers, weights).reduce(0) { $0 + $1.1 * (0.5 * $1.0.attentionRatio + $1.0.mlpRatio) }
    }

    /// Writes the tiny model's GGUF (random weights; the agent reads only its header).
    static func writeModel(to directory: URL) throws -> String {
        let file = "tiny-agent.gguf"
        let writer = try LlamaWeights.random(configuration: configuration(), seed: 11).makeGGUFWriter()
        try writer.write(to: directory.appendingPathComponent(file))
        return file
    }

    /// Stores one measured policy the way the evaluator would; returns the measurement id.
    static func storeMeasurement(_ policy: PruningPolicy, model: String, perplexity: Double,
                                 on connection: PGConnection) async throws -> Int64 {
        let correlation = UUID()
        let stored = try await PolicyRepository.store(policy, modelId: model, source: "sampler", correlationId: correlation,
                                                      on: connection).record
        let request = try EvaluationRequest(requestId: UUID(), modelId: model, policyId: stored.id, policy: policy,
                                            metric: "flap", split: "validation", tokenBudget: 256, window: 64,
                                            reason: .bootstrap)
        try await EvaluationRequestRepository.insert(request, correlationId: correlation, on: connection)
        let measurement = try PerplexityMeasurement(
            requestId: request.requestId, policyId: stored.id, modelId: model, split: "validation", tokenBudget: 256,
            window: 64, nll: log(perplexity), perplexity: perplexity, tokensCounted: 252, seconds: 0.01,
            evaluatorId: "it", engineVersion: "test", achievedRatio: 0.3)
        return try #require(try await MeasurementRepository.insert(measurement, on: connection))
    }

    /// Stores 60 measured policies of `model` and a predictor version trained on them (here, in-process).
    static func storePredictor(model: String, database: IsolatedDatabase) async throws -> UUID {
        var random = PredictorServiceTests.SplitMix(state: 7)
        let spec = try FeatureSpec(layerCount: blocks)
        var samples: [TrainingSample] = []
        var ids: [Int64] = []
        try await database.pool.withConnection { connection in
            for index in 0..<60 {
                let policy = PruningPolicy(layers: (0..<blocks).map { _ in
                    LayerPolicy(attentionRatio: (Double.random(in: 0...0.7, using: &random) * 100).rounded() / 100,
                                mlpRatio: (Double.random(in: 0...0.8, using: &random) * 100).rounded() / 100)
                })
                let perplexity = exp(logPerplexity(policy))
                ids.append(try await storeMeasurement(policy, model: model, perplexity: perplexity, on: connection))
                samples.append(TrainingSample(id: "m\(index)", features: try PolicyFeatures(policy: policy, spec: spec),
                                              perplexity: perplexity))
            }
        }
        let artifact = try PredictorArtifact.train(
            training: samples, heldOut: [],
            hyperparameters: PredictorHyperparameters(ensembleSize: 3, seed: 3, maxEpochs: 150, patience: 40))
        let version = PredictorVersionRecord(modelId: model, artifact: Array(try artifact.jsonData()),
                                             sampleCount: samples.count, trainingMeasurementIds: ids, heldOut: nil,
                                             trainingSeconds: artifact.trainingSeconds, correlationId: nil)
        try await database.pool.withConnection { try await PredictorVersionRepository.insert(version, on: $0) }
        return version.id
    }

    static func ratioEvent(_ model: String, _ ratio: Double, _ mode: PruningMode = .dynamic) throws -> Envelope<RatioChange> {
        let id = UUID()
        return Envelope(correlationId: id, producer: "it/cli",
                        payload: try RatioChange(modelId: model, targetRatio: ratio, mode: mode, requestedBy: "it"),
                        messageId: id)
    }

    static func send(_ event: Envelope<RatioChange>, _ producer: KafkaProducer) async throws {
        try await producer.send(event, to: Topic.ratioEvents, key: event.payload.modelId)
    }

    /// The decoded messages on `recorder` that answer event `id`.
    static func answers<Payload: MessagePayload>(_ id: UUID, in recorder: TopicRecorder,
                                                 as _: Payload.Type) throws -> [Envelope<Payload>] {
        try recorder.messages(containing: id.uuidString.lowercased()).map { try Envelope<Payload>.decode($0.value) }
    }

    static func outcome(_ id: UUID, _ database: IsolatedDatabase) async throws -> RatioEventOutcome? {
        try await database.pool.withConnection { try await RatioEventOutcomeRepository.find(ratioEventId: id, on: $0) }
    }

    @Test func theAgentAnswersOnceRejectsWithReasonsVerifiesStaticPoliciesAndReconcilesOnRestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-agent-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modelFile = try Self.writeModel(to: directory)

        try await IsolatedDatabase.with { database in
            let model = "it-tiny-\(UUID().uuidString.prefix(8).lowercased())"
            // The rows the agent starts from exist before it does, so the schema is migrated here first.
            try await database.pool.withConnection { try await Migrator(logger: Stack.logger).migrate(on: $0) }
            let predictorVersion = try await Self.storePredictor(model: model, database: database)
            let unmeasured = "it-nopredictor-\(UUID().uuidString.prefix(8).lowercased())"
            _ = try await database.pool.withConnection {
                try await Self.storeMeasurement(.uniform(blocks: Self.blocks, attention: 0.1, mlp: 0.1), model: unmeasured,
                                                perplexity: 12, on: $0)
            }

            let policies = try await TopicRecorder(topic: Topic.prunedPolicies)
            let rejections = try await TopicRecorder(topic: Topic.ratioRejections)
            let agentVersions = try await TopicRecorder(topic: Topic.agentVersions)
            let progress = try await TopicRecorder(topic: Topic.searchProgress)
            let verificationRequests = try await TopicRecorder(topic: Topic.evaluationRequests)
            let recorders = [policies, rejections, agentVersions, progress, verificationRequests]
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let environment = [
                "PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers,
                "PPF_CONSUMER_GROUP_PREFIX": "it-\(UUID().uuidString.prefix(8))-", "PPF_HEARTBEAT_SECONDS": "1",
                "PPF_MODEL_ID": model, "PPF_MODEL_DIR": directory.path, "PPF_MODEL_FILE": modelFile,
                "PPF_AGENT_VERIFY_TOP_K": "2", "PPF_AGENT_VERIFY_TIMEOUT_SECONDS": "90",
            ]
            var agent = try ServiceProcess.start("agent", environment: environment)
            do {
                // 1. On start the agent trains against the stored predictor version, once.
                #expect(try await eventually(within: .seconds(150)) {
                    try await database.count("SELECT count(*)::int FROM agent_versions WHERE model_id = \(model)") == 1
                }, "an agent version should be trained on start: \(agent.output.suffix(3000))")
                let version = try await database.pool.withConnection { connection in
                    try #require(try await AgentVersionRepository.latest(modelId: model, on: connection))
                }
                #expect(version.predictorVersionId == predictorVersion)
                #expect(version.ratioRange == 0.05...0.6)
                #expect(try await eventually(within: .seconds(15)) {
                    !agentVersions.messages(containing: version.id.uuidString.lowercased()).isEmpty
                }, "the agent version is published through the outbox")
                if let line = agent.output.split(separator: "\n").first(where: { $0.contains("trained agent version") }) {
                    print("agent log: \(line)")
                }

                // 2. A dynamic event gets exactly one policy, quickly.
                let dynamic = try Self.ratioEvent(model, 0.35)
                let sent = ContinuousClock.now
                try await Self.send(dynamic, producer)
                #expect(try await eventually(within: .seconds(30)) {
                    !policies.messages(containing: dynamic.messageId.uuidString.lowercased()).isEmpty
                }, "a policy should answer the dynamic event: \(agent.output.suffix(3000))")
                print("dynamic ratio event → policy on ppf.pruned-policies (outbox relay and 20 ms polling included): \(ContinuousClock.now - sent)")
                let answer = try #require(try Self.answers(dynamic.messageId, in: policies, as: PolicyPublished.self).first)
                #expect(answer.correlationId == dynamic.messageId)
                let published = answer.payload
                #expect(published.source == .agent && published.mode == .dynamic)
                #expect(published.metric == "flap", "the metric of the predictor's measurements")
                #expect(published.agentVersionId == version.id && published.predictorVersionId == predictorVersion)
                #expect(abs(published.achievedRatio - 0.35) <= 1e-3, "budget-exact: \(published.achievedRatio)")
                #expect(published.policy.layers.count == Self.blocks)
                let predicted = try #require(published.predictedPerplexity)
                #expect(abs(log(predicted) - Self.logPerplexity(published.policy)) < 0.5,
                        "predicted \(log(predicted)) vs true \(Self.logPerplexity(published.policy))")
                let uniform = PruningPolicy.uniform(blocks: Self.blocks, attention: 0.35, mlp: 0.35)
                #expect(Self.logPerplexity(published.policy) < Self.logPerplexity(uniform),
                        "the agent's policy beats uniform under the truth: \(published.policy.layers)")
                if let line = agent.output.split(separator: "\n").first(where: { $0.contains("answered ratio event \(dynamic.messageId.uuidString.lowercased())") }) {
                    print("agent log: \(line)")
                }
                let outcome = try #require(try await Self.outcome(dynamic.messageId, database))
                #expect(outcome.status == .answered && outcome.policyId == published.policyId)
                // Exact: the stored value is the published one (one prediction, two copies).
                #expect(outcome.predictedPerplexity == predicted && outcome.verificationMeasurements == 0)

                // 3. The same event delivered again changes nothing.
                try await Self.send(dynamic, producer)
                try await agent.waitForOutput("skipping ratio event \(dynamic.messageId.uuidString.lowercased())")

                // 4. What cannot be answered is rejected with its reason and dead-lettered.
                let outOfRange = try Self.ratioEvent(model, 0.9)
                let unknown = try Self.ratioEvent("no-such-model-\(UUID().uuidString.prefix(6))", 0.3)
                let noPredictor = try Self.ratioEvent(unmeasured, 0.3)
                for event in [outOfRange, unknown, noPredictor] { try await Self.send(event, producer) }
                let malformed = "garbage-\(UUID().uuidString.prefix(8))"
                try await producer.send(topic: Topic.ratioEvents, key: model, value: Array("not json \(malformed)".utf8))
                // 800 KB of 0xFF on the model's key: its dead letter must fit the broker
                // (a base64 copy would not), or it holds the partition forever.
                try await producer.send(topic: Topic.ratioEvents, key: model, value: [UInt8](repeating: 0xff, count: 800_000))
                let future = try Self.ratioEvent(model, 0.3)
                let futureText = String(decoding: try future.encoded(), as: UTF8.self)
                    .replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":99")
                try await producer.send(topic: Topic.ratioEvents, key: model, value: Array(futureText.utf8))
                let impossible = try {
                    var event = try Self.ratioEvent(model, 0.3)
                    event.payload.targetRatio = 1.5
                    return event
                }()
                try await Self.send(impossible, producer)
                let after = try Self.ratioEvent(model, 0.2)
                try await Self.send(after, producer)

                let expected: [(Envelope<RatioChange>, RatioEventRejected.Reason)] =
                    [(outOfRange, .ratioOutOfRange), (unknown, .unknownModel), (noPredictor, .noPredictor)]
                for (event, reason) in expected {
                    let id = event.messageId.uuidString.lowercased()
                    #expect(try await eventually(within: .seconds(20)) { !rejections.messages(containing: id).isEmpty },
                            "\(reason) should be published: \(agent.output.suffix(2000))")
                    let rejection = try #require(try Self.answers(event.messageId, in: rejections, as: RatioEventRejected.self).first)
                    #expect(rejection.payload.reason == reason && rejection.payload.ratioEventId == event.messageId)
                    #expect(!rejection.payload.message.isEmpty)
                    let stored = try #require(try await Self.outcome(event.messageId, database))
                    #expect(stored.status == .rejected && stored.reason == reason.rawValue && stored.policyId == nil)
                    #expect(try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.ratioEvents)
                           AND position(convert_to(\(id), 'UTF8') in payload) > 0 AND reason LIKE \(reason.rawValue + ":%")
                        """) == 1, "\(reason) is dead-lettered with its reason")
                    #expect(policies.messages(containing: id).isEmpty)
                }
                print("rejection messages: \(try expected.map { try Self.answers($0.0.messageId, in: rejections, as: RatioEventRejected.self).first?.payload.message ?? "" })")
                #expect(try await eventually(within: .seconds(20)) {
                    let garbage = try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.ratioEvents)
                           AND position(convert_to(\(malformed), 'UTF8') in payload) > 0
                        """)
                    let unsupported = try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.ratioEvents)
                           AND position(convert_to(\(future.messageId.uuidString.lowercased()), 'UTF8') in payload) > 0
                           AND reason LIKE '%schema version 99%'
                        """)
                    let outside = try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.ratioEvents)
                           AND position(convert_to(\(impossible.messageId.uuidString.lowercased()), 'UTF8') in payload) > 0
                           AND reason LIKE '%outside [0, 1)%'
                        """)
                    let huge = try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.ratioEvents)
                           AND reason LIKE '%first 65536 of 800000 bytes%' AND length(payload) = 65536
                        """)
                    return garbage == 1 && unsupported == 1 && outside == 1 && huge == 1
                }, "malformed, oversized binary, unknown-schema and impossible events are dead-lettered by the consumer")
                #expect(try await eventually(within: .seconds(20)) {
                    !policies.messages(containing: after.messageId.uuidString.lowercased()).isEmpty
                }, "the service keeps serving after bad input: \(agent.output.suffix(2000))")

                // 5. A static event: searched, its top 2 sent to the evaluators, the best measured one
                //    published. Meanwhile a dynamic event is answered at once.
                let searched = try Self.ratioEvent(model, 0.4, .static)
                try await Self.send(searched, producer)
                #expect(try await eventually(within: .seconds(60)) {
                    try await database.count("""
                        SELECT count(*)::int FROM evaluation_requests
                         WHERE correlation_id = \(searched.messageId) AND reason = 'static-verify'
                        """) == 2
                }, "two verification requests should be stored: \(agent.output.suffix(3000))")
                let meanwhile = try Self.ratioEvent(model, 0.25)
                let meanwhileSent = ContinuousClock.now
                try await Self.send(meanwhile, producer)
                #expect(try await eventually(within: .seconds(20)) {
                    !policies.messages(containing: meanwhile.messageId.uuidString.lowercased()).isEmpty
                }, "a dynamic event is answered while the static one waits for measurements")
                print("dynamic ratio event during a static search → policy on the topic: \(ContinuousClock.now - meanwhileSent)")
                if let line = agent.output.split(separator: "\n").first(where: { $0.contains("answered ratio event \(meanwhile.messageId.uuidString.lowercased())") }) {
                    print("agent log: \(line)")
                }
                #expect(policies.messages(containing: searched.messageId.uuidString.lowercased()).isEmpty)

                let requests = try await database.pool.withConnection { connection in
                    try await EvaluationRequestRepository.all(correlationId: searched.messageId, reason: "static-verify",
                                                              on: connection)
                }
                #expect(requests.allSatisfy { $0.split == "validation" && $0.metric == "flap" && $0.tokenBudget == 256 })
                #expect(try await eventually(within: .seconds(15)) {
                    requests.allSatisfy { !verificationRequests.messages(containing: $0.id.uuidString.lowercased()).isEmpty }
                }, "the verification requests are published for the evaluators")
                // The test is the evaluator: the second candidate measures better than the first.
                for (index, request) in requests.enumerated() {
                    let measurement = try PerplexityMeasurement(
                        requestId: request.id, policyId: request.policyId, modelId: model, split: request.split,
                        tokenBudget: request.tokenBudget, window: request.window, nll: log(40 - 10 * Double(index)),
                        perplexity: 40 - 10 * Double(index), tokensCounted: 252, seconds: 0.5, evaluatorId: "it",
                        engineVersion: "test", achievedRatio: 0.4)
                    _ = try await database.pool.withConnection { try await MeasurementRepository.insert(measurement, on: $0) }
                }
                let searchedId = searched.messageId.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(30)) { !policies.messages(containing: searchedId).isEmpty },
                        "the static event is answered once its candidates are measured: \(agent.output.suffix(3000))")
                let verified = try #require(try Self.answers(searched.messageId, in: policies, as: PolicyPublished.self).first).payload
                #expect(verified.source == .staticSearch && verified.mode == .static)
                #expect(verified.measuredPerplexity == 30, "the best measured candidate wins")
                #expect(verified.policyId == requests.last?.policyId)
                #expect(abs(verified.achievedRatio - 0.4) <= 1e-3)
                let staticOutcome = try #require(try await Self.outcome(searched.messageId, database))
                #expect(staticOutcome.measuredPerplexity == 30 && staticOutcome.verificationMeasurements == 2)
                #expect(try await eventually(within: .seconds(10)) {
                    try Self.answers(searched.messageId, in: progress, as: StaticSearchProgress.self)
                        .contains { $0.payload.phase == .finished }
                }, "search progress is published up to its end")
                let phases = Set(try Self.answers(searched.messageId, in: progress, as: StaticSearchProgress.self).map(\.payload.phase))
                #expect(phases.isSuperset(of: [.searching, .verifying, .measured, .finished]), "\(phases)")

                // 6. Stopped, an event recorded meanwhile is answered on the next start; the agent is loaded, not retrained.
                agent.send(SIGTERM)
                #expect(try await agent.waitForExit() == .exited(0), "\(agent.output.suffix(2000))")
                let whileDown = UUID()
                _ = try await database.pool.withConnection { connection in
                    try await RatioEventRepository.insert(
                        id: whileDown, change: try RatioChange(modelId: model, targetRatio: 0.3, mode: .dynamic, requestedBy: "it"),
                        on: connection)
                }
                agent = try ServiceProcess.start("agent", environment: environment)
                #expect(try await eventually(within: .seconds(60)) {
                    !policies.messages(containing: whileDown.uuidString.lowercased()).isEmpty
                }, "reconcile answers the event recorded while the agent was down: \(agent.output.suffix(3000))")
                #expect(agent.output.contains("loaded agent version \(version.id.uuidString.lowercased())"))
                #expect(try await database.count("SELECT count(*)::int FROM agent_versions WHERE model_id = \(model)") == 1)

                // Exactly one answer per event, on the topic and in the tables.
                for event in [dynamic.messageId, after.messageId, meanwhile.messageId, searched.messageId, whileDown] {
                    #expect(try Self.answers(event, in: policies, as: PolicyPublished.self).count == 1)
                    #expect(try await database.count("""
                        SELECT count(*)::int FROM ratio_event_outcomes WHERE ratio_event_id = \(event)
                        """) == 1)
                }

                agent.send(SIGTERM)
                #expect(try await agent.waitForExit() == .exited(0), "\(agent.output.suffix(2000))")
            } catch {
                await agent.stop()
                for recorder in recorders { await recorder.stop() }
                await producer.shutdown()
                throw error
            }
            for recorder in recorders { await recorder.stop() }
            await producer.shutdown()
        }
    }

    @Test func aStaticEventWhoseVerificationsNeverArriveIsRejectedAsSearchFailed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ppf-agent-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let modelFile = try Self.writeModel(to: directory)

        try await IsolatedDatabase.with { database in
            try await database.pool.withConnection { try await Migrator(logger: Stack.logger).migrate(on: $0) }
            let model = "it-tiny-\(UUID().uuidString.prefix(8).lowercased())"
            _ = try await Self.storePredictor(model: model, database: database)
            let rejections = try await TopicRecorder(topic: Topic.ratioRejections)
            let progress = try await TopicRecorder(topic: Topic.searchProgress)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let agent = try ServiceProcess.start("agent", environment: [
                "PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers,
                "PPF_CONSUMER_GROUP_PREFIX": "it-\(UUID().uuidString.prefix(8))-", "PPF_HEARTBEAT_SECONDS": "1",
                "PPF_MODEL_ID": model, "PPF_MODEL_DIR": directory.path, "PPF_MODEL_FILE": modelFile,
                "PPF_AGENT_VERIFY_TIMEOUT_SECONDS": "3", "PPF_AGENT_ITERATIONS": "60",
            ])
            do {
                let searched = try Self.ratioEvent(model, 0.3, .static)
                try await Self.send(searched, producer)
                let id = searched.messageId.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(90)) { !rejections.messages(containing: id).isEmpty },
                        "with no evaluator the static event is rejected after the timeout: \(agent.output.suffix(3000))")
                let rejection = try #require(try Self.answers(searched.messageId, in: rejections, as: RatioEventRejected.self).first)
                #expect(rejection.payload.reason == .searchFailed)
                #expect(rejection.payload.message.contains("none of the 3 verification measurements arrived"))
                #expect(try await database.count("""
                    SELECT count(*)::int FROM evaluation_requests WHERE correlation_id = \(searched.messageId)
                    """) == 3, "the default top 3 were sent to the evaluators")
                #expect(try await Self.outcome(searched.messageId, database)?.reason == "search-failed")
                #expect(try await eventually(within: .seconds(10)) {
                    try Self.answers(searched.messageId, in: progress, as: StaticSearchProgress.self).contains { $0.payload.phase == .failed }
                })
                agent.send(SIGTERM)
                #expect(try await agent.waitForExit() == .exited(0), "\(agent.output.suffix(2000))")
            } catch {
                await agent.stop()
                await rejections.stop()
                await progress.stop()
                await producer.shutdown()
                throw error
            }
            await rejections.stop()
            await progress.stop()
            await producer.shutdown()
        }
    }
}
