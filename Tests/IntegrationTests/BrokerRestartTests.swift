import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// The broker killed with SIGKILL and restarted empty (the local broker keeps
/// topics in memory only), under running services: they reconnect, recreate
/// the topics, rejoin their groups, and reconcile from PostgreSQL, so ratio
/// events whose messages died with the broker are still answered, and
/// planned, exactly once, and requests for measurements it lost are
/// measured (design.md, "System of record").
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(5))), .tags(.slow)) struct BrokerRestartTests {
    @Test func servicesRecoverFromABrokerRestartAndAnswerTheEventsItLostExactlyOnce() async throws {
        try await RunTimeStack.with { stack in
            let model = stack.model
            let pruner = try stack.start("pruner")
            let agent = try await stack.startAgent()
            let host = try stack.start("model-host")
            let predictor = try stack.start("predictor")
            try await host.waitForOutput("serving '\(model.modelId)' as dense", within: .seconds(60))
            try await predictor.waitForOutput("ready", within: .seconds(60))

            // 1. The chain works: an event is answered, planned and served.
            let first = try await stack.emit([0.2])
            #expect(try await stack.awaitExactlyOnce(first, planned: true).allSatisfy { $0.isExactlyOnce(planned: true) },
                    "\(agent.output.suffix(2000))")
            try await Self.awaitServingNewestPlan(stack: stack, host: host)

            // 2. Two events are published while the agent is stopped (SIGSTOP), so their messages
            //    sit unconsumed in the broker's memory; then the broker dies and comes back empty.
            agent.send(SIGSTOP)
            // The same garbage before and after the restart: the new broker numbers offsets from 0
            // again, so both land at the same partition and offset, and each must be a dead letter.
            let garbageKey = "garbage-\(UUID().uuidString.prefix(8))"
            let garbage = Array("not an envelope \(garbageKey)".utf8)
            let garbageProducer = try stack.producer()
            try await garbageProducer.send(topic: Topic.predictionRequests, key: garbageKey, value: garbage)
            await garbageProducer.shutdown()
            let garbageLetters: @Sendable () async throws -> Int = { try await stack.database.count("""
                SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.predictionRequests)
                   AND position(convert_to(\(garbageKey), 'UTF8') in payload) > 0
                """) }
            #expect(try await eventually(within: .seconds(30)) { try await garbageLetters() == 1 },
                    "garbage is dead-lettered: \(predictor.output.suffix(2000))")
            let pending = try await stack.emit([0.3, 0.4])
            #expect(try await eventually(within: .seconds(20)) {
                try await stack.database.count("""
                    SELECT count(*)::int FROM outbox WHERE topic = \(Topic.ratioEvents) AND published_at IS NOT NULL
                       AND message_id = ANY(\(pending))
                    """) == 2
            }, "another service's relay publishes the pending events")
            await stack.broker.kill()
            try await Task.sleep(for: .seconds(2))
            try await stack.broker.restart()
            agent.send(SIGCONT)

            // 3. The lost events are answered and planned exactly once, and the host serves the newest plan.
            let accounts = try await stack.awaitExactlyOnce(first + pending, planned: true, within: .seconds(120))
            for account in accounts {
                #expect(account.isExactlyOnce(planned: true),
                        "\(account)\nagent: \(agent.output.suffix(3000))\npruner: \(pruner.output.suffix(2000))")
            }
            try await Self.awaitServingNewestPlan(stack: stack, host: host)

            // 4. Everything flows again over the new broker: garbage is dead-lettered again (a second
            //    row, though at a reused offset), an event emitted now is answered, a prediction made.
            let laterProducer = try stack.producer()
            try await laterProducer.send(topic: Topic.predictionRequests, key: garbageKey, value: garbage)
            await laterProducer.shutdown()
            #expect(try await eventually(within: .seconds(60)) { try await garbageLetters() == 2 },
                    "the garbage after the restart is a second dead letter: \(predictor.output.suffix(2000))")
            let offsets = try await stack.database.pool.withConnection { connection in
                try await connection.query("""
                    SELECT "offset" FROM dead_letters WHERE topic = \(Topic.predictionRequests)
                       AND position(convert_to(\(garbageKey), 'UTF8') in payload) > 0
                    """).decode(Int64.self)
            }
            print("garbage dead-lettered at offsets \(offsets) before and after the broker restart")
            let after = try await stack.emit([0.25])
            let answered = try await stack.awaitExactlyOnce(after, planned: true, within: .seconds(60))
                .allSatisfy { $0.isExactlyOnce(planned: true) }
            // This failed a few times in 20 runs (2026-12-04): the agent never rejoined its groups and
            // then did not stop; its stacks say where it waits.
            #expect(answered, "\(agent.output.suffix(3000))\nagent thread stacks:\n\(answered ? "" : agent.threadStacks())")
            try await Self.awaitServingNewestPlan(stack: stack, host: host)
            let replies = try await stack.recorder(Topic.predictionReplies)
            let producer = try stack.producer()
            let asked = try PredictorServiceTests.request([.uniform(blocks: TinyModel.blocks, attention: 0.2, mlp: 0.2)],
                                                          model: model.modelId)
            try await producer.send(asked, to: Topic.predictionRequests, key: asked.payload.requestId.uuidString.lowercased())
            let reply = try await PredictorServiceTests.reply(to: asked, in: replies, within: .seconds(60))
            #expect(reply.payload.predictions.count == 1, "\(predictor.output.suffix(2000))")
            await replies.stop()
            await producer.shutdown()

            try await Task.sleep(for: .seconds(2))
            #expect(try await stack.accounts(first + pending + after).allSatisfy { $0.isExactlyOnce(planned: true) })
            try await stack.stopCleanly(agent, pruner, host, predictor)
        }
    }

    @Test func aSpotCheckWhoseRequestDiedWithTheBrokerIsMeasuredAfterTheRestart() async throws {
        try await RunTimeStack.with { stack in
            let modelId = stack.model.modelId
            let agent = try await stack.startAgent(["PPF_AGENT_SPOT_CHECKS": "true"])
            let evaluator = try stack.start("evaluator", ["PPF_EVALUATOR_REPUBLISH_SECONDS": "5"])
            try await evaluator.waitForOutput("model '\(modelId)' loaded", within: .seconds(60))

            // The evaluator is busy elsewhere (SIGSTOP) when the agent's spot-check request is published,
            // so the message sits unconsumed in the broker's memory; then the broker dies and comes back empty.
            evaluator.send(SIGSTOP)
            let events = try await stack.emit([0.3])
            #expect(try await stack.awaitExactlyOnce(events, planned: false).allSatisfy { $0.isExactlyOnce(planned: false) },
                    "\(agent.output.suffix(2000))")
            let spotCheck: @Sendable () async throws -> UUID? = {
                try await stack.database.pool.withConnection { connection in
                    try await connection.query("""
                        SELECT id FROM evaluation_requests WHERE correlation_id = \(events[0]) AND reason = 'spot-check'
                        """).first?.decode(UUID.self, column: 0)
                }
            }
            #expect(try await eventually(within: .seconds(20)) { try await spotCheck() != nil }, "the answer asks for a spot-check")
            let request = try #require(try await spotCheck())
            #expect(try await eventually(within: .seconds(20)) {
                try await stack.database.count("""
                    SELECT count(*)::int FROM outbox WHERE topic = \(Topic.evaluationRequests) AND published_at IS NOT NULL
                       AND convert_from(payload, 'UTF8') LIKE \("%" + request.uuidString.lowercased() + "%")
                    """) == 1
            }, "the agent's relay publishes the request")
            await stack.broker.kill()
            try await Task.sleep(for: .seconds(2))
            try await stack.broker.restart()
            evaluator.send(SIGCONT)

            // The idle evaluator finds the request unmeasured, announces it again, and measures it once.
            let measured: @Sendable () async throws -> Int = {
                try await stack.database.count("SELECT count(*)::int FROM measurements WHERE request_id = \(request)")
            }
            #expect(try await eventually(within: .seconds(120)) { try await measured() == 1 },
                    "the lost spot-check is measured: \(evaluator.output.suffix(3000))")
            #expect(evaluator.output.contains("announced 1 unmeasured evaluation request(s) of '\(modelId)' again"))
            // A second announcement, were there one, has had time to be measured again.
            try await Task.sleep(for: .seconds(8))
            #expect(try await measured() == 1)
            #expect(try await stack.database.count(
                "SELECT count(*)::int FROM measurements WHERE policy_id IN (SELECT policy_id FROM evaluation_requests WHERE id = \(request))") == 1)
            try await stack.stopCleanly(agent, evaluator)
        }
    }

    /// Waits until model-host serves the newest plan of the tiny model.
    static func awaitServingNewestPlan(stack: RunTimeStack, host: ServiceProcess) async throws {
        let model = stack.model.modelId
        let plan = try #require(try await stack.database.pool.withConnection {
            try await PlanRepository.latest(modelId: model, on: $0)
        })
        let version = ModelVersion.plan(plan.id)
        #expect(try await eventually(within: .seconds(60)) {
            try await stack.database.count("""
                SELECT count(*)::int FROM model_versions
                 WHERE model_id = \(model) AND version = \(version) AND served_until IS NULL
                """) == 1
        }, "model-host should serve \(version): \(host.output.suffix(3000))")
    }
}
