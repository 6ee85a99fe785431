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

            let latency = try await stack.database.pool.withConnection {
                try await RatioEventOutcomeRepository.latencySummary(ratioEventIds: burst, on: $0)
            }
            #expect(latency.answered == Self.events && latency.published == Self.events)
            print("agent burst of \(Self.events) dynamic ratio events (debug build, tiny model, one transaction): all answered in \(elapsed); event → outcome p50 \(Self.seconds(latency.answeredP50)), p99 \(Self.seconds(latency.answeredP99)); event → PolicyPublished published p50 \(Self.seconds(latency.publishedP50)), p99 \(Self.seconds(latency.publishedP99)), max \(Self.seconds(latency.publishedMax)); agent RSS \(Self.megabytes(before)) before, \(Self.megabytes(after)) after")
            // Flat: the bound is generous (a debug build, allocator slack); it catches the agent
            // keeping every answer, or its buffers, alive.
            #expect(after - before < 64 * 1_048_576, "agent RSS grew from \(Self.megabytes(before)) to \(Self.megabytes(after))")
            try await stack.stopCleanly(agent)
        }
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }

    static func seconds(_ value: Double?) -> String { value.map { String(format: "%.3f s", $0) } ?? "-" }
}
