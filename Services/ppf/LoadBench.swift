import ArgumentParser
import Foundation
import PPFContracts
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - ppf bench load

/// `ppf bench load`: a burst of dynamic ratio events answered by a running agent.
struct LoadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "A burst of dynamic ratio events against a running agent: each answered exactly once, latency p50/p99, the agent's memory.",
        discussion: """
            `make bench-load` runs this through infra/bench/agent-load.sh, which gives the agent a private \
            broker and database schema. Stores a synthetic predictor version for --model-id (trained here on \
            synthetic measurements of the configured GGUF's shapes; the agent trains its own agent against it), \
            emits one warm-up event and waits for its answer, then emits --events events back to back, each \
            recorded as `ppf ratio set` records one, and waits until each has exactly one outcome and one \
            published policy. Latencies are read from PostgreSQL's clock: event row → outcome committed, and event row → \
            PolicyPublished published by the outbox relay. The agent's RSS is VmRSS of --agent-pid.
            """)

    @Option(help: "Events in the burst.")
    var events: Int = 200

    @Option(help: "The agent's process id, whose resident memory is read before and after the burst.")
    var agentPid: Int32

    @Option(help: "The model the events name (the agent's PPF_MODEL_ID, whose GGUF gives the shapes).")
    var modelId: String?

    @Option(help: "Seconds to wait for the warm-up answer (the agent trains first) and, again, for the burst.")
    var timeout: Double = 600

    @Option(help: "Replace the bench-load section of this markdown file with the results.")
    var write: String?

    func validate() throws {
        guard (1...100_000).contains(events) else { throw ValidationError("--events must lie in 1...100000") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let settings = CommandLineSettings.current
        let model = modelId ?? settings.modelId
        guard let baseline = ProcessMemory.residentBytes(pid: agentPid) else {
            throw UserFacingError("no process \(agentPid) to read the memory of (/proc/\(agentPid)/status); pass the agent's pid")
        }
        let context = try await ServiceContext.start(serviceName: "ppf", settings: settings)
        do {
            let bench = LoadBenchmark(context: context, modelId: model, events: events, agentPid: agentPid,
                                      timeout: .seconds(timeout),
                                      command: (["ppf", "bench", "load"] + CommandLine.arguments.dropFirst(3)).joined(separator: " "),
                                      log: { print($0) })
            let report = try await bench.run(startRSS: baseline)
            print(report.markdown)
            if let write {
                try MarkdownSections.replace(section: "bench-load", in: URL(fileURLWithPath: write),
                                             title: "Agent under a burst of ratio events", with: report.markdown)
                print("\nwrote the bench-load section of \(write)")
            }
            guard report.isExactlyOnce else {
                throw UserFacingError("\(report.events - report.answeredOnce) of \(report.events) events were not answered exactly once")
            }
        } catch {
            await context.shutdown()
            throw error
        }
        await context.shutdown()
    }
}
