import Foundation
import PPFBus
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// Each run-time service SIGKILLed in the middle of its work, at a fault
/// point (``FaultInjection``), then restarted: every ratio event still ends
/// with exactly one outcome, one published policy and one plan, and nothing
/// else is lost or duplicated (design.md, "a crash at any point loses nothing
/// and duplicates nothing"). The evaluator's crash test is EvaluatorCrashTests.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(4))), .tags(.slow)) struct ServiceCrashTests {
    @Test func anAgentKilledRightAfterCommittingAnAnswerPublishesItOnceAfterARestartAndAnswersTheRest() async throws {
        try await RunTimeStack.with { stack in
            // The agent runs alone, so its relay is the only one that could publish its answer.
            let doomed = try await stack.startAgent(["PPF_FAULT_INJECTION": FaultInjection.agentAfterAnswerCommit])

            // The first answer commits (outcome, policy, outbox entry), then the agent dies before its relay
            // publishes. The three events arrive together, so that answer may be a batch's: one transaction
            // for two or three of them.
            let events = try await stack.emit([0.2, 0.3, 0.4])
            #expect(try await doomed.waitForExit(within: .seconds(60)) == .signalled(SIGKILL), "\(doomed.output.suffix(3000))")
            #expect(doomed.output.contains("fault injection: SIGKILL at \(FaultInjection.agentAfterAnswerCommit)"))
            let atCrash = try await stack.accounts(events)
            let committed = atCrash.filter { $0.outcomes == 1 }
            #expect(!committed.isEmpty, "one answer, or one batch of answers, committed before the kill: \(atCrash)")
            #expect(committed.allSatisfy { $0.policyEntries == 1 && $0.policyEntriesPublished == 0 },
                    "its PolicyPublished is in the outbox, not yet published: \(atCrash)")
            #expect(atCrash.allSatisfy { $0.plans == 0 }, "nothing reached the pruner: \(atCrash)")

            // Restarted: the stored agent version is loaded, the relay publishes the committed answer,
            // and the two events the dead agent had in hand (uncommitted offsets, no outcome) are answered;
            // the pruner plans each event once.
            let agent = try stack.start("agent")
            let pruner = try stack.start("pruner")
            let accounts = try await stack.awaitExactlyOnce(events, planned: true)
            for account in accounts {
                #expect(account.isExactlyOnce(planned: true), "\(account): \(agent.output.suffix(2000)) \(pruner.output.suffix(2000))")
            }
            #expect(agent.output.contains("loaded agent version"), "the restart loads the stored agent, it does not retrain")
            #expect(try await stack.database.count("SELECT count(*)::int FROM agent_versions") == 1)
            // A duplicate, were there one, has had time to show up.
            try await Task.sleep(for: .seconds(2))
            #expect(try await stack.accounts(events).allSatisfy { $0.isExactlyOnce(planned: true) })
            try await stack.stopCleanly(agent, pruner)
        }
    }

    @Test func aPrunerKilledMidPlanningPlansEveryEventOnceAfterARestart() async throws {
        try await RunTimeStack.with { stack in
            let doomed = try stack.start("pruner", ["PPF_FAULT_INJECTION": FaultInjection.duringPlanning])
            let agent = try await stack.startAgent()
            let events = try await stack.emit([0.25, 0.35, 0.45])

            try await doomed.waitForOutput("fault injection: holding at \(FaultInjection.duringPlanning)", within: .seconds(90))
            #expect(try await eventually(within: .seconds(10)) {
                try await stack.database.count("""
                    SELECT count(*)::int FROM service_instances
                     WHERE service = 'pruner' AND details->>'activity' LIKE 'planning ratio event %'
                    """) == 1
            }, "the heartbeat says a plan is in hand when the kill lands")
            doomed.send(SIGKILL)
            #expect(try await doomed.waitForExit() == .signalled(SIGKILL))
            let atCrash = try await stack.accounts(events)
            #expect(atCrash.allSatisfy { $0.isExactlyOnce(planned: false) }, "the agent answered all three: \(atCrash)")
            #expect(atCrash.allSatisfy { $0.plans == 0 && $0.planEntries == 0 }, "a killed planning stores nothing: \(atCrash)")

            try await Self.restartPrunerAndExpectEachEventPlannedOnce(events, stack: stack, agent: agent)
        }
    }

    @Test func aPrunerKilledRightAfterCommittingAPlanPlansEveryEventOnceAfterARestart() async throws {
        try await RunTimeStack.with { stack in
            let doomed = try stack.start("pruner", ["PPF_FAULT_INJECTION": FaultInjection.prunerAfterPlanCommit])
            let agent = try await stack.startAgent()
            let events = try await stack.emit([0.22, 0.32, 0.42])

            // The first plan commits (plan, PlanPublished entry), then the pruner dies before committing the offset.
            #expect(try await doomed.waitForExit(within: .seconds(90)) == .signalled(SIGKILL), "\(doomed.output.suffix(3000))")
            #expect(doomed.output.contains("fault injection: SIGKILL at \(FaultInjection.prunerAfterPlanCommit)"))
            let atCrash = try await stack.accounts(events)
            #expect(atCrash.filter { $0.plans == 1 && $0.planEntries == 1 }.count == 1,
                    "exactly one plan committed before the kill: \(atCrash)")
            #expect(atCrash.allSatisfy { $0.plans <= 1 })

            // Restarted: the redelivered policy of the committed plan is skipped (its plan exists),
            // the other two are planned, and every plan is announced once.
            try await Self.restartPrunerAndExpectEachEventPlannedOnce(events, stack: stack, agent: agent)
        }
    }

    /// Starts a pruner and expects every event answered, planned and announced
    /// exactly once, also after a pause for a late duplicate; then stops both.
    static func restartPrunerAndExpectEachEventPlannedOnce(_ events: [UUID], stack: RunTimeStack,
                                                           agent: ServiceProcess) async throws {
        let pruner = try stack.start("pruner")
        let accounts = try await stack.awaitExactlyOnce(events, planned: true)
        for account in accounts {
            #expect(account.isExactlyOnce(planned: true), "\(account): \(pruner.output.suffix(3000))")
        }
        try await Task.sleep(for: .seconds(2))
        #expect(try await stack.accounts(events).allSatisfy { $0.isExactlyOnce(planned: true) })
        #expect(try await stack.database.count("SELECT count(*)::int FROM plans") == events.count)
        try await stack.stopCleanly(agent, pruner)
    }

    @Test func aModelHostKilledMidSwapRestoresTheNewestPlanAndAnswersEveryRequestOnce() async throws {
        try await RunTimeStack.with { stack in
            let model = stack.model
            let replies = try await stack.recorder(Topic.inferenceReplies)
            let producer = try stack.producer()
            do {
                let pruner = try stack.start("pruner")
                let agent = try await stack.startAgent()
                let doomed = try stack.start("model-host", ["PPF_FAULT_INJECTION": FaultInjection.duringPlanBuild])
                try await doomed.waitForOutput("serving '\(model.modelId)' as dense", within: .seconds(60))
                var requests = [try ModelHostServiceTests.request(.perplexity(text: ModelHostServiceTests.text), model: model)]
                try await ModelHostServiceTests.send(requests[0], with: producer)
                _ = try await ModelHostServiceTests.awaitReply(to: requests[0], in: replies)

                // A plan arrives; the host holds in the middle of building it, off the serving path.
                let events = try await stack.emit([0.5])
                try await doomed.waitForOutput("fault injection: holding at \(FaultInjection.duringPlanBuild)", within: .seconds(90))
                let plan = try #require(try await stack.database.pool.withConnection {
                    try await PlanRepository.find(ratioEventId: events[0], on: $0)
                })
                // Requests keep being answered by the version serving while the swap is under way.
                let during = try ModelHostServiceTests.request(.perplexity(text: ModelHostServiceTests.text), model: model)
                requests.append(during)
                try await ModelHostServiceTests.send(during, with: producer)
                #expect(try await ModelHostServiceTests.awaitReply(to: during, in: replies).payload.modelVersion == ModelVersion.dense)
                // Killed once the answer is logged (a kill between the reply and its log row answers twice, by design).
                #expect(try await eventually(within: .seconds(10)) {
                    try await stack.database.count(
                        "SELECT count(*)::int FROM inference_log WHERE request_id = \(during.payload.requestId)") == 1
                })

                doomed.send(SIGKILL)
                #expect(try await doomed.waitForExit() == .signalled(SIGKILL))
                // Requests sent while no host runs wait in the group's partitions.
                for _ in 0..<3 {
                    let request = try ModelHostServiceTests.request(.perplexity(text: ModelHostServiceTests.text), model: model)
                    requests.append(request)
                    try await ModelHostServiceTests.send(request, with: producer)
                }

                let host = try stack.start("model-host")
                try await host.waitForOutput("serving '\(model.modelId)' as \(ModelVersion.plan(plan.id))", within: .seconds(60))
                #expect(host.output.contains("restored the newest plan \(plan.id.uuidString.lowercased())"))
                for request in requests.suffix(3) {
                    let reply = try await ModelHostServiceTests.awaitReply(to: request, in: replies, within: .seconds(60))
                    #expect(reply.payload.error == nil && reply.payload.modelVersion == ModelVersion.plan(plan.id),
                            "a request the dead host never saw is answered by the restored plan")
                }
                try await Task.sleep(for: .seconds(2))
                let ids = requests.map(\.payload.requestId)
                let logged = try await stack.database.count(
                    "SELECT count(*)::int FROM inference_log WHERE request_id = ANY(\(ids))")
                let distinct = try await stack.database.count(
                    "SELECT count(DISTINCT request_id)::int FROM inference_log WHERE request_id = ANY(\(ids))")
                #expect(logged == requests.count && distinct == requests.count, "every request answered and logged once")
                for request in requests {
                    #expect(replies.messages(containing: request.payload.requestId.uuidString.lowercased()).count == 1,
                            "one reply per request")
                }
                #expect(try await stack.accounts(events).allSatisfy { $0.isExactlyOnce(planned: true) })
                try await stack.stopCleanly(host, agent, pruner)
            } catch {
                await replies.stop()
                await producer.shutdown()
                throw error
            }
            await replies.stop()
            await producer.shutdown()
        }
    }

    @Test func aPredictorKilledMidTrainingStoresExactlyOneVersionAfterARestart() async throws {
        try await RunTimeStack.with { stack in
            let model = stack.model.modelId
            // 40 measurements beyond the stored version's 60, in its regime: a training is due (K = 32).
            let notifications = try await PredictorServiceTests.storeMeasurements(model: model, count: 40, metric: "flap",
                                                                                  database: stack.database)
            let settings = ["PPF_PREDICTOR_RETRAIN_AFTER": "32"]
            let doomed = try stack.start("predictor", settings.merging(["PPF_FAULT_INJECTION": FaultInjection.duringPredictorTraining]) { $1 })
            try await doomed.waitForOutput("fault injection: holding at \(FaultInjection.duringPredictorTraining)", within: .seconds(60))
            doomed.send(SIGKILL)
            #expect(try await doomed.waitForExit() == .signalled(SIGKILL))
            #expect(try await stack.database.count("SELECT count(*)::int FROM predictor_versions") == 1, "a killed training stores nothing")

            // The notifications arrive while it is down, and again after the restart trains.
            let producer = try stack.producer()
            for envelope in notifications {
                try await producer.send(envelope, to: Topic.measurements, key: envelope.payload.policyId.uuidString.lowercased())
            }
            await producer.shutdown()
            let predictor = try stack.start("predictor", settings)
            #expect(try await eventually(within: .seconds(120)) {
                try await stack.database.count("SELECT count(*)::int FROM predictor_versions") == 2
            }, "reconcile trains the version the dead process did not store: \(predictor.output.suffix(3000))")
            // The notifications find nothing new to train on.
            try await Task.sleep(for: .seconds(5))
            #expect(predictor.output.components(separatedBy: "trained predictor").count - 1 == 1, "\(predictor.output.suffix(3000))")
            #expect(try await stack.database.count("SELECT count(*)::int FROM predictor_versions") == 2, "exactly one new version")
            let newest = try await stack.database.pool.withConnection { connection in
                try #require(try await PredictorVersionRepository.latest(modelId: model, on: connection))
            }
            #expect(newest.sampleCount == 100)
            #expect(try await stack.database.count("""
                SELECT count(*)::int FROM outbox WHERE topic = \(Topic.predictorVersions) AND published_at IS NOT NULL
                   AND convert_from(payload, 'UTF8') LIKE \("%" + newest.id.uuidString.lowercased() + "%")
                """) == 1, "one PredictorVersionPublished, published")
            try await stack.stopCleanly(predictor)
        }
    }
}
