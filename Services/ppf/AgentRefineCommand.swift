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

    private var ratios: [Double] {
        let low: Double = range.range.lowerBound
        let width: Double = range.range.upperBound - low
        let count = Double(probes)
        return (0..<probes).map { index -> Double in
            let ratio: Double = low + (Double(index) + 0.5) / count * width
            return (ratio * 10_000).rounded() / 10_000
        }
    }

    private func refine(_ context: ServiceContext) async throws {
        print("| round | agent | predictor (policies) | probes measured | MAPE of the agent's predictions | mean measured ppl | geometric mean |")
        print("|---:|---|---|---:|---:|---:|---:|")
        for round in 1...rounds {
            let (agentId, predictorId) = try await currentVersions(context)
            let events = try await emit(context, round: round)
            let results = try await waitForMeasurements(context, events: events)
            let errors = results.compactMap { item in item.predicted.map { abs($0 / item.measured - 1) } }
            let mape = errors.isEmpty ? Double.nan : errors.reduce(0, +) / Double(errors.count)
            let mean = results.map(\.measured).reduce(0, +) / Double(max(1, results.count))
            let geometric = exp(results.map { log($0.measured) }.reduce(0, +) / Double(max(1, results.count)))
            let samples = try await context.pool.withConnection { connection in
                try await PredictorVersionRepository.find(id: predictorId, on: connection)?.sampleCount ?? 0
            }
            print(String(format: "| %d | %@ | %@ (%d) | %d | %.1f %% | %.2f | %.2f |", round,
                         String(agentId.uuidString.lowercased().prefix(8)), String(predictorId.uuidString.lowercased().prefix(8)),
                         samples, results.count, 100 * mape, mean, geometric))
            let command = try await PredictorTrainingRequest.send(
                context: context, modelId: modelId, requestedBy: "ppf agent refine (round \(round))")
            try await BootstrapProgress.waitForPredictor(context: context, modelId: modelId, command: command)
            try await waitForAgent(context, trainedOn: command)
        }
        let (agentId, predictorId) = try await currentVersions(context)
        print("refined: agent \(agentId.uuidString.lowercased()) on predictor \(predictorId.uuidString.lowercased()); "
              + "compare the rounds' measured perplexities above")
    }

    /// The newest agent version and the predictor it was trained against.
    private func currentVersions(_ context: ServiceContext) async throws -> (agent: UUID, predictor: UUID) {
        let model = modelId
        guard let latest = try await context.pool.withConnection({ connection in
            try await AgentVersionRepository.latest(modelId: model, on: connection)
        }) else {
            throw UserFacingError("no agent version for '\(modelId)' yet: bootstrap the predictor (`ppf bootstrap`) with the agent service running")
        }
        return (latest.id, latest.predictorVersionId)
    }

    /// Stores and publishes one dynamic ratio event per probe ratio.
    private func emit(_ context: ServiceContext, round: Int) async throws -> [UUID] {
        var ids: [UUID] = []
        for ratio in ratios {
            let change = try RatioChange(modelId: modelId, targetRatio: ratio, mode: .dynamic,
                                         requestedBy: "ppf agent refine (round \(round))")
            let envelope = try await context.pool.withTransaction { connection in
                try await RatioEvents.emit(change, producer: context.producerName, on: connection)
            }
            ids.append(envelope.messageId)
        }
        _ = try? await context.makeOutboxRelay().publishPending()
        return ids
    }

    /// Waits until every event is answered and its policy measured in the
    /// predictor's regime (a spot-check, or an earlier measurement of the same policy).
    private func waitForMeasurements(_ context: ServiceContext, events: [UUID])
        async throws -> [(predicted: Double?, measured: Double)] {
        let started = ContinuousClock.now
        let bar = TerminalProgressBarProxy(total: events.count)
        defer { bar.finish() }
        while true {
            let answers = try await context.pool.withConnection { connection in
                try await RatioEventHistoryRepository.measuredAnswers(ratioEventIds: events, on: connection)
            }
            let rejected = answers.filter { $0.status == "rejected" }.count
            let measured = answers.compactMap { answer in
                answer.measuredPerplexity.map { (predicted: answer.predictedPerplexity, measured: $0) }
            }
            bar.update(measured.count + rejected)
            if measured.count + rejected >= events.count {
                if rejected > 0 { print("note: the agent rejected \(rejected) probe(s); see `ppf history`") }
                return measured
            }
            guard ContinuousClock.now - started < .seconds(timeoutMinutes * 60) else {
                throw UserFacingError("only \(measured.count)/\(events.count) probes measured in \(Int(timeoutMinutes)) min; are the evaluators running?")
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// Waits for the agent service to store an agent trained on the predictor version of `command`.
    private func waitForAgent(_ context: ServiceContext, trainedOn command: UUID) async throws {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(600) {
            let found = try await context.pool.withConnection { connection in
                try await AgentVersionRepository.existsForPredictorTrained(byCommand: command, on: connection)
            }
            if found { return }
            try await Task.sleep(for: .seconds(1))
        }
        throw UserFacingError("the agent service did not retrain on the new predictor version within 10 min; is it running?")
    }
}

/// A progress bar on standard error for a count of items.
final class TerminalProgressBarProxy: @unchecked Sendable {
    private let bar: TerminalProgressBar
    private let total: Int

    init(total: Int) {
        self.total = total
        bar = TerminalProgressBar()
        bar.start(total: total, unit: "probes measured")
    }

    func update(_ done: Int) { bar.update(completed: min(done, total), detail: "") }
    func finish() { bar.finish() }
}
