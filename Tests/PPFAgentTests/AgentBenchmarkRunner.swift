import Foundation
import PPFAgent
import Testing

// MARK: - Benchmark runner (opt-in)

/// Prints the agent benchmark table (docs/agent.md). Off by default: it is a
/// measurement, not a correctness test. Run with
/// `PPF_AGENT_BENCH=1 swift test --filter agentBenchmarkPrintsItsTable`.
/// It asserts only that the numbers are well-formed.
@Test(.enabled(if: ProcessInfo.processInfo.environment["PPF_AGENT_BENCH"] == "1"))
func agentBenchmarkPrintsItsTable() throws {
    let rows = try AgentBenchmark.run()
    print(AgentBenchmark.table(rows))
    #expect(rows.allSatisfy { $0.maxGap.isFinite && $0.latencyP99Milliseconds > 0 })
}
