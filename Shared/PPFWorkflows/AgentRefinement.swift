import Foundation
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - AgentRefinement

/// Active learning through the running system (`ppf agent refine`). The
/// agent is trained against the predictor only, so it finds policies the
/// predictor rates too well where it has no data. One round asks the agent
/// for its policies at fixed probe ratios (dynamic ratio events), lets the
/// evaluators spot-check them, retrains the predictor on the new truth and
/// waits for the agent service to retrain on that version.
public struct AgentRefinement: Sendable {
    /// The stack.
    public let context: ServiceContext
    /// The model refined.
    public let modelId: String
    /// The probe ratios of every round.
    public let ratios: [Double]
    /// How long a round waits for its measurements.
    public let measurementTimeout: Duration
    /// How long a round waits for the agent service to retrain.
    public let agentTimeout: Duration

    /// A refinement of `modelId` probing at `ratios`.
    public init(context: ServiceContext, modelId: String, ratios: [Double], measurementTimeout: Duration,
                agentTimeout: Duration = .seconds(600)) {
        self.context = context
        self.modelId = modelId
        self.ratios = ratios
        self.measurementTimeout = measurementTimeout
        self.agentTimeout = agentTimeout
    }

    /// `probes` ratios spread evenly over `range` (cell midpoints, rounded to 1e-4).
    public static func probeRatios(_ probes: Int, over range: ClosedRange<Double>) -> [Double] {
        let low: Double = range.lowerBound
        let width: Double = range.upperBound - low
        let count = Double(probes)
        return (0..<probes).map { index -> Double in
            let ratio: Double = low + (Double(index) + 0.5) / count * width
            return (ratio * 10_000).rounded() / 10_000
        }
    }

    /// What one round measured, before it retrained.
    public struct Round: Sendable {
        /// The agent version that answered the probes, and its predictor.
        public let agentVersion: UUID
        public let predictorVersion: UUID
        /// Policies that predictor was trained on.
        public let predictorSamples: Int
        /// Each measured probe: the agent's prediction (if it published one) and the measurement.
        public let probes: [(predicted: Double?, measured: Double)]
        /// Probes the agent rejected.
        public let rejected: Int

        /// A round's results.
        public init(agentVersion: UUID, predictorVersion: UUID, predictorSamples: Int,
                    probes: [(predicted: Double?, measured: Double)], rejected: Int) {
            self.agentVersion = agentVersion
            self.predictorVersion = predictorVersion
            self.predictorSamples = predictorSamples
            self.probes = probes
            self.rejected = rejected
        }

        /// Mean absolute percentage error of the agent's predictions (NaN: none to compare).
        public var mape: Double {
            let errors = probes.compactMap { item in item.predicted.map { abs($0 / item.measured - 1) } }
            return errors.isEmpty ? .nan : errors.reduce(0, +) / Double(errors.count)
        }
        /// Arithmetic and geometric mean of the measured perplexities.
        public var meanPerplexity: Double { probes.map(\.measured).reduce(0, +) / Double(max(1, probes.count)) }
        public var geometricMeanPerplexity: Double {
            exp(probes.map { log($0.measured) }.reduce(0, +) / Double(max(1, probes.count)))
        }
    }

    /// Measures the current agent at the probes, then retrains the predictor
    /// and waits for the agent trained on it.
    /// - Parameters:
    ///   - number: the round (1-based), in the events' `requestedBy`.
    ///   - measured: told how many probes are settled (measured or rejected) as they settle.
    ///   - measuredRound: told the round's measurements before the retraining starts.
    /// - Throws: ``WorkflowError`` when no agent exists, or a wait times out.
    @discardableResult
    public func round(_ number: Int, measured: @Sendable (Int) -> Void = { _ in },
                      measuredRound: (Round) -> Void = { _ in }, log: (String) -> Void = { _ in }) async throws -> Round {
        // Probing an agent of an older predictor would spend the round's
        // measurements on a policy nobody serves any more (the demo's bootstrap
        // ends with a version the agent service is still training on).
        if try await !newestPredictorHasAnAgent() {
            log("waiting for the agent service to train on the newest predictor version…")
            try await waitForAgentOnNewestPredictor()
        }
        let (agent, predictor) = try await currentVersions()
        let events = try await emitProbes(round: number)
        let (probes, rejected) = try await waitForMeasurements(events, measured: measured)
        let samples = try await context.pool.withConnection { connection in
            try await PredictorVersionRepository.find(id: predictor, on: connection)?.sampleCount ?? 0
        }
        let result = Round(agentVersion: agent, predictorVersion: predictor, predictorSamples: samples, probes: probes,
                           rejected: rejected)
        measuredRound(result)
        let command = try await PredictorTraining.request(context: context, modelId: modelId,
                                                          requestedBy: "ppf agent refine (round \(number))")
        log("asked the predictor service to train '\(modelId)'; waiting for it…")
        log(PredictorTraining.describe(try await PredictorTraining.waitForVersion(pool: context.pool, modelId: modelId,
                                                                                  command: command)))
        try await waitForAgent(trainedOn: command)
        return result
    }

    /// The newest agent version and the predictor it was trained against.
    /// - Throws: ``WorkflowError`` when the model has no agent version yet.
    public func currentVersions() async throws -> (agent: UUID, predictor: UUID) {
        let model = modelId
        guard let latest = try await context.pool.withConnection({ connection in
            try await AgentVersionRepository.latest(modelId: model, on: connection)
        }) else {
            throw WorkflowError("no agent version for '\(modelId)' yet: bootstrap the predictor (`ppf bootstrap`) with the agent service running")
        }
        return (latest.id, latest.predictorVersionId)
    }

    /// Whether an agent version of the model's newest predictor version is stored.
    public func newestPredictorHasAnAgent() async throws -> Bool {
        let model = modelId
        return try await context.pool.withConnection { connection in
            guard let newest = try await PredictorVersionRepository.latestSummary(modelId: model, on: connection)?.id else {
                return false
            }
            return try await AgentVersionRepository.latest(predictorVersionId: newest, on: connection) != nil
        }
    }

    /// Waits (up to ``agentTimeout``) until the newest predictor version has an agent.
    /// - Throws: ``WorkflowError`` on timeout.
    private func waitForAgentOnNewestPredictor() async throws {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < agentTimeout {
            if try await newestPredictorHasAnAgent() { return }
            try await Task.sleep(for: .seconds(1))
        }
        throw WorkflowError("the agent service has not trained on '\(modelId)''s newest predictor version within \(agentTimeout); is it running? (`ppf status`, its log names why an agent could not be trained)")
    }

    /// Stores and publishes one dynamic ratio event per probe ratio.
    private func emitProbes(round: Int) async throws -> [UUID] {
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
    /// predictor's regime (a spot-check, or an earlier measurement of the same policy), or rejected.
    private func waitForMeasurements(_ events: [UUID], measured progress: @Sendable (Int) -> Void) async throws
        -> (probes: [(predicted: Double?, measured: Double)], rejected: Int) {
        let started = ContinuousClock.now
        while true {
            let answers = try await context.pool.withConnection { connection in
                try await RatioEventHistoryRepository.measuredAnswers(ratioEventIds: events, on: connection)
            }
            let rejected = answers.filter { $0.status == "rejected" }.count
            let measured = answers.compactMap { answer in
                answer.measuredPerplexity.map { (predicted: answer.predictedPerplexity, measured: $0) }
            }
            progress(measured.count + rejected)
            if measured.count + rejected >= events.count { return (measured, rejected) }
            guard ContinuousClock.now - started < measurementTimeout else {
                throw WorkflowError("only \(measured.count)/\(events.count) probes measured in \(measurementTimeout); are the evaluators running?")
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// Waits for the agent service to store an agent trained on the predictor version of `command`.
    private func waitForAgent(trainedOn command: UUID) async throws {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < agentTimeout {
            let found = try await context.pool.withConnection { connection in
                try await AgentVersionRepository.existsForPredictorTrained(byCommand: command, on: connection)
            }
            if found { return }
            try await Task.sleep(for: .seconds(1))
        }
        throw WorkflowError("the agent service did not retrain on the new predictor version within \(agentTimeout); is it running?")
    }
}
