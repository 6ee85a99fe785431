import ArgumentParser
import Foundation
import PPFContracts
import PPFModel
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - ppf agent refine

/// `ppf agent refine`: active learning through the running system. The agent
/// is trained against the predictor only, so it finds policies the predictor
/// rates too well where it has no data. Each round asks the agent for
/// policies at fixed probe ratios (dynamic ratio events), lets the
/// evaluators spot-check them, retrains the predictor on the new truth and
/// waits for the agent service to retrain on that version.
struct AgentRefine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refine",
        abstract: "Active learning: measure the agent's own policies, retrain the predictor on them, let the agent retrain; repeat.",
        discussion: """
            Needs the services running (`make up`): the agent answers the probe events and asks the \
            evaluators for spot-checks (PPF_AGENT_SPOT_CHECKS), the predictor trains on command, \
            and the agent service retrains when the new predictor version is announced. Each round \
            prints how far the predictions were from the measurements and the measured perplexity \
            at the probe ratios, so you see whether refining helped.
            """)

    @Option(help: "Rounds of measure → retrain.")
    var rounds: Int = 3

    @Option(help: "Probe ratios per round, spread evenly over --range.")
    var probes: Int = 24

    @Option(help: "Probe range, as a..b (inside the agent's trained range).")
    var range: RatioRange = RatioRange(0.05...0.6)

    @Option(help: "The model id.")
    var modelId: String = CommandLineSettings.current.modelId

    @Option(help: "Minutes to wait for each round's measurements.")
    var timeoutMinutes: Double = 30

    func validate() throws {
        guard rounds > 0, probes > 1 else { throw ValidationError("--rounds must be > 0 and --probes > 1") }
    }

    func run() async throws {
        let context = try await ServiceContext.start(serviceName: "ppf", settings: CommandLineSettings.current)
        do {
            try await refine(context)
        } catch {
            await context.shutdown()
            throw error
        }
        await context.shutdown()
    }

    private func refine(_ context: ServiceContext) async throws {
        let refinement = AgentRefinement(context: context, modelId: modelId,
                                         ratios: AgentRefinement.probeRatios(probes, over: range.range),
                                         measurementTimeout: .seconds(timeoutMinutes * 60))
        print("| round | agent | predictor (policies) | probes measured | MAPE of the agent's predictions | mean measured ppl | geometric mean |")
        print("|---:|---|---|---:|---:|---:|---:|")
        for number in 1...rounds {
            let bar = TerminalProgressBar()
            bar.start(total: probes, unit: "probes measured")
            try await refinement.round(number, measured: { bar.update(completed: $0, detail: "") }, measuredRound: { round in
                bar.finish()
                if round.rejected > 0 { print("note: the agent rejected \(round.rejected) probe(s); see `ppf history`") }
                print(String(format: "| %d | %@ | %@ (%d) | %d | %.1f %% | %.2f | %.2f |", number,
                             String(round.agentVersion.uuidString.lowercased().prefix(8)),
                             String(round.predictorVersion.uuidString.lowercased().prefix(8)), round.predictorSamples,
                             round.probes.count, 100 * round.mape, round.meanPerplexity, round.geometricMeanPerplexity))
            }, log: { print($0) })
        }
        let (agentId, predictorId) = try await refinement.currentVersions()
        print("refined: agent \(agentId.uuidString.lowercased()) on predictor \(predictorId.uuidString.lowercased()); "
              + "compare the rounds' measured perplexities above")
    }
}
