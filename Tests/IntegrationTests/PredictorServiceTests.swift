import Foundation
import PPFBus
import PPFContracts
import PPFStore
import PPFTestSupport
import Testing

/// The real `predictor` executable against the real broker and database, in
/// an isolated schema: it retrains after K measurements, stores exactly one
/// version, answers prediction requests, and survives bad input.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct PredictorServiceTests {
    /// A tiny 4-block model whose log-perplexity is a known function of the
    /// policy: blocks 0 and 3 are the sensitive ones, MLP costs more than attention.
    static let weights = [1.6, 0.6, 0.8, 1.4]

    static func logPerplexity(_ policy: PruningPolicy) -> Double {
        2.3 + zip(policy.layers, weights).reduce(0) { $0 + $1.1 * (0.6 * $1.0.attentionRatio + 1.0 * $1.0.mlpRatio) }
    }

    /// SplitMix64, so the synthetic policies are the same every run.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Stores `count` measured policies the way the evaluator would (policy,
    /// request, measurement rows, under importance `metric`) and returns the measurement messages.
    static func storeMeasurements(model: String, count: Int, metric: String = "magnitude", database: IsolatedDatabase)
        async throws -> [Envelope<PerplexityMeasurement>] {
        var random = SplitMix(state: 42)
        var envelopes: [Envelope<PerplexityMeasurement>] = []
        for _ in 0..<count {
            let layers = (0..<4).map { _ in
                LayerPolicy(attentionRatio: (Double.random(in: 0...0.7, using: &random) * 100).rounded() / 100,
                            mlpRatio: (Double.random(in: 0...0.7, using: &random) * 100).rounded() / 100)
            }
            let policy = PruningPolicy(layers: layers)
            let correlation = UUID()
            let measurement = try await database.pool.withTransaction { connection in
                let stored = try await PolicyRepository.store(policy, modelId: model, source: "sampler",
                                                              correlationId: correlation, on: connection).record
                let request = try EvaluationRequest(
                    requestId: UUID(), modelId: model, policyId: stored.id, policy: policy, metric: metric,
                    split: "validation", tokenBudget: 256, window: 64, reason: .bootstrap)
                try await EvaluationRequestRepository.insert(request, correlationId: correlation, on: connection)
                let nll = Self.logPerplexity(policy)
                let measurement = try PerplexityMeasurement(
                    requestId: request.requestId, policyId: stored.id, modelId: model, split: "validation",
                    tokenBudget: 256, window: 64, nll: nll, perplexity: exp(nll), tokensCounted: 252, seconds: 0.01,
                    evaluatorId: "it", engineVersion: "test", achievedRatio: 0.3)
                _ = try await MeasurementRepository.insert(measurement, on: connection)
                return measurement
            }
            envelopes.append(Envelope(correlationId: correlation, producer: "it/measurements", payload: measurement))
        }
        return envelopes
    }

    static func request(_ policies: [PruningPolicy], model: String) throws -> Envelope<PredictionRequest> {
        let payload = try PredictionRequest(requestId: UUID(), modelId: model, policies: policies)
        return Envelope(correlationId: UUID(), producer: "it/asker", payload: payload)
    }

    /// Waits for the reply to `request` and decodes it.
    static func reply(to request: Envelope<PredictionRequest>, in recorder: TopicRecorder,
                      within limit: Duration = .seconds(20)) async throws -> Envelope<PredictionReply> {
        let id = request.payload.requestId.uuidString.lowercased()
        guard try await eventually(within: limit, { !recorder.messages(containing: id).isEmpty }),
              let message = recorder.messages(containing: id).first else {
            throw TestSetupError("no prediction reply for request \(id) within \(limit)")
        }
        return try Envelope<PredictionReply>.decode(message.value)
    }

    @Test func theServiceTrainsOnceAfterKMeasurementsAnswersPredictionsAndSurvivesBadInput() async throws {
        try await IsolatedDatabase.with { database in
            let model = "it-tiny4-\(UUID().uuidString.prefix(8).lowercased())"
            let replies = try await TopicRecorder(topic: Topic.predictionReplies)
            let versions = try await TopicRecorder(topic: Topic.predictorVersions)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let predictor = try ServiceProcess.start("predictor", environment: [
                "PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers,
                "PPF_CONSUMER_GROUP_PREFIX": "it-\(UUID().uuidString.prefix(8))-",
                "PPF_PREDICTOR_RETRAIN_AFTER": "64", "PPF_HEARTBEAT_SECONDS": "1",
            ])
            do {
                try await predictor.waitForOutput("ready", within: .seconds(40))

                // 1. Eighty measurements stored, then announced: one training once 64 are new.
                let measurements = try await Self.storeMeasurements(model: model, count: 80, database: database)
                for envelope in measurements {
                    try await producer.send(envelope, to: Topic.measurements, key: envelope.payload.policyId.uuidString.lowercased())
                }
                #expect(try await eventually(within: .seconds(60)) {
                    try await database.count("SELECT count(*)::int FROM predictor_versions WHERE model_id = \(model)") >= 1
                }, "a predictor version should appear: \(predictor.output.suffix(3000))")
                // The remaining notifications find nothing new to train on.
                let orphan = try PerplexityMeasurement(
                    requestId: UUID(), policyId: UUID(), modelId: model, split: "validation", tokenBudget: 256, window: 64,
                    nll: 3, perplexity: exp(3), tokensCounted: 252, seconds: 0.01, evaluatorId: "it",
                    engineVersion: "test", achievedRatio: 0.3)
                let orphanEnvelope = Envelope(correlationId: UUID(), producer: "it/measurements", payload: orphan)
                try await producer.send(orphanEnvelope, to: Topic.measurements, key: "orphan")
                let orphanId = orphan.requestId.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(20)) {
                    try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.measurements)
                           AND convert_from(payload, 'UTF8') LIKE \("%" + orphanId + "%") AND reason LIKE '%no measurement row%'
                        """) == 1
                }, "a measurement without its row is dead-lettered with the reason")
                #expect(try await database.count("SELECT count(*)::int FROM predictor_versions WHERE model_id = \(model)") == 1,
                        "exactly one version for 80 measurements with K = 64")

                let row = try await database.pool.withConnection { connection in
                    try #require(try await PredictorVersionRepository.latest(modelId: model, on: connection))
                }
                #expect(row.sampleCount == 80)
                #expect(Set(row.trainingMeasurementIds).count == 80)
                let held = try #require(row.heldOut)
                #expect(held.count == 16)
                #expect(held.kendallTau > 0.8, "held-out τ \(held.kendallTau)")
                #expect(held.mape < 0.08, "held-out MAPE \(held.mape)")
                #expect(!row.artifact.isEmpty)
                let versionId = row.id.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(15)) { !versions.messages(containing: versionId).isEmpty },
                        "the version event is published through the outbox")
                if let training = predictor.output.split(separator: "\n").first(where: { $0.contains("trained predictor") }) {
                    print("predictor log: \(training)")
                }

                // 2. A prediction request is answered by that version, in the right order.
                let policies = [0.15, 0.3, 0.45].map { PruningPolicy.uniform(blocks: 4, attention: $0, mlp: $0) }
                let asked = try Self.request(policies, model: model)
                let sent = ContinuousClock.now
                try await producer.send(asked, to: Topic.predictionRequests, key: asked.payload.requestId.uuidString.lowercased())
                let answer = try await Self.reply(to: asked, in: replies)
                print("prediction reply latency (first request, includes artifact load; 20 ms polling): \(ContinuousClock.now - sent)")
                #expect(answer.correlationId == asked.correlationId)
                #expect(answer.payload.error == nil)
                #expect(answer.payload.predictorVersion == row.id)
                let predicted = answer.payload.predictions.map(\.logPerplexity)
                #expect(predicted.count == 3)
                #expect(predicted == predicted.sorted(), "more pruning predicts higher perplexity: \(predicted)")
                for (policy, prediction) in zip(policies, answer.payload.predictions) {
                    #expect(abs(prediction.logPerplexity - Self.logPerplexity(policy)) < 0.25, "within the training distribution the synthetic function is recovered")
                    #expect(abs(prediction.perplexity - exp(prediction.logPerplexity)) < 1e-9 * prediction.perplexity)
                }

                // 3. Bad input: unknown model and wrong block count get error replies; an unknown schema
                //    version is dead-lettered; the service keeps answering.
                let unknown = try Self.request([policies[0]], model: "no-such-model-\(UUID().uuidString.prefix(6))")
                try await producer.send(unknown, to: Topic.predictionRequests, key: unknown.payload.requestId.uuidString)
                let wrongShape = try Self.request([.uniform(blocks: 8, attention: 0.1, mlp: 0.1)], model: model)
                try await producer.send(wrongShape, to: Topic.predictionRequests, key: wrongShape.payload.requestId.uuidString)
                let future = try Self.request([policies[1]], model: model)
                let garbage = String(decoding: try future.encoded(), as: UTF8.self)
                    .replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":99")
                try await producer.send(topic: Topic.predictionRequests, key: "garbage", value: Array(garbage.utf8))
                let after = try Self.request([policies[2]], model: model)
                let secondSent = ContinuousClock.now
                try await producer.send(after, to: Topic.predictionRequests, key: after.payload.requestId.uuidString)

                let unknownReply = try await Self.reply(to: unknown, in: replies)
                #expect(unknownReply.payload.error?.contains("no predictor version exists") == true)
                #expect(unknownReply.payload.predictions.isEmpty)
                let shapeReply = try await Self.reply(to: wrongShape, in: replies)
                #expect(shapeReply.payload.error?.contains("8 layers") == true, "\(shapeReply.payload.error ?? "no error")")
                let afterReply = try await Self.reply(to: after, in: replies)
                print("prediction reply latency (cached predictor, behind 3 other requests): \(ContinuousClock.now - secondSent)")
                #expect(afterReply.payload.predictions.count == 1)
                let futureId = future.messageId.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(10)) {
                    try await database.count("""
                        SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.predictionRequests)
                           AND convert_from(payload, 'UTF8') LIKE \("%" + futureId + "%") AND reason LIKE '%schema version 99%'
                        """) == 1
                })
                #expect(replies.messages(containing: future.payload.requestId.uuidString.lowercased()).isEmpty,
                        "a dead-lettered request gets no reply")

                // 4. A command retrains now, and the version carries the command's correlation id.
                let command = Envelope(correlationId: UUID(), producer: "it/cli",
                                       payload: try PredictorCommand(modelId: model, action: .train, requestedBy: "it"))
                try await producer.send(command, to: Topic.predictorCommands, key: model)
                #expect(try await eventually(within: .seconds(60)) {
                    try await database.count("SELECT count(*)::int FROM predictor_versions WHERE model_id = \(model)") == 2
                })
                #expect(try await database.count("""
                    SELECT count(*)::int FROM predictor_versions WHERE model_id = \(model) AND correlation_id = \(command.correlationId)
                    """) == 1)

                predictor.send(SIGTERM)
                #expect(try await predictor.waitForExit() == .exited(0), "\(predictor.output.suffix(2000))")
            } catch {
                await predictor.stop()
                await replies.stop()
                await versions.stop()
                await producer.shutdown()
                throw error
            }
            await replies.stop()
            await versions.stop()
            await producer.shutdown()
        }
    }
}
