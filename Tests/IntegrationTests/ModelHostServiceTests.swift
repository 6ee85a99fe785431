import Foundation
import PPFBus
import PPFContracts
import PPFStore
import PPFTestSupport
import Testing

/// The real `model-host` (with the real `pruner` upstream) on a tiny random
/// model against the real broker and database, in an isolated schema: it
/// answers inference requests with the version serving, swaps to a new plan
/// while a stream of requests runs without failing or dropping one, restores
/// the newest plan after a restart, and dead-letters garbage while it keeps
/// serving.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct ModelHostServiceTests {
    static let text = TinyModel.text(words: 40, seed: 99)

    static func request(_ task: InferenceTask, model: TinyModel) throws -> Envelope<InferenceRequest> {
        let payload = try InferenceRequest(requestId: UUID(), modelId: model.modelId, task: task)
        return Envelope(correlationId: UUID(), producer: "it/asker", payload: payload)
    }

    static func send(_ request: Envelope<InferenceRequest>, with producer: KafkaProducer) async throws {
        try await producer.send(request, to: Topic.inferenceRequests, key: request.payload.requestId.uuidString.lowercased())
    }

    /// The reply to `request`, once it arrived.
    static func reply(to request: Envelope<InferenceRequest>, in recorder: TopicRecorder) throws -> Envelope<InferenceReply>? {
        guard let message = recorder.messages(containing: request.payload.requestId.uuidString.lowercased()).first else { return nil }
        return try Envelope<InferenceReply>.decode(message.value)
    }

    /// Waits for the reply to `request`.
    static func awaitReply(to request: Envelope<InferenceRequest>, in recorder: TopicRecorder,
                           within limit: Duration = .seconds(30)) async throws -> Envelope<InferenceReply> {
        guard try await eventually(within: limit, { try reply(to: request, in: recorder) != nil }),
              let reply = try reply(to: request, in: recorder) else {
            throw TestSetupError("no inference reply for request \(request.payload.requestId.uuidString.lowercased()) within \(limit)")
        }
        return reply
    }

    static func perplexity(of reply: InferenceReply) -> Double? {
        if case .perplexity(_, let value, _) = reply.result { return value }
        return nil
    }

    @Test func requestsAreAnsweredAcrossAHotSwapWithoutADropAndARestartRestoresThePlan() async throws {
        let model = try TinyModel.make()
        defer { model.remove() }
        try await IsolatedDatabase.with { database in
            let replies = try await TopicRecorder(topic: Topic.inferenceReplies)
            let statuses = try await TopicRecorder(topic: Topic.modelHostStatus)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let environment = model.environment(database: database, groupPrefix: "it-\(UUID().uuidString.prefix(8))-")
            let pruner = try ServiceProcess.start("pruner", environment: environment)
            let host = try ServiceProcess.start("model-host", environment: environment)
            var restarted: ServiceProcess?
            do {
                try await host.waitForOutput("serving '\(model.modelId)' as dense", within: .seconds(60))
                try await pruner.waitForOutput("reconciled: every published policy", within: .seconds(60))

                // 1. The dense model answers both kinds of request.
                let perplexity = try Self.request(.perplexity(text: Self.text), model: model)
                let generate = try Self.request(.generate(prompt: "the model prunes", maxTokens: 12), model: model)
                try await Self.send(perplexity, with: producer)
                try await Self.send(generate, with: producer)
                let dense = try await Self.awaitReply(to: perplexity, in: replies)
                #expect(dense.correlationId == perplexity.correlationId)
                #expect(dense.payload.modelVersion == ModelVersion.dense && dense.payload.error == nil)
                let densePerplexity = try #require(Self.perplexity(of: dense.payload))
                #expect(densePerplexity.isFinite && densePerplexity > 1)
                let generated = try await Self.awaitReply(to: generate, in: replies)
                guard case .generation(_, let promptTokens, let generatedTokens) = generated.payload.result else {
                    Issue.record("expected a generation, got \(generated.payload)")
                    return
                }
                #expect(promptTokens > 0 && (1...12).contains(generatedTokens))

                // 2. A stream of requests while a policy goes through the pruner to this host.
                let stored = try await Serving.storePolicy(.uniform(blocks: TinyModel.blocks, attention: 0.5, mlp: 0.5),
                                                           ratio: 0.5, model: model.modelId, database: database)
                var sent: [(request: Envelope<InferenceRequest>, at: Date)] = []
                var swappedAt: Date?
                var sentAfterSwap = 0
                while sentAfterSwap < 10 && sent.count < 400 {
                    let request = try Self.request(.perplexity(text: Self.text), model: model)
                    sent.append((request, Date()))
                    try await Self.send(request, with: producer)
                    if sent.count == 10 {
                        // FLAP: the host must also get the calibration statistics for the bias compensation.
                        try await producer.send(try Serving.announcement(stored.policy, event: stored.event, ratio: 0.5, metric: "flap"),
                                                to: Topic.prunedPolicies, key: model.modelId)
                    }
                    if swappedAt == nil {
                        swappedAt = try await database.pool.withConnection { connection in
                            try await ModelVersionRepository.history(modelId: model.modelId, on: connection)
                                .first { $0.planId != nil }?.servedFrom
                        }
                    } else {
                        sentAfterSwap += 1
                    }
                    try await Task.sleep(for: .milliseconds(40))
                }
                let swap = try #require(swappedAt, "no swap within \(sent.count) requests: \(host.output.suffix(3000))")
                let plan = try #require(try await database.pool.withConnection {
                    try await PlanRepository.find(ratioEventId: stored.event, on: $0)
                })
                #expect(plan.metric == "flap" && plan.plan.contains("biasCompensation"))
                let pruned = ModelVersion.plan(plan.id)
                let stream = sent.map(\.request)
                #expect(try await eventually(within: .seconds(60)) {
                    try stream.allSatisfy { try Self.reply(to: $0, in: replies) != nil }
                }, "every request of the stream is answered: \(host.output.suffix(3000))")
                var versions: [String] = []
                var perplexities: [String: Set<Double>] = [:]
                for (request, at) in sent {
                    let reply = try #require(try Self.reply(to: request, in: replies)).payload
                    #expect(reply.error == nil, "\(reply.error ?? "")")
                    versions.append(reply.modelVersion)
                    perplexities[reply.modelVersion, default: []].insert(Self.perplexity(of: reply) ?? .nan)
                    if at > swap { #expect(reply.modelVersion == pruned, "a request sent after the swap is answered by the new version") }
                }
                print("model-host hot swap: \(sent.count) requests, \(versions.filter { $0 == ModelVersion.dense }.count) answered by dense, \(versions.filter { $0 == pruned }.count) by plan \(pruned)")
                #expect(Set(versions) == [ModelVersion.dense, pruned], "answers come from the old version, then the new one: \(Set(versions))")
                // In the order the host answered (not the order sent: requests spread over partitions).
                let answered = try await database.pool.withConnection { connection in
                    try await connection.query("""
                        SELECT model_version FROM inference_log WHERE model_id = \(model.modelId) ORDER BY created_at
                        """).decode(String.self)
                }
                #expect(answered.firstIndex(of: pruned).map { answered[$0...].allSatisfy { $0 == pruned } } == true,
                        "once the new version answers, the old one no longer does: \(answered)")
                // Exact: the same text through the same model in the same host process (same shapes).
                #expect(perplexities[ModelVersion.dense] == [densePerplexity], "the dense model is deterministic")
                let prunedPerplexity = try #require(perplexities[pruned]?.first)
                #expect(perplexities[pruned]?.count == 1 && prunedPerplexity != densePerplexity,
                        "the pruned model computes something else: \(prunedPerplexity) vs \(densePerplexity)")
                #expect(try await database.count("""
                    SELECT count(*)::int FROM inference_log WHERE model_id = \(model.modelId)
                    """) == sent.count + 2, "every answer is logged once")

                // The swap is recorded and announced; heartbeats say what serves.
                let history = try await database.pool.withConnection {
                    try await ModelVersionRepository.history(modelId: model.modelId, on: $0)
                }
                #expect(history.map(\.version) == [ModelVersion.dense, pruned] && history.map(\.swapNumber) == [0, 1])
                #expect(history.first?.servedUntil != nil && history.last?.servedUntil == nil)
                let instance = try #require(history.last?.instanceId)
                #expect(try await eventually(within: .seconds(15)) {
                    statuses.messages(containing: instance).contains { message in
                        (try? Envelope<ModelHostStatus>.decode(message.value))?.payload.modelVersion == pruned
                    }
                }, "the swap is announced on ppf.model-host-status")
                #expect(try await eventually(within: .seconds(5)) {
                    try await database.count("""
                        SELECT count(*)::int FROM service_instances
                         WHERE service = 'model-host' AND details->>'version' = \(pruned) AND details->>'swaps' = '1'
                        """) == 1
                }, "heartbeats carry the version serving")

                // 3. A restarted host restores the newest plan before it answers.
                host.send(SIGTERM)
                #expect(try await host.waitForExit() == .exited(0), "\(host.output.suffix(2000))")
                let again = try ServiceProcess.start("model-host", environment: environment)
                restarted = again
                try await again.waitForOutput("serving '\(model.modelId)' as \(pruned)", within: .seconds(60))
                #expect(again.output.contains("restored the newest plan \(pruned)"))
                let after = try Self.request(.perplexity(text: Self.text), model: model)
                try await Self.send(after, with: producer)
                let restoredReply = try await Self.awaitReply(to: after, in: replies)
                #expect(restoredReply.payload.modelVersion == pruned)
                // Exact: the same plan rebuilt by the same code on the same machine, with the same
                // environment (so the same OpenBLAS threads), answering the same text.
                #expect(Self.perplexity(of: restoredReply.payload) == prunedPerplexity, "the restored model is the same pruned model")

                for process in [again, pruner] {
                    process.send(SIGTERM)
                    #expect(try await process.waitForExit() == .exited(0), "\(process.output.suffix(2000))")
                }
            } catch {
                for process in [host, pruner] + (restarted.map { [$0] } ?? []) { await process.stop() }
                await replies.stop()
                await statuses.stop()
                await producer.shutdown()
                throw error
            }
            await replies.stop()
            await statuses.stop()
            await producer.shutdown()
        }
    }

    @Test func garbageOnRequestsAndPlansIsDeadLetteredAndTheHostKeepsServing() async throws {
        let model = try TinyModel.make()
        defer { model.remove() }
        try await IsolatedDatabase.with { database in
            let replies = try await TopicRecorder(topic: Topic.inferenceReplies)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let host = try ServiceProcess.start(
                "model-host", environment: model.environment(database: database, groupPrefix: "it-\(UUID().uuidString.prefix(8))-"))
            do {
                try await host.waitForOutput("serving '\(model.modelId)' as dense", within: .seconds(60))

                // Requests: not JSON, a future schema, over the token limit, another deployment's,
                // and one the model cannot fit (an error reply, not a dead letter).
                let marker = "garbage-\(UUID().uuidString.prefix(8))"
                try await producer.send(topic: Topic.inferenceRequests, key: marker, value: Array("{\"not json \(marker)".utf8))
                let future = try Self.request(.perplexity(text: "x y"), model: model)
                try await producer.send(topic: Topic.inferenceRequests, key: marker, value: try Serving.futureVersion(of: future))
                var tooLong = try Self.request(.generate(prompt: "hi", maxTokens: 4), model: model)
                tooLong.payload.task = .generate(prompt: "hi", maxTokens: 100_000)
                try await Self.send(tooLong, with: producer)
                var elsewhere = try Self.request(.perplexity(text: Self.text), model: model)
                elsewhere.payload.modelId = "another-deployment"
                try await Self.send(elsewhere, with: producer)
                let unfit = try Self.request(.generate(prompt: TinyModel.text(words: 60, seed: 5), maxTokens: 100), model: model)
                try await Self.send(unfit, with: producer)

                // Plans: not JSON, a future schema, the wrong block count, and an announcement without its row.
                let stored = try await Serving.storePolicy(.uniform(blocks: TinyModel.blocks, attention: 0.5, mlp: 0.5),
                                                           ratio: 0.5, model: model.modelId, database: database)
                let layer = PlannedLayer(dropped: false, queryHeads: 2, keyValueGroups: 1, channels: 64)
                let announced = try PlanPublished(
                    planId: UUID(), ratioEventId: stored.event, policyId: stored.policy.id, modelId: model.modelId,
                    metric: "magnitude", targetRatio: 0.5, achievedRatio: 0.5, keptParameters: 50, totalParameters: 100,
                    layers: Array(repeating: layer, count: TinyModel.blocks))
                try await producer.send(topic: Topic.plans, key: marker, value: Array("not json \(marker)".utf8))
                let futurePlan = Envelope(correlationId: stored.event, producer: "it/pruner", payload: announced)
                try await producer.send(topic: Topic.plans, key: model.modelId, value: try Serving.futureVersion(of: futurePlan))
                var wrongLength = Envelope(correlationId: stored.event, producer: "it/pruner", payload: announced)
                wrongLength.payload.layers = Array(repeating: layer, count: 8)
                try await producer.send(wrongLength, to: Topic.plans, key: model.modelId)
                let missing = Envelope(correlationId: stored.event, producer: "it/pruner", payload: announced)
                try await producer.send(missing, to: Topic.plans, key: model.modelId)

                // Still serving the dense model after all of it.
                let good = try Self.request(.perplexity(text: Self.text), model: model)
                try await Self.send(good, with: producer)
                let answer = try await Self.awaitReply(to: good, in: replies)
                #expect(answer.payload.error == nil && answer.payload.modelVersion == ModelVersion.dense)
                let unfitReply = try await Self.awaitReply(to: unfit, in: replies)
                #expect(unfitReply.payload.result == nil)
                #expect(unfitReply.payload.error?.contains("do not fit the context of 256") == true, "\(unfitReply.payload)")

                let expected: [(String, String, String, String)] = [
                    ("request garbage", Topic.inferenceRequests, marker, "malformed message"),
                    ("request schema", Topic.inferenceRequests, future.messageId.uuidString.lowercased(), "unsupported schema version 99"),
                    ("request limit", Topic.inferenceRequests, tooLong.messageId.uuidString.lowercased(), "maxTokens must lie in 1...512"),
                    ("plan garbage", Topic.plans, marker, "malformed message"),
                    ("plan schema", Topic.plans, futurePlan.messageId.uuidString.lowercased(), "unsupported schema version 99"),
                    ("plan length", Topic.plans, wrongLength.messageId.uuidString.lowercased(), "the plan has 8 layers but '\(model.modelId)' has 4 blocks"),
                    ("plan row", Topic.plans, missing.messageId.uuidString.lowercased(), "no plans row"),
                ]
                #expect(try await eventually(within: .seconds(20)) {
                    for (_, topic, text, reason) in expected
                        where try await Serving.deadLetters(on: topic, containing: text, reason: reason, in: database) != 1 {
                        return false
                    }
                    return true
                }, "each bad input is dead-lettered once with its reason: \(host.output.suffix(3000))")
                for (name, topic, text, reason) in expected {
                    #expect(try await Serving.deadLetters(on: topic, containing: text, reason: reason, in: database) == 1, "\(name)")
                }
                #expect(try Self.reply(to: elsewhere, in: replies) == nil, "another deployment's request is left to its hosts")
                #expect(try Self.reply(to: tooLong, in: replies) == nil, "a dead-lettered request gets no reply")
                #expect(try await database.count("SELECT count(*)::int FROM model_versions") == 1, "no swap happened")

                // `ppf infer` asks the same host and prints the answer, the version and the latency.
                let cli = ["PPF_KAFKA_BROKERS": Stack.kafkaBrokers]
                let ask = try ServiceProcess.start("ppf", ["infer", "perplexity", "--text", Self.text, "--model", model.modelId,
                                                           "--timeout", "60"], environment: cli)
                #expect(try await ask.waitForExit(within: .seconds(90)) == .exited(0), "\(ask.output.suffix(2000))")
                let densePerplexity = try #require(Self.perplexity(of: answer.payload))
                #expect(ask.output.contains(String(format: "perplexity  %.4f", densePerplexity)), "\(ask.output)")
                #expect(ask.output.contains("version dense") && ask.output.contains("s round trip"), "\(ask.output)")
                let continuation = try ServiceProcess.start("ppf", ["infer", "generate", "--prompt", "the model", "--max-tokens", "5",
                                                                    "--model", model.modelId], environment: cli)
                #expect(try await continuation.waitForExit(within: .seconds(90)) == .exited(0), "\(continuation.output.suffix(2000))")
                #expect(continuation.output.contains("generated") && continuation.output.contains("version dense"),
                        "\(continuation.output)")
                let refused = try ServiceProcess.start("ppf", ["infer", "generate", "--prompt", "x", "--max-tokens", "0",
                                                               "--model", model.modelId], environment: cli)
                #expect(try await refused.waitForExit(within: .seconds(30)) == .exited(1), "\(refused.output.suffix(2000))")
                #expect(refused.output.contains("maxTokens must lie in 1...512"), "\(refused.output)")

                host.send(SIGTERM)
                #expect(try await host.waitForExit() == .exited(0), "the service was still running: \(host.output.suffix(2000))")
            } catch {
                await host.stop()
                await replies.stop()
                await producer.shutdown()
                throw error
            }
            await replies.stop()
            await producer.shutdown()
        }
    }
}
