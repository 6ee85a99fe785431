import Foundation
import PPFContracts
import PPFModel
import PPFPredictor
import PPFRuntime
import PPFStore
import PPFTensor

// MARK: - LoadBenchmark

/// `ppf bench load`'s run: a burst of dynamic ratio events against a running
/// agent, each recorded as `ppf ratio set` records one, then how many were
/// answered exactly once, their latencies (PostgreSQL's clock) and the
/// agent's resident memory.
public struct LoadBenchmark: Sendable {
    /// The connection to the stack (database, producer).
    public let context: ServiceContext
    /// The model the events name (the agent's `PPF_MODEL_ID`).
    public let modelId: String
    /// Events in the burst.
    public let events: Int
    /// The agent's process, whose VmRSS is read.
    public let agentPid: Int32
    /// How long to wait for the warm-up answer and, again, for the burst.
    public let timeout: Duration
    /// The command line, recorded beside the numbers.
    public let command: String
    /// Told one line per phase.
    public let log: @Sendable (String) -> Void

    /// A bench of `events` events.
    public init(context: ServiceContext, modelId: String, events: Int, agentPid: Int32, timeout: Duration, command: String,
                log: @escaping @Sendable (String) -> Void) {
        self.context = context
        self.modelId = modelId
        self.events = events
        self.agentPid = agentPid
        self.timeout = timeout
        self.command = command
        self.log = log
    }

    public func run(startRSS: Int) async throws -> LoadReport {
        let model = modelId
        let pool = context.pool
        try await SyntheticPredictor.storeIfAbsent(modelId: model, context: context, log: log)
        let ratios = (0..<events).map { 0.06 + 0.53 * Double($0) / Double(max(events - 1, 1)) }

        // Warm up: the agent trains (or loads) its agent and answers once.
        log("warming up: one event, answered after the agent has trained against the predictor…")
        let warmUp = try await emit([0.3], model: model, context: context)
        try await awaitAnswers(warmUp, pool: pool, within: timeout)
        try await Task.sleep(for: .seconds(1))
        guard let before = ProcessMemory.residentBytes(pid: agentPid) else {
            throw WorkflowError("the agent (pid \(agentPid)) exited during the warm-up")
        }

        log("burst: \(events) dynamic ratio events, back to back…")
        let started = ContinuousClock.now
        let burst = try await emit(ratios, model: model, context: context)
        try await awaitAnswers(burst, pool: pool, within: timeout)
        let wall = ContinuousClock.now - started
        // Duplicates, were there any, have time to show up before the count.
        try await Task.sleep(for: .seconds(2))
        guard let after = ProcessMemory.residentBytes(pid: agentPid) else {
            throw WorkflowError("the agent (pid \(agentPid)) exited during the burst")
        }
        let (latency, once) = try await pool.withConnection { connection in
            (try await RatioEventOutcomeRepository.latencySummary(ratioEventIds: burst, on: connection),
             try await RatioEventOutcomeRepository.answeredExactlyOnce(ratioEventIds: burst, on: connection))
        }
        return LoadReport(events: events, answeredOnce: once, latency: latency, wallSeconds: Self.seconds(wall),
                          startRSS: startRSS, beforeRSS: before, afterRSS: after, modelId: model,
                          command: command)
    }

    /// Records `ratios` back to back, each in its own transaction as one
    /// `ppf ratio set` records its event (so an event's row time is when it
    /// became visible), and leaves publishing to the agent's outbox relay.
    private func emit(_ ratios: [Double], model: String, context: ServiceContext) async throws -> [UUID] {
        var ids: [UUID] = []
        for ratio in ratios {
            let change = try RatioChange(modelId: model, targetRatio: ratio, mode: .dynamic, requestedBy: "ppf bench load")
            ids.append(try await context.pool.withTransaction { connection in
                try await RatioEvents.emit(change, producer: context.producerName, on: connection).messageId
            })
        }
        return ids
    }

    /// Waits until every event has an outcome and a published answer.
    private func awaitAnswers(_ ids: [UUID], pool: PGPool, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while true {
            let summary = try await pool.withConnection {
                try await RatioEventOutcomeRepository.latencySummary(ratioEventIds: ids, on: $0)
            }
            if summary.answered == ids.count && summary.published == ids.count { return }
            guard ContinuousClock.now < deadline else {
                throw WorkflowError("after \(limit), \(summary.answered) of \(ids.count) events have an outcome and \(summary.published) a published answer; is the agent running on this database and broker?")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    public static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}


// MARK: - LoadReport

/// What one `ppf bench load` run measured, as the markdown section it writes.
public struct LoadReport {
    public let events: Int
    public let answeredOnce: Int
    public let latency: AnswerLatencySummary
    public let wallSeconds: Double
    public let startRSS: Int
    public let beforeRSS: Int
    public let afterRSS: Int
    public let modelId: String
    public let command: String

    public var isExactlyOnce: Bool { answeredOnce == events }

    /// The build of this `ppf`, and so of the `agent` beside it.
    public static var build: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    public var markdown: String {
        func ms(_ seconds: Double?) -> String { seconds.map { String(format: "%.0f ms", $0 * 1000) } ?? "-" }
        func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }
        let growth = afterRSS - beforeRSS
        return """
            Measured \(ISO8601DateFormatter().string(from: Date())) on \(Machine.description): \
            `\(command)` against the agent serving '\(modelId)' (\(Self.build) build, synthetic predictor version, \
            default agent settings: spot checks on). Reproduce: `make bench-load` (infra/bench/agent-load.sh).

            | events | answered exactly once | burst wall time | event → outcome p50 / p99 / max | event → PolicyPublished published p50 / p99 / max |
            |---:|---:|---:|---:|---:|
            | \(events) | \(answeredOnce) | \(String(format: "%.2f s", wallSeconds)) | \(ms(latency.answeredP50)) / \(ms(latency.answeredP99)) / \(ms(latency.answeredMax)) | \(ms(latency.publishedP50)) / \(ms(latency.publishedP99)) / \(ms(latency.publishedMax)) |

            | agent RSS | at start of the bench | after warm-up | after the burst | growth in the burst |
            |---|---:|---:|---:|---:|
            | VmRSS | \(mb(startRSS)) | \(mb(beforeRSS)) | \(mb(afterRSS)) | \(growth >= 0 ? "+" : "")\(mb(growth)) |

            The events are recorded back to back, each in its own transaction (as many `ppf ratio set` calls would), \
            and published by the agent's outbox relay, so the latency of the last includes the queue in front of it: \
            the agent answers the events waiting in its consumer's buffer together (up to 64 in one transaction, \
            one statement per table), committing its offsets once per burst, and the relay publishes each batch \
            of outbox entries together.
            """
    }
}

// MARK: - SyntheticPredictor

/// A predictor version for the bench, so the agent has something to train
/// against without a bootstrap: measurements of random policies of the
/// configured model's shapes, whose log-perplexity is a known function of
/// the policy (the first and last blocks the most sensitive, MLP costlier
/// than attention), stored as the evaluator would store them, and a version
/// trained on them here and announced as the predictor would.
public enum SyntheticPredictor {
    /// Measured policies the version is trained on.
    public static let sampleCount = 120

    /// Stores the version unless `modelId` has one already.
    public static func storeIfAbsent(modelId: String, context: ServiceContext, log: (String) -> Void) async throws {
        let existing = try await context.pool.withConnection {
            try await PredictorVersionRepository.latestSummary(modelId: modelId, on: $0)
        }
        guard existing == nil else { return }
        let settings = context.settings
        let url = URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw WorkflowError("no model at \(url.path) to take the shapes from; run `make setup`")
        }
        let file = try GGUFFile.open(url)
        let blocks = try LlamaConfiguration(metadata: file.metadata, tensors: file.tensors).blockCount
        log("storing a synthetic predictor version for '\(modelId)' (\(blocks) blocks, \(sampleCount) synthetic measurements)…")

        var random = SeededGenerator(seed: 7)
        let spec = try FeatureSpec(layerCount: blocks)
        var training: [TrainingSample] = []
        var measurementIds: [Int64] = []
        try await context.pool.withTransaction { connection in
            for index in 0..<sampleCount {
                let policy = PruningPolicy(layers: (0..<blocks).map { _ in
                    LayerPolicy(attentionRatio: (random.nextUniform(in: 0...0.7) * 100).rounded() / 100,
                                mlpRatio: (random.nextUniform(in: 0...0.8) * 100).rounded() / 100)
                })
                let perplexity = exp(logPerplexity(policy))
                measurementIds.append(try await storeMeasurement(policy, perplexity: perplexity, modelId: modelId, on: connection))
                training.append(TrainingSample(id: "synthetic-\(index)", features: try PolicyFeatures(policy: policy, spec: spec),
                                               perplexity: perplexity))
            }
        }
        let samples = training
        let artifact = try await BlockingQueue(label: "ppf.bench.predictor").run {
            try PredictorArtifact.train(training: samples, heldOut: [],
                                        hyperparameters: PredictorHyperparameters(ensembleSize: 3, seed: 3, maxEpochs: 150,
                                                                                  patience: 40))
        }
        let version = PredictorVersionRecord(modelId: modelId, artifact: Array(try artifact.jsonData()),
                                             sampleCount: samples.count, trainingMeasurementIds: measurementIds,
                                             heldOut: nil, trainingSeconds: artifact.trainingSeconds, correlationId: nil)
        let event = PredictorVersionPublished(modelId: modelId, versionId: version.id, sampleCount: version.sampleCount,
                                              heldOut: nil, trainingSeconds: version.trainingSeconds)
        try await context.pool.withTransaction { connection in
            try await PredictorVersionRepository.insert(version, on: connection)
            try await context.enqueue(Envelope(correlationId: version.id, producer: context.producerName, payload: event),
                                      topic: Topic.predictorVersions, key: modelId, on: connection)
        }
    }

    /// The synthetic truth: log-perplexity 2.3 plus the removed shares, weighted per block.
    public static func logPerplexity(_ policy: PruningPolicy) -> Double {
        let count = Double(max(policy.layers.count - 1, 1))
        return 2.3 + policy.layers.enumerated().reduce(0) { sum, item in
            // Ends of the network weigh 2.4, its middle 0.6.
            let position = Double(item.offset) / count
            let weight = 0.6 + 1.8 * pow(2 * position - 1, 2)
            return sum + weight * (0.5 * item.element.attentionRatio + item.element.mlpRatio) / count * 4
        }
    }

    /// Stores one measured policy: the policy, its evaluation request and its measurement rows.
    private static func storeMeasurement(_ policy: PruningPolicy, perplexity: Double, modelId: String,
                                         on connection: PGConnection) async throws -> Int64 {
        let correlation = UUID()
        let stored = try await PolicyRepository.store(policy, modelId: modelId, source: "sampler", correlationId: correlation,
                                                      on: connection).record
        let request = try EvaluationRequest(requestId: UUID(), modelId: modelId, policyId: stored.id, policy: policy,
                                            metric: "flap", split: "validation", tokenBudget: 4096, window: 512,
                                            reason: .bootstrap)
        try await EvaluationRequestRepository.insert(request, correlationId: correlation, on: connection)
        let measurement = try PerplexityMeasurement(
            requestId: request.requestId, policyId: stored.id, modelId: modelId, split: "validation", tokenBudget: 4096,
            window: 512, nll: log(perplexity), perplexity: perplexity, tokensCounted: 4088, seconds: 0,
            evaluatorId: "ppf bench load (synthetic)", engineVersion: "synthetic", achievedRatio: 0.3)
        guard let id = try await MeasurementRepository.insert(measurement, on: connection) else {
            throw WorkflowError("a synthetic measurement of '\(modelId)' was stored already")
        }
        return id
    }
}
