import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// The evaluator, the predictor and model-host each SIGKILLed right after
/// the transaction that stores their effect committed, and before the
/// message's offset was committed or the relay published (a fault point,
/// ``FaultInjection``); then restarted. The redelivered message finds its
/// effect stored and does nothing, and the effect is published exactly once
/// (the agent's and the pruner's kills after a commit are in
/// ServiceCrashTests).
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(4))), .tags(.slow)) struct CommitCrashTests {
    @Test func anEvaluatorKilledRightAfterCommittingAMeasurementPublishesItOnceAndDoesNotMeasureAgain() async throws {
        try await RunTimeStack.with { stack in
            let database = stack.database
            let measurements = try await stack.recorder(Topic.measurements)
            do {
                let doomed = try stack.start("evaluator", ["PPF_INSTANCE_ID": "it-doomed",
                                                           "PPF_FAULT_INJECTION": FaultInjection.evaluatorAfterMeasurementCommit])
                try await doomed.waitForOutput("model '\(stack.model.modelId)' loaded", within: .seconds(60))
                // Asked the way every asker asks: the row and its message in one transaction; a relay publishes it.
                let request = try await EvaluatorCrashTests.storeRequest(
                    .uniform(blocks: TinyModel.blocks, attention: 0.5, mlp: 0.25), modelId: stack.model.modelId,
                    announce: true, database: database).payload
                let id = request.requestId.uuidString.lowercased()

                #expect(try await doomed.waitForExit(within: .seconds(120)) == .signalled(SIGKILL), "\(doomed.output.suffix(3000))")
                #expect(doomed.output.contains("fault injection: SIGKILL at \(FaultInjection.evaluatorAfterMeasurementCommit)"))
                #expect(try await database.count("SELECT count(*)::int FROM measurements WHERE request_id = \(request.requestId)") == 1,
                        "the measurement committed")

                // The survivor gets the request again (its offset was never committed) and skips it.
                let survivor = try stack.start("evaluator", ["PPF_INSTANCE_ID": "it-survivor"])
                try await survivor.waitForOutput("skipping request \(id): it is already measured", within: .seconds(90))
                #expect(try await eventually(within: .seconds(30)) { !measurements.messages(containing: id).isEmpty },
                        "the committed measurement is published by a relay: \(survivor.output.suffix(2000))")
                try await Task.sleep(for: .seconds(3))

                #expect(try await database.count("SELECT count(*)::int FROM measurements WHERE request_id = \(request.requestId)") == 1)
                let row = try await database.pool.withConnection { connection in
                    try #require(try await MeasurementRepository.find(requestId: request.requestId, on: connection))
                }
                #expect(row.evaluatorId == "it-doomed", "the dead evaluator's measurement stands")
                #expect(try await database.count("""
                    SELECT count(*)::int FROM outbox WHERE topic = \(Topic.measurements) AND published_at IS NOT NULL
                       AND convert_from(payload, 'UTF8') LIKE \("%" + id + "%")
                    """) == 1, "one PerplexityMeasurement in the outbox, published")
                #expect(measurements.messages(containing: id).count == 1, "published once")
                #expect(!survivor.output.contains("measuring request \(id)"), "the survivor did not measure it again")
                try await stack.stopCleanly(survivor)
            } catch {
                await measurements.stop()
                throw error
            }
            await measurements.stop()
        }
    }

    @Test func aPredictorKilledRightAfterStoringAVersionPublishesItOnceAndDoesNotTrainAgain() async throws {
        try await RunTimeStack.with { stack in
            let model = stack.model.modelId
            let database = stack.database
            // 40 measurements beyond the stored version's 60, in its regime: a training is due (K = 32).
            let notifications = try await PredictorServiceTests.storeMeasurements(model: model, count: 40, metric: "flap",
                                                                                  database: database)
            let settings = ["PPF_PREDICTOR_RETRAIN_AFTER": "32"]
            let versions = try await stack.recorder(Topic.predictorVersions)
            do {
                let doomed = try stack.start("predictor", settings.merging(
                    ["PPF_FAULT_INJECTION": FaultInjection.predictorAfterVersionCommit]) { $1 })
                #expect(try await doomed.waitForExit(within: .seconds(120)) == .signalled(SIGKILL), "\(doomed.output.suffix(3000))")
                #expect(doomed.output.contains("fault injection: SIGKILL at \(FaultInjection.predictorAfterVersionCommit)"))
                #expect(try await database.count("SELECT count(*)::int FROM predictor_versions") == 2, "the version committed")
                let newest = try await database.pool.withConnection { connection in
                    try #require(try await PredictorVersionRepository.latest(modelId: model, on: connection))
                }
                let id = newest.id.uuidString.lowercased()

                // The notifications arrive while it is down; the restarted predictor finds nothing new to train on.
                let producer = try stack.producer()
                for envelope in notifications {
                    try await producer.send(envelope, to: Topic.measurements, key: envelope.payload.policyId.uuidString.lowercased())
                }
                await producer.shutdown()
                let predictor = try stack.start("predictor", settings)
                try await predictor.waitForOutput("ready", within: .seconds(60))
                #expect(try await eventually(within: .seconds(30)) { !versions.messages(containing: id).isEmpty },
                        "the committed version is published by a relay: \(predictor.output.suffix(2000))")
                try await Task.sleep(for: .seconds(5))

                #expect(!predictor.output.contains("trained predictor"), "nothing is trained again: \(predictor.output.suffix(3000))")
                #expect(try await database.count("SELECT count(*)::int FROM predictor_versions") == 2, "exactly one new version")
                #expect(newest.sampleCount == 100)
                #expect(try await database.count("""
                    SELECT count(*)::int FROM outbox WHERE topic = \(Topic.predictorVersions) AND published_at IS NOT NULL
                       AND convert_from(payload, 'UTF8') LIKE \("%" + id + "%")
                    """) == 1, "one PredictorVersionPublished, published")
                #expect(versions.messages(containing: id).count == 1, "published once")
                #expect(try await database.count(
                    "SELECT count(*)::int FROM audit_log WHERE action = 'predictor.trained'") == 1, "one audit entry")
                try await stack.stopCleanly(predictor)
            } catch {
                await versions.stop()
                throw error
            }
            await versions.stop()
        }
    }

    @Test func aModelHostKilledRightAfterLoggingAnAnswerDoesNotAnswerItAgain() async throws {
        try await RunTimeStack.with { stack in
            let model = stack.model
            let replies = try await stack.recorder(Topic.inferenceReplies)
            let producer = try stack.producer()
            do {
                let doomed = try stack.start("model-host", ["PPF_FAULT_INJECTION": FaultInjection.modelHostAfterAnswerLog])
                try await doomed.waitForOutput("serving '\(model.modelId)' as dense", within: .seconds(60))
                let answered = try ModelHostServiceTests.request(.perplexity(text: ModelHostServiceTests.text), model: model)
                try await ModelHostServiceTests.send(answered, with: producer)
                #expect(try await doomed.waitForExit(within: .seconds(60)) == .signalled(SIGKILL), "\(doomed.output.suffix(3000))")
                #expect(doomed.output.contains("fault injection: SIGKILL at \(FaultInjection.modelHostAfterAnswerLog)"))
                let id = answered.payload.requestId
                #expect(try await stack.database.count("SELECT count(*)::int FROM inference_log WHERE request_id = \(id)") == 1)

                // A request sent while no host runs waits in the group's partitions.
                let waiting = try ModelHostServiceTests.request(.perplexity(text: ModelHostServiceTests.text), model: model)
                try await ModelHostServiceTests.send(waiting, with: producer)
                let host = try stack.start("model-host")
                try await host.waitForOutput("skipping request \(id.uuidString.lowercased()): it is already answered",
                                             within: .seconds(90))
                let reply = try await ModelHostServiceTests.awaitReply(to: waiting, in: replies, within: .seconds(60))
                #expect(reply.payload.error == nil)
                try await Task.sleep(for: .seconds(2))

                for request in [answered, waiting] {
                    let requestId = request.payload.requestId
                    #expect(try await stack.database.count(
                        "SELECT count(*)::int FROM inference_log WHERE request_id = \(requestId)") == 1, "logged once")
                    #expect(replies.messages(containing: requestId.uuidString.lowercased()).count == 1, "answered once")
                }
                try await stack.stopCleanly(host)
            } catch {
                await replies.stop()
                await producer.shutdown()
                throw error
            }
            await replies.stop()
            await producer.shutdown()
        }
    }
}
