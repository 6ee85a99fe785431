import Foundation
import PPFBus
import PPFContracts
import PPFModel
import PPFStore
import PPFTestSupport
import Testing

/// The real `pruner` executable on a tiny random model against the real
/// broker and database, in an isolated schema: a policy delivered twice (and
/// re-published) gets one plan and one PlanPublished, a policy whose message
/// was lost is planned on start, and bad policies are dead-lettered with
/// their reason while the pruner keeps planning.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(3)))) struct PrunerServiceTests {
    static func start(_ model: TinyModel, database: IsolatedDatabase, exportFolder: URL? = nil) throws -> ServiceProcess {
        var environment = model.environment(database: database, groupPrefix: "it-\(UUID().uuidString.prefix(8))-")
        if let exportFolder { environment["PPF_PRUNER_EXPORT_DIR"] = exportFolder.path }
        return try ServiceProcess.start("pruner", environment: environment)
    }

    @Test func aPolicyDeliveredTwiceIsPlannedOnceAndALostOneIsPlannedOnStart() async throws {
        let model = try TinyModel.make()
        defer { model.remove() }
        try await IsolatedDatabase.with { database in
            let plans = try await TopicRecorder(topic: Topic.plans)
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            // Started once so the schema exists; then a policy whose announcement was published
            // and lost with the broker (outbox row already marked published): only reconciliation can plan it.
            let first = try Self.start(model, database: database)
            do {
                try await first.waitForOutput("reconciled: every published policy", within: .seconds(60))
                first.send(SIGTERM)
                #expect(try await first.waitForExit() == .exited(0), "\(first.output.suffix(2000))")
            } catch {
                await first.stop()
                await plans.stop()
                await producer.shutdown()
                throw error
            }
            let lost = try await Serving.storePolicy(.uniform(blocks: TinyModel.blocks, attention: 0.25, mlp: 0.3),
                                                     ratio: 0.28, model: model.modelId, database: database)
            try await database.pool.withTransaction { connection in
                let envelope = try Serving.announcement(lost.policy, event: lost.event, ratio: 0.28, metric: "wanda-sp")
                try await Outbox.enqueue(envelope, topic: Topic.prunedPolicies, key: model.modelId, on: connection)
                try await connection.execute("UPDATE outbox SET published_at = now()")
            }
            let exports = model.folder.appendingPathComponent("exports")
            let pruner = try Self.start(model, database: database, exportFolder: exports)
            do {
                #expect(try await eventually(within: .seconds(60)) {
                    try await database.count("SELECT count(*)::int FROM plans WHERE ratio_event_id = \(lost.event)") == 1
                }, "the lost policy is planned on start: \(pruner.output.suffix(3000))")
                // The plan row commits before its log line reaches the log file: wait for the line.
                try await pruner.waitForOutput("reconciliation (outbox)")

                // A policy announced twice with the same message and once more by a re-publishing agent.
                let twice = try await Serving.storePolicy(.uniform(blocks: TinyModel.blocks, attention: 0.5, mlp: 0.5),
                                                          ratio: 0.5, model: model.modelId, database: database)
                let envelope = try Serving.announcement(twice.policy, event: twice.event, ratio: 0.5)
                for message in [envelope, envelope, Envelope(correlationId: twice.event, producer: "it/agent", payload: envelope.payload)] {
                    try await producer.send(message, to: Topic.prunedPolicies, key: model.modelId)
                }
                let event = twice.event.uuidString.lowercased()
                #expect(try await eventually(within: .seconds(30)) {
                    pruner.output.components(separatedBy: "skipping ratio event \(event)").count - 1 == 2
                }, "both repeats are skipped: \(pruner.output.suffix(3000))")
                #expect(try await database.count("SELECT count(*)::int FROM plans WHERE ratio_event_id = \(twice.event)") == 1)
                #expect(try await eventually(within: .seconds(15)) { plans.messages(containing: event).count == 1 })
                try await Task.sleep(for: .seconds(1))
                #expect(plans.messages(containing: event).count == 1, "one PlanPublished for the event, however often it was delivered")

                // The row: kept structures per block, exact counts, the export, the policy's achieved ratio.
                let row = try #require(try await database.pool.withConnection {
                    try await PlanRepository.find(ratioEventId: twice.event, on: $0)
                })
                let message = try #require(plans.messages(containing: event).first)
                let published = try Envelope<PlanPublished>.decode(message.value)
                #expect(published.correlationId == twice.event && message.keyString == model.modelId)
                #expect(published.payload.planId == row.id && published.payload.policyId == twice.policy.id)
                #expect(published.payload.keptParameters == row.keptParameters && published.payload.totalParameters == row.totalParameters)
                #expect(abs(row.achievedRatio - (1 - Double(row.keptParameters) / Double(row.totalParameters))) < 1e-12)
                #expect(row.metric == "magnitude" && row.targetRatio == 0.5)
                let body = try #require(try JSONSerialization.jsonObject(with: Data(row.plan.utf8)) as? [String: Any])
                let layers = try #require(body["layers"] as? [[String: Any]])
                #expect(layers.count == TinyModel.blocks)
                for (layer, summary) in zip(layers, published.payload.layers) {
                    #expect((layer["keptHeads"] as? [Int])?.count == summary.queryHeads)
                    #expect((layer["keptGroups"] as? [Int])?.count == summary.keyValueGroups)
                    #expect((layer["keptChannels"] as? [Int])?.count == summary.channels)
                    #expect(summary.channels == 64, "half of 128 channels removed")
                }
                let policyRatio = try await database.pool.withConnection {
                    try await PolicyRepository.find(id: twice.policy.id, on: $0)?.achievedRatio
                }
                #expect(policyRatio == row.achievedRatio)
                let path = try #require(row.exportPath)
                #expect(published.payload.exportPath == path)
                let exported = try LlamaCheckpoint.load(contentsOf: URL(fileURLWithPath: path))
                #expect(exported.model.configuration.feedForwardLengths == Array(repeating: 64, count: TinyModel.blocks))
                #expect(exported.model.weights.prunableParameterCount == row.keptParameters)

                // The reconciled plan used the metric its announcement named (with calibration).
                let reconciled = try #require(try await database.pool.withConnection {
                    try await PlanRepository.find(ratioEventId: lost.event, on: $0)
                })
                #expect(reconciled.metric == "wanda-sp")
                #expect(try await eventually(within: .seconds(15)) {
                    plans.messages(containing: lost.event.uuidString.lowercased()).count == 1
                }, "the reconciled plan is announced too")
                #expect(try await eventually(within: .seconds(5)) {
                    try await database.count("""
                        SELECT count(*)::int FROM service_instances
                         WHERE service = 'pruner' AND details->>'model' = \(model.modelId) AND details->>'planned' = '2'
                        """) == 1
                }, "heartbeats name the model and count the plans")

                pruner.send(SIGTERM)
                #expect(try await pruner.waitForExit() == .exited(0), "\(pruner.output.suffix(2000))")
            } catch {
                await pruner.stop()
                await plans.stop()
                await producer.shutdown()
                throw error
            }
            await plans.stop()
            await producer.shutdown()
        }
    }

    @Test func badPoliciesAreDeadLetteredWithTheirReasonAndThePrunerKeepsPlanning() async throws {
        let model = try TinyModel.make()
        defer { model.remove() }
        try await IsolatedDatabase.with { database in
            let producer = try KafkaProducer.make(configuration: Stack.kafka, logger: Stack.logger)
            let pruner = try Self.start(model, database: database)
            do {
                try await pruner.waitForOutput("reconciled: every published policy", within: .seconds(60))
                let stored = try await Serving.storePolicy(.uniform(blocks: TinyModel.blocks, attention: 0.25, mlp: 0.25),
                                                           ratio: 0.25, model: model.modelId, database: database)
                let good = try Serving.announcement(stored.policy, event: stored.event, ratio: 0.25)
                let marker = "garbage-\(UUID().uuidString.prefix(8))"
                try await producer.send(topic: Topic.prunedPolicies, key: marker, value: Array("{not json \(marker)".utf8))
                let future = Envelope(correlationId: UUID(), producer: "it/agent", payload: good.payload)
                try await producer.send(topic: Topic.prunedPolicies, key: marker, value: try Serving.futureVersion(of: future))

                var wrongLength = Envelope(correlationId: UUID(), producer: "it/agent", payload: good.payload)
                wrongLength.payload.ratioEventId = UUID()
                wrongLength.payload.policy = .uniform(blocks: 8, attention: 0.25, mlp: 0.25)
                var unknownMetric = Envelope(correlationId: UUID(), producer: "it/agent", payload: good.payload)
                unknownMetric.payload.ratioEventId = UUID()
                unknownMetric.payload.metric = "entropy"
                var otherModel = Envelope(correlationId: UUID(), producer: "it/agent", payload: good.payload)
                otherModel.payload.ratioEventId = UUID()
                otherModel.payload.modelId = "no-such-model"
                var noRow = Envelope(correlationId: UUID(), producer: "it/agent", payload: good.payload)
                noRow.payload.ratioEventId = UUID()
                noRow.payload.policyId = UUID()
                for bad in [wrongLength, unknownMetric, otherModel, noRow] {
                    try await producer.send(bad, to: Topic.prunedPolicies, key: model.modelId)
                }
                try await producer.send(good, to: Topic.prunedPolicies, key: model.modelId)

                #expect(try await eventually(within: .seconds(30)) {
                    try await database.count("SELECT count(*)::int FROM plans WHERE ratio_event_id = \(stored.event)") == 1
                }, "the good policy after the bad ones is planned: \(pruner.output.suffix(3000))")
                let topic = Topic.prunedPolicies
                let expected: [(String, String, String)] = [
                    ("garbage", marker, "malformed message"),
                    ("future schema", future.messageId.uuidString.lowercased(), "unsupported schema version 99"),
                    ("wrong length", wrongLength.messageId.uuidString.lowercased(), "the policy has 8 layers but '\(model.modelId)' has 4 blocks"),
                    ("unknown metric", unknownMetric.messageId.uuidString.lowercased(), "unknown importance metric 'entropy'"),
                    ("other model", otherModel.messageId.uuidString.lowercased(), "prunes model '\(model.modelId)', not 'no-such-model'"),
                    ("no policy row", noRow.messageId.uuidString.lowercased(), "no policies row"),
                ]
                #expect(try await eventually(within: .seconds(20)) {
                    for (_, text, reason) in expected where try await Serving.deadLetters(on: topic, containing: text, reason: reason, in: database) != 1 {
                        return false
                    }
                    return true
                }, "each bad policy is dead-lettered once with its reason: \(pruner.output.suffix(3000))")
                for (name, text, reason) in expected {
                    #expect(try await Serving.deadLetters(on: topic, containing: text, reason: reason, in: database) == 1, "\(name)")
                }
                #expect(try await database.count("SELECT count(*)::int FROM plans") == 1, "no plan for any bad policy")

                pruner.send(SIGTERM)
                #expect(try await pruner.waitForExit() == .exited(0), "the service was still running: \(pruner.output.suffix(2000))")
            } catch {
                await pruner.stop()
                await producer.shutdown()
                throw error
            }
            await producer.shutdown()
        }
    }
}
