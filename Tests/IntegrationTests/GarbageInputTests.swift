import Foundation
import PPFBus
import PPFContracts
import PPFStore
import PPFTestSupport
import Testing

/// Garbage on every topic a service consumes, with all five services running
/// on the tiny model: each malformed message, unknown schema version and
/// absurd value is dead-lettered with its reason (a `dead_letters` row), and
/// every service keeps serving: the good message sent after the garbage, on
/// the same partition, is processed. (`ppf.agent-versions` has no consumer.)
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(4))), .tags(.slow)) struct GarbageInputTests {
    /// Three bad messages for one topic, and how each must be dead-lettered.
    struct Garbage {
        let topic: String
        let key: String
        /// The message bytes, a text found in them, and a text of the reason.
        let messages: [(bytes: [UInt8], marker: String, reason: String)]
    }

    /// Not JSON, schema version 99, and `absurd` (which the consumer's checks refuse with `reason`).
    static func garbage<Payload: MessagePayload>(_ topic: String, key: String, absurd: Envelope<Payload>,
                                                 reason: String, future: Envelope<Payload>) throws -> Garbage {
        let marker = "garbage-\(UUID().uuidString.prefix(8))"
        let bytes = try future.encoded()
        let futureBytes = try Serving.futureVersion(of: future)
        #expect(futureBytes != bytes, "the schema version is replaced")
        return Garbage(topic: topic, key: key, messages: [
            (Array("{not json \(marker)".utf8), marker, "malformed message"),
            (futureBytes, future.messageId.uuidString.lowercased(), "unsupported schema version 99"),
            (try absurd.encoded(), absurd.messageId.uuidString.lowercased(), reason),
        ])
    }

    static func envelope<Payload: MessagePayload>(_ payload: Payload) -> Envelope<Payload> {
        Envelope(correlationId: UUID(), producer: "it/garbage", payload: payload)
    }

    @Test func garbageOnEveryInputTopicIsDeadLetteredWithItsReasonAndEveryServiceKeepsServing() async throws {
        try await RunTimeStack.with { stack in
            let model = stack.model
            let modelId = model.modelId
            let database = stack.database
            // Each measurement of the model (the request below, the agent's spot checks) retrains the
            // predictor, and each new predictor version retrains the agent.
            let pruner = try stack.start("pruner")
            let agent = try await stack.startAgent()
            let host = try stack.start("model-host")
            let evaluator = try stack.start("evaluator")
            let predictor = try stack.start("predictor", ["PPF_PREDICTOR_RETRAIN_AFTER": "1"])
            try await host.waitForOutput("serving '\(modelId)' as dense", within: .seconds(60))
            try await evaluator.waitForOutput("model '\(modelId)' loaded", within: .seconds(60))
            try await predictor.waitForOutput("ready", within: .seconds(60))
            try await pruner.waitForOutput("reconciled: every published policy", within: .seconds(60))

            let inferenceReplies = try await stack.recorder(Topic.inferenceReplies)
            let predictionReplies = try await stack.recorder(Topic.predictionReplies)
            let producer = try stack.producer()
            do {
                // MARK: Garbage, three per topic, on the key the good message follows on.
                let policy = PruningPolicy.uniform(blocks: TinyModel.blocks, attention: 0.5, mlp: 0.25)
                let stored = try await Serving.storePolicy(policy, ratio: 0.3, model: modelId, database: database)
                var ratio = try AgentServiceTests.ratioEvent(modelId, 0.3)
                ratio.payload.targetRatio = 1.5
                var version = Self.envelope(PredictorVersionPublished(modelId: modelId, versionId: UUID(), sampleCount: 60,
                                                                      heldOut: nil, trainingSeconds: 1))
                version.payload.sampleCount = -3
                var announced = try Serving.announcement(stored.policy, event: stored.event, ratio: 0.3)
                announced.payload.targetRatio = 3
                let layer = PlannedLayer(dropped: false, queryHeads: 2, keyValueGroups: 1, channels: 64)
                var plan = Self.envelope(try PlanPublished(
                    planId: UUID(), ratioEventId: stored.event, policyId: stored.policy.id, modelId: modelId,
                    metric: "magnitude", targetRatio: 0.5, achievedRatio: 0.5, keptParameters: 50, totalParameters: 100,
                    layers: Array(repeating: layer, count: TinyModel.blocks)))
                plan.payload.keptParameters = 500
                var inference = try ModelHostServiceTests.request(.generate(prompt: "hi", maxTokens: 4), model: model)
                inference.payload.task = .generate(prompt: "hi", maxTokens: 100_000)
                var evaluation = Self.envelope(try EvaluationRequest(
                    requestId: UUID(), modelId: modelId, policyId: stored.policy.id, policy: policy, metric: "flap",
                    split: "validation", tokenBudget: 256, window: 64, reason: .bootstrap))
                evaluation.payload.tokenBudget = -5
                var measurement = Self.envelope(try PerplexityMeasurement(
                    requestId: UUID(), policyId: stored.policy.id, modelId: modelId, split: "validation", tokenBudget: 256,
                    window: 64, nll: 3, perplexity: exp(3), tokensCounted: 252, seconds: 1, evaluatorId: "it",
                    engineVersion: "test", achievedRatio: 0.3))
                measurement.payload.perplexity = -1
                var command = Self.envelope(try PredictorCommand(modelId: modelId, action: .train, requestedBy: "it"))
                command.payload.modelId = ""
                var prediction = try PredictorServiceTests.request([policy], model: modelId)
                prediction.payload.policies = []

                let requestKey = "garbage-requests"
                let all = [
                    try Self.garbage(Topic.ratioEvents, key: modelId, absurd: ratio, reason: "target ratio 1.5 is outside [0, 1)",
                                     future: try AgentServiceTests.ratioEvent(modelId, 0.3)),
                    try Self.garbage(Topic.predictorVersions, key: modelId, absurd: version,
                                     reason: "sample count -3 must be positive",
                                     future: Self.envelope(PredictorVersionPublished(modelId: modelId, versionId: UUID(), sampleCount: 60,
                                                                                     heldOut: nil, trainingSeconds: 1))),
                    try Self.garbage(Topic.prunedPolicies, key: modelId, absurd: announced, reason: "target ratio 3.0 is outside [0, 1)",
                                     future: try Serving.announcement(stored.policy, event: stored.event, ratio: 0.3)),
                    try Self.garbage(Topic.plans, key: modelId, absurd: plan, reason: "kept parameters 500 must lie in 0...100",
                                     future: Self.envelope(plan.payload)),
                    try Self.garbage(Topic.inferenceRequests, key: requestKey, absurd: inference,
                                     reason: "maxTokens must lie in 1...512",
                                     future: try ModelHostServiceTests.request(.perplexity(text: "x y"), model: model)),
                    try Self.garbage(Topic.evaluationRequests, key: requestKey, absurd: evaluation,
                                     reason: "token budget -5 must be positive", future: Self.envelope(evaluation.payload)),
                    try Self.garbage(Topic.measurements, key: requestKey, absurd: measurement,
                                     reason: "perplexity -1.0 must be a positive finite number",
                                     future: Self.envelope(measurement.payload)),
                    try Self.garbage(Topic.predictorCommands, key: modelId, absurd: command, reason: "model id is empty",
                                     future: Self.envelope(try PredictorCommand(modelId: modelId, action: .train, requestedBy: "it"))),
                    try Self.garbage(Topic.predictionRequests, key: requestKey, absurd: prediction,
                                     reason: "a prediction request carries 1...4096 policies, got 0",
                                     future: try PredictorServiceTests.request([policy], model: modelId)),
                ]
                for topic in all {
                    for message in topic.messages {
                        try await producer.send(topic: topic.topic, key: topic.key, value: message.bytes)
                    }
                }

                // MARK: Good messages, behind the garbage.
                let event = try await stack.emit([0.35])
                let question = try ModelHostServiceTests.request(.perplexity(text: ModelHostServiceTests.text), model: model)
                try await producer.send(question, to: Topic.inferenceRequests, key: requestKey)
                // In the regime of the stored predictor (flap, 256 tokens in windows of 64), so it trains on it.
                let request = try await EvaluatorServiceTests.storeRequest(policy, modelId: modelId, metric: "flap", window: 64,
                                                                           database: database)
                try await producer.send(request, to: Topic.evaluationRequests, key: requestKey)
                let nobody = "it-unmeasured-\(UUID().uuidString.prefix(8).lowercased())"
                let train = Self.envelope(try PredictorCommand(modelId: nobody, action: .train, requestedBy: "it"))
                try await producer.send(train, to: Topic.predictorCommands, key: modelId)
                let asked = try PredictorServiceTests.request([policy], model: modelId)
                try await producer.send(asked, to: Topic.predictionRequests, key: requestKey)

                // MARK: Every bad message is dead-lettered once, with its reason.
                #expect(try await eventually(within: .seconds(60)) {
                    for topic in all {
                        for message in topic.messages where try await Serving.deadLetters(
                            on: topic.topic, containing: message.marker, reason: message.reason, in: database) != 1 {
                            return false
                        }
                    }
                    return true
                }, "every bad message is dead-lettered with its reason")
                for topic in all {
                    for message in topic.messages {
                        #expect(try await Serving.deadLetters(on: topic.topic, containing: message.marker, reason: message.reason,
                                                               in: database) == 1, "\(topic.topic): \(message.reason)")
                    }
                }

                // MARK: Every service served the good message after its garbage.
                // ratio events → agent, pruned policies → pruner, plans → model-host.
                #expect(try await stack.awaitExactlyOnce(event, planned: true).allSatisfy { $0.isExactlyOnce(planned: true) },
                        "\(agent.output.suffix(2000))\n\(pruner.output.suffix(2000))")
                try await BrokerRestartTests.awaitServingNewestPlan(stack: stack, host: host)
                // inference requests → model-host.
                let answer = try await ModelHostServiceTests.awaitReply(to: question, in: inferenceReplies, within: .seconds(60))
                #expect(answer.payload.error == nil)
                // evaluation requests → evaluator; measurements → predictor (a new version); predictor versions → agent.
                #expect(try await eventually(within: .seconds(120)) {
                    try await database.count("SELECT count(*)::int FROM measurements WHERE request_id = \(request.payload.requestId)") == 1
                }, "the evaluator measures the request behind the garbage: \(evaluator.output.suffix(3000))")
                #expect(try await eventually(within: .seconds(120)) {
                    try await database.count("SELECT count(*)::int FROM predictor_versions WHERE model_id = \(modelId)") >= 2
                }, "the predictor trains on the new measurement: \(predictor.output.suffix(3000))")
                #expect(try await eventually(within: .seconds(120)) {
                    try await database.count("SELECT count(*)::int FROM agent_versions WHERE model_id = \(modelId)") >= 2
                }, "the agent trains against the new predictor version: \(agent.output.suffix(3000))")
                // predictor commands and prediction requests → predictor.
                #expect(try await eventually(within: .seconds(30)) {
                    try await database.count("""
                        SELECT count(*)::int FROM audit_log
                         WHERE action = 'predictor.training-skipped' AND correlation_id = \(train.correlationId)
                        """) == 1
                }, "the command behind the garbage is handled: \(predictor.output.suffix(2000))")
                let reply = try await PredictorServiceTests.reply(to: asked, in: predictionReplies, within: .seconds(30))
                #expect(reply.payload.predictions.count == 1)

                try await stack.stopCleanly(agent, pruner, host, evaluator, predictor)
            } catch {
                await inferenceReplies.stop()
                await predictionReplies.stop()
                await producer.shutdown()
                throw error
            }
            await inferenceReplies.stop()
            await predictionReplies.stop()
            await producer.shutdown()
        }
    }
}
