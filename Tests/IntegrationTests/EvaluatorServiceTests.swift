import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// The real `evaluator` executable on the real SmolLM2-135M against the real
/// broker and database, in an isolated schema: one request delivered twice is
/// measured once, bad requests (garbage, another model, an unknown split, a
/// policy of the wrong length, an unknown schema version, a
/// forged policy under a real request id) are dead-lettered
/// with their reason, and the service keeps serving the request behind them.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct EvaluatorServiceTests {
    static let modelId = "smollm2-135m"
    static let modelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static var modelDirectory: String { repositoryRoot() + "/.deps/models" }
    static var modelIsPresent: Bool { FileManager.default.fileExists(atPath: modelDirectory + "/" + modelFile) }
    /// SmolLM2-135M's block count.
    static let blocks = 30

    /// Stores the policy and the request row the way an asker does, and returns the request's envelope.
    /// By default magnitude (no calibration) and 256 tokens in windows of 128, to keep a debug build fast.
    static func storeRequest(_ policy: PruningPolicy, modelId: String = modelId, metric: String = "magnitude",
                             window: Int = 128, database: IsolatedDatabase) async throws -> Envelope<EvaluationRequest> {
        let correlation = UUID()
        return try await database.pool.withTransaction { connection in
            let stored = try await PolicyRepository.store(policy, modelId: modelId, source: "it",
                                                          correlationId: correlation, on: connection).record
            let request = try EvaluationRequest(
                requestId: UUID(), modelId: modelId, policyId: stored.id, policy: policy, metric: metric,
                split: "validation", tokenBudget: 256, window: window, reason: .bootstrap)
            try await EvaluationRequestRepository.insert(request, correlationId: correlation, on: connection)
            return Envelope(correlationId: correlation, producer: "it/asker", payload: request)
        }
    }

    /// Dead letters of the request topic whose payload contains `text` and whose reason contains `reason`.
    static func deadLetters(containing text: String, reason: String, in database: IsolatedDatabase) async throws -> Int {
        try await database.count("""
            SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.evaluationRequests)
               AND convert_from(payload, 'UTF8') LIKE \("%" + text + "%") AND reason LIKE \("%" + reason + "%")
            """)
    }

    /// The dense model's perplexity on the same tokens, from `ppf eval` (the reference path).
    static func densePerplexity() async throws -> Double {
        let eval = try ServiceProcess.start("ppf", ["eval", "--split", "validation", "--window", "128", "--tokens", "256",
                                                    "--json", "--model-dir", modelDirectory])
        #expect(try await eval.waitForExit(within: .seconds(60)) == .exited(0), "\(eval.output.suffix(2000))")
        let output = eval.output
        guard let start = output.firstIndex(of: "{"), let end = output.lastIndex(of: "}"),
              let object = try JSONSerialization.jsonObject(with: Data(output[start...end].utf8)) as? [String: Any],
              let perplexity = object["perplexity"] as? Double else {
            throw TestSetupError("`ppf eval --json` printed no perplexity: \(output.suffix(2000))")
        }
        return perplexity
    }

    @Test(.enabled(if: modelIsPresent, "the real model is absent from .deps/models; run `make setup`"))
    func aRequestDeliveredTwiceIsMeasuredOnceAndBadRequestsAreDeadLettered() async throws {
        try await IsolatedDatabase.with { database in
            let measurements = try await TopicRecorder(topic: Topic.measurements)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let evaluator = try ServiceProcess.start("evaluator", environment: [
                "PPF_POSTGRES_URL": database.url, "PPF_KAFKA_BROKERS": Stack.kafkaBrokers,
                "PPF_CONSUMER_GROUP_PREFIX": "it-\(UUID().uuidString.prefix(8))-",
                "PPF_MODEL_DIR": Self.modelDirectory, "PPF_MODEL_ID": Self.modelId, "PPF_MODEL_FILE": Self.modelFile,
                "PPF_HEARTBEAT_SECONDS": "1", "PPF_BLAS_THREADS": "1",
            ])
            do {
                try await evaluator.waitForOutput("model '\(Self.modelId)' loaded", within: .seconds(60))

                // The dense policy's envelope twice; then, on one key (so one partition, in this order),
                // garbage, a request for another model, a policy of the wrong length, an unknown split,
                // an unknown schema version, and last a pruned policy the evaluator must still serve.
                let good = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0, mlp: 0), database: database)
                let key = good.payload.policyId.uuidString.lowercased()
                try await producer.send(good, to: Topic.evaluationRequests, key: key)
                try await producer.send(good, to: Topic.evaluationRequests, key: key)
                let marker = "garbage-\(UUID().uuidString.prefix(8))"
                try await producer.send(topic: Topic.evaluationRequests, key: marker, value: Array("not json \(marker)".utf8))
                var otherModel = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0.3, mlp: 0.3),
                                                             database: database)
                otherModel.payload.modelId = "no-such-model"
                try await producer.send(otherModel, to: Topic.evaluationRequests, key: marker)
                var wrongLength = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0.4, mlp: 0.4),
                                                              database: database)
                wrongLength.payload.policy = .uniform(blocks: 8, attention: 0.4, mlp: 0.4)
                try await producer.send(wrongLength, to: Topic.evaluationRequests, key: marker)
                var unknownSplit = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0.2, mlp: 0.2),
                                                               database: database)
                unknownSplit.payload.split = "wiki.train"
                try await producer.send(unknownSplit, to: Topic.evaluationRequests, key: marker)
                let future = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0.1, mlp: 0.2),
                                                         database: database)
                let futureBytes = String(decoding: try future.encoded(), as: UTF8.self)
                    .replacingOccurrences(of: "\"schemaVersion\":\(EvaluationRequest.schemaVersion)", with: "\"schemaVersion\":99")
                #expect(futureBytes.contains("\"schemaVersion\":99"))
                try await producer.send(topic: Topic.evaluationRequests, key: marker, value: Array(futureBytes.utf8))
                // A token budget past 2³¹ would fail the measurement's insert after a full
                // measurement, on every redelivery: it is refused at the boundary.
                var hugeBudget = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0.1, mlp: 0.1),
                                                             database: database)
                hugeBudget.payload.tokenBudget = 1 << 31
                try await producer.send(hugeBudget, to: Topic.evaluationRequests, key: marker)
                // A real request id with another policy (forged or corrupt) is not measured under the stored id.
                var forged = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0.15, mlp: 0.15),
                                                         database: database)
                forged.payload.policy = .uniform(blocks: Self.blocks, attention: 0.6, mlp: 0.6)
                try await producer.send(forged, to: Topic.evaluationRequests, key: marker)
                let pruned = try await Self.storeRequest(.uniform(blocks: Self.blocks, attention: 0, mlp: 0.1),
                                                         database: database)
                try await producer.send(pruned, to: Topic.evaluationRequests, key: marker)

                let requestId = good.payload.requestId
                let prunedId = pruned.payload.requestId
                #expect(try await eventually(within: .seconds(90)) {
                    try await database.count("SELECT count(*)::int FROM measurements") == 2
                }, "both requests should be measured: \(evaluator.output.suffix(3000))")
                let otherId = otherModel.messageId.uuidString.lowercased()
                let wrongId = wrongLength.messageId.uuidString.lowercased()
                let splitId = unknownSplit.messageId.uuidString.lowercased()
                let futureId = future.messageId.uuidString.lowercased()
                let budgetId = hugeBudget.messageId.uuidString.lowercased()
                let forgedId = forged.messageId.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(20)) {
                    let garbage = try await Self.deadLetters(containing: marker, reason: "", in: database)
                    let other = try await Self.deadLetters(containing: otherId, reason: "not 'no-such-model'", in: database)
                    let wrong = try await Self.deadLetters(containing: wrongId, reason: "has 8 layers", in: database)
                    let split = try await Self.deadLetters(containing: splitId, reason: "unknown split 'wiki.train'", in: database)
                    let schema = try await Self.deadLetters(containing: futureId, reason: "schema version 99", in: database)
                    let budget = try await Self.deadLetters(containing: budgetId, reason: "exceeds the limit", in: database)
                    let forgery = try await Self.deadLetters(containing: forgedId, reason: "differs from its stored row: policy layer 0", in: database)
                    return garbage >= 1 && other == 1 && wrong == 1 && split == 1 && schema == 1 && budget == 1 && forgery == 1
                }, "garbage, another model, a wrong-length policy, an unknown split, an unknown schema version, a huge budget and a forged policy are dead-lettered with reasons: \(evaluator.output.suffix(3000))")
                #expect(try await database.count(
                    "SELECT count(*)::int FROM measurements WHERE request_id = ANY(\([unknownSplit.payload.requestId, future.payload.requestId, forged.payload.requestId]))") == 0)

                let (row, prunedRow) = try await database.pool.withConnection { connection in
                    (try #require(try await MeasurementRepository.find(requestId: requestId, on: connection)),
                     try #require(try await MeasurementRepository.find(requestId: prunedId, on: connection)))
                }
                for measured in [row, prunedRow] {
                    print("evaluator measurement: ppl \(measured.perplexity) on \(measured.tokensCounted) tokens in \(measured.seconds) s, achieved ratio \(measured.achievedRatio), engine \(measured.engineVersion)")
                    #expect(abs(measured.nll - log(measured.perplexity)) < 1e-9)
                    #expect(measured.tokensCounted == 254, "two windows of 128 tokens predict 127 each")
                }
                let dense = try await Self.densePerplexity()
                #expect(abs(row.perplexity - dense) < 1e-6 * dense, "the dense policy measures what `ppf eval` does: \(row.perplexity) vs \(dense)")
                #expect(row.achievedRatio == 0)
                #expect(prunedRow.perplexity.isFinite && prunedRow.perplexity > dense, "pruning costs perplexity: \(prunedRow.perplexity)")
                #expect(prunedRow.achievedRatio > 0.03 && prunedRow.achievedRatio < 0.1, "ratio \(prunedRow.achievedRatio)")
                let policyRatio = try await database.pool.withConnection { connection in
                    try await PolicyRepository.find(id: pruned.payload.policyId, on: connection)?.achievedRatio
                }
                #expect(policyRatio == prunedRow.achievedRatio, "the policy records the achieved ratio")

                let id = requestId.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(15)) { !measurements.messages(containing: id).isEmpty },
                        "the measurement is published through the outbox")
                if let message = measurements.messages(containing: id).first {
                    let published = try Envelope<PerplexityMeasurement>.decode(message.value)
                    #expect(published.correlationId == good.correlationId)
                    #expect(published.payload.perplexity == row.perplexity)   // exact: one measurement, two copies
                    #expect(message.keyString == key)
                }
                // The duplicate was handled by now (it follows the first on the same partition).
                #expect(try await eventually(within: .seconds(10)) { evaluator.output.contains("skipping request \(id)") })
                #expect(try await database.count("SELECT count(*)::int FROM measurements WHERE request_id = \(requestId)") == 1,
                        "one measurement for the request delivered twice")
                #expect(try await eventually(within: .seconds(5)) {
                    try await database.count("""
                        SELECT count(*)::int FROM service_instances
                         WHERE service = 'evaluator' AND details->>'model' = \(Self.modelId) AND details->>'measured' = '2'
                        """) == 1
                }, "heartbeats name the model and count the measurements")

                evaluator.send(SIGTERM)
                #expect(try await evaluator.waitForExit() == .exited(0), "the service was still running: \(evaluator.output.suffix(2000))")
            } catch {
                await evaluator.stop()
                await measurements.stop()
                await producer.shutdown()
                throw error
            }
            await measurements.stop()
            await producer.shutdown()
        }
    }
}
