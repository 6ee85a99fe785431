import Foundation
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import Testing

/// A burst of dynamic ratio events on the tiny model (the agent trained on a
/// stored predictor, as in production): each is answered exactly once,
/// latency from the event's row to its published policy is recorded, and the
/// agent's memory stays flat. Speed is benchmarked by `make bench-load`
/// (`ppf bench load`, 200 events on the real model's shapes, release build);
/// this test asserts correctness and only a generous memory bound.
@Suite(.serialized, .timeLimit(.minutes(TestDeadlines.minutes(4))), .tags(.slow)) struct AgentLoadTests {
    /// Events in the burst.
    static let events = 200

    @Test func aBurstOfRatioEventsIsAnsweredExactlyOnceEachWithFlatMemory() async throws {
        try await RunTimeStack.with { stack in
            let agent = try await stack.startAgent()
            // Warm up: the first answer loads what later ones reuse.
            let warmUp = try await stack.emit([0.3])
            #expect(try await stack.awaitExactlyOnce(warmUp, planned: false).allSatisfy { $0.isExactlyOnce(planned: false) })
            let before = try #require(agent.residentBytes)

            // Spread inside the agent's range (0.05...0.6 by default), ends excluded.
            let ratios = (0..<Self.events).map { 0.06 + 0.53 * Double($0) / Double(Self.events - 1) }
            let started = ContinuousClock.now
            let burst = try await stack.emit(ratios)
            let accounts = try await stack.awaitExactlyOnce(burst, planned: false, within: .seconds(150))
            let elapsed = ContinuousClock.now - started
            let late = RunTimeStack.violations(accounts, planned: false)
            #expect(late.isEmpty, "\(late.count) of \(Self.events) not answered exactly once: \(late.prefix(5)) \(agent.output.suffix(2000))")
            // A duplicate, were there one, has had time to show up.
            try await Task.sleep(for: .seconds(2))
            #expect(RunTimeStack.violations(try await stack.accounts(burst), planned: false).isEmpty)
            let after = try #require(agent.residentBytes)
            // Recorded in one transaction, the events reach the agent together: it answers them in batches.
            #expect(agent.output.contains("in a batch of"), "\(agent.output.suffix(2000))")
            // Everything a single answer writes, once per event: one audit entry each, and one
            // spot-check request per answered policy (a policy two events share is measured once).
            #expect(try await stack.database.count("""
                SELECT count(*)::int FROM audit_log WHERE action = 'policy.published' AND correlation_id = ANY(\(burst))
                """) == Self.events)
            #expect(try await stack.database.count("""
                SELECT count(*)::int FROM (
                    SELECT o.policy_id, count(r.id) AS requests FROM ratio_event_outcomes o
                      LEFT JOIN evaluation_requests r ON r.policy_id = o.policy_id AND r.reason = 'spot-check'
                     WHERE o.ratio_event_id = ANY(\(burst)) GROUP BY o.policy_id) t
                 WHERE requests <> 1
                """) == 0, "each answered policy has exactly one spot-check request")

            let latency = try await stack.database.pool.withConnection {
                try await RatioEventOutcomeRepository.latencySummary(ratioEventIds: burst, on: $0)
            }
            #expect(latency.answered == Self.events && latency.published == Self.events)
            let batched = agent.output.components(separatedBy: "in a batch of").count - 1
            #expect(!agent.output.contains("handling them one at a time"), "no batch failed: \(agent.output.suffix(3000))")
            print("agent burst of \(Self.events) dynamic ratio events (debug build, tiny model, recorded in one transaction; \(batched) answered in batches): all answered in \(elapsed); event → outcome p50 \(Self.seconds(latency.answeredP50)), p99 \(Self.seconds(latency.answeredP99)); event → PolicyPublished published p50 \(Self.seconds(latency.publishedP50)), p99 \(Self.seconds(latency.publishedP99)), max \(Self.seconds(latency.publishedMax)); agent RSS \(Self.megabytes(before)) before, \(Self.megabytes(after)) after")
            // Flat: the bound is generous (a debug build, allocator slack); it catches the agent
            // keeping every answer, or its buffers, alive.
            #expect(after - before < 64 * 1_048_576, "agent RSS grew from \(Self.megabytes(before)) to \(Self.megabytes(after))")
            try await stack.stopCleanly(agent)
        }
    }

    @Test func aMixedBurstGetsEachEventsOwnAnswerRejectionOrDeadLetter() async throws {
        try await RunTimeStack.with { stack in
            let modelId = stack.model.modelId
            let agent = try await stack.startAgent()
            let warmUp = try await stack.emit([0.3])
            #expect(try await stack.awaitExactlyOnce(warmUp, planned: false).allSatisfy { $0.isExactlyOnce(planned: false) })

            // Back to back on the model's key, so they wait in the agent's buffer together: answerable
            // events, two outside the agent's range, one of a model nobody serves, garbage, and one
            // answerable event sent twice.
            let answerable = try (0..<10).map { try AgentServiceTests.ratioEvent(modelId, 0.1 + 0.04 * Double($0)) }
            let outOfRange = try [0.9, 0.95].map { try AgentServiceTests.ratioEvent(modelId, $0) }
            let unknownModel = try AgentServiceTests.ratioEvent("nobody-serves-this", 0.3)
            let producer = try stack.producer()
            do {
                for (index, event) in (answerable + outOfRange).enumerated() {
                    try await producer.send(event, to: Topic.ratioEvents, key: modelId)
                    if index == 4 {
                        try await producer.send(topic: Topic.ratioEvents, key: modelId, value: Array("garbage in a burst".utf8))
                        try await producer.send(unknownModel, to: Topic.ratioEvents, key: modelId)
                        try await producer.send(answerable[0], to: Topic.ratioEvents, key: modelId)
                    }
                }
            } catch {
                await producer.shutdown()
                throw error
            }
            await producer.shutdown()

            let answered = answerable.map(\.messageId)
            let accounts = try await stack.awaitExactlyOnce(answered, planned: false)
            #expect(RunTimeStack.violations(accounts, planned: false).isEmpty, "\(accounts) \(agent.output.suffix(3000))")
            let rejected = (outOfRange + [unknownModel]).map(\.messageId)
            #expect(try await eventually(within: .seconds(30)) {
                try await stack.database.count("""
                    SELECT count(*)::int FROM ratio_event_outcomes WHERE ratio_event_id = ANY(\(rejected)) AND status = 'rejected'
                    """) == rejected.count
            }, "\(agent.output.suffix(3000))")
            #expect(try await stack.database.count("""
                SELECT count(*)::int FROM ratio_event_outcomes WHERE ratio_event_id = ANY(\(rejected)) AND reason = 'ratio-out-of-range'
                """) == 2)
            #expect(try await eventually(within: .seconds(30)) {
                try await stack.database.count("""
                    SELECT count(*)::int FROM dead_letters WHERE topic = \(Topic.ratioEvents)
                       AND position(convert_to('garbage in a burst', 'UTF8') in payload) > 0
                    """) == 1
            })
            try await Task.sleep(for: .seconds(2))
            #expect(RunTimeStack.violations(try await stack.accounts(answered), planned: false).isEmpty,
                    "the event sent twice is answered once")
            print("mixed burst: \(agent.output.contains("in a batch of") ? "answered in batches" : "no batch formed (the events arrived one by one)")")
            try await stack.stopCleanly(agent)
        }
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }

    static func seconds(_ value: Double?) -> String { value.map { String(format: "%.3f s", $0) } ?? "-" }
}
