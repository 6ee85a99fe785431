import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFModel
import PPFPredictor
import PPFRuntime
import PPFStore

// MARK: - AgentRegistry

/// Keeps the agent that serves each model in memory, and trains (or loads)
/// one whenever a model's newest predictor version has none.
///
/// Training is deterministic from `PPF_AGENT_SEED`, so an agent version is
/// identified by its predictor version and configuration
/// (``AgentArtifact/configurationKey``): one stored row per pair, with its
/// ``AgentVersionPublished`` in the same transaction. A redelivered predictor
/// event, a restart or a second instance loads that row instead of training again.
///
/// Trainings run one at a time (a gate: actor methods are re-entrant across
/// `await`) on their own queue, off the cooperative pool and apart from the
/// queue that answers dynamic events, so answers are never stuck behind a training.
public actor AgentRegistry {
    private let context: ServiceContext
    private let shapes: ModelShapes
    private let status: ServiceStatus
    private let logger: Logger
    private let queue = BlockingQueue(label: "ppf.agent.training")
    private var serving: [String: LoadedAgent] = [:]
    /// One preparation (load or train) at a time.
    private let gate = SerialGate()

    public init(context: ServiceContext, status: ServiceStatus) {
        self.context = context
        self.shapes = ModelShapes(settings: context.settings)
        self.status = status
        self.logger = context.logger
    }

    // MARK: - Answering

    /// The agent that answers `modelId`'s events: the one in memory, else one
    /// trained (or loaded) against the newest predictor version; or why none can.
    ///
    /// A model is known when it is the configured `PPF_MODEL_ID` or has
    /// measurements or predictor versions. While a newer predictor version's
    /// agent trains, the one in memory keeps answering.
    public func resolve(modelId: String) async throws -> Resolution {
        if let agent = serving[modelId] { return .ready(agent) }
        let configured = context.settings.modelId
        let (measured, newest) = try await context.pool.withConnection { connection in
            (try await MeasurementRepository.exists(modelId: modelId, on: connection),
             try await PredictorVersionRepository.latestSummary(modelId: modelId, on: connection)?.id)
        }
        guard modelId == configured || measured || newest != nil else {
            return .rejected(reason: .unknownModel, message:
                "model '\(modelId)' is unknown: it has no measurements or predictor versions, and this agent serves '\(configured)' (PPF_MODEL_ID)")
        }
        guard let newest else {
            return .rejected(reason: .noPredictor, message:
                "model '\(modelId)' has no predictor version yet, so no agent can be trained; bootstrap its predictor first (ppf bootstrap)")
        }
        return try await ensure(modelId: modelId, predictorVersionId: newest, correlationId: nil)
    }

    // MARK: - Triggers

    /// A new predictor version: train its agent, unless a newer version exists already.
    public func predictorVersionPublished(_ envelope: Envelope<PredictorVersionPublished>) async throws {
        let event = envelope.payload
        let newest = try await context.pool.withConnection {
            try await PredictorVersionRepository.latestSummary(modelId: event.modelId, on: $0)?.id
        }
        guard let newest, newest == event.versionId else {
            logger.info("skipping predictor version \(event.versionId.uuidString.lowercased()) of '\(event.modelId)': it is not the newest stored version")
            return
        }
        let resolution = try await ensure(modelId: event.modelId, predictorVersionId: newest,
                                          correlationId: envelope.correlationId)
        if case .rejected(_, let message) = resolution {
            logger.warning("no agent for predictor version \(newest.uuidString.lowercased()) of '\(event.modelId)': \(message)")
        }
    }

    /// A stored agent version (an anchored agent from `ppf agent anchor`, or
    /// another instance's training): when it belongs to the predictor version
    /// a model is served with and is not the agent serving it, prepare that
    /// model's agent again, so newly measured anchors are served at once.
    /// An event of the agent in memory changes nothing.
    public func agentVersionPublished(_ envelope: Envelope<AgentVersionPublished>) async throws {
        let event = envelope.payload
        guard let current = serving[event.modelId], current.versionId != event.versionId,
              current.predictorVersionId == event.predictorVersionId else { return }
        logger.info("agent version \(event.versionId.uuidString.lowercased()) of '\(event.modelId)' was stored; preparing the agent again")
        if case .rejected(_, let message) = try await ensure(modelId: event.modelId, predictorVersionId: event.predictorVersionId,
                                                            correlationId: envelope.correlationId, again: true) {
            logger.warning("the agent of '\(event.modelId)' cannot be prepared again: \(message)")
        }
    }

    /// On start: every model whose newest predictor version has no agent in
    /// memory gets one (loaded when stored, trained otherwise).
    public func reconcile() async throws {
        let models = try await context.pool.withConnection { try await PredictorVersionRepository.modelIds(on: $0) }
        for model in models {
            guard let newest = try await context.pool.withConnection({
                try await PredictorVersionRepository.latestSummary(modelId: model, on: $0)?.id
            }) else { continue }
            if case .rejected(_, let message) = try await ensure(modelId: model, predictorVersionId: newest, correlationId: nil) {
                logger.warning("no agent for '\(model)' on start: \(message)")
            }
        }
        if models.isEmpty { logger.info("no predictor version is stored yet; ratio events will be rejected until one is") }
    }

    // MARK: - Preparing an agent

    /// The agent of `predictorVersionId`, made current for `modelId`.
    /// `again`: prepare even when that predictor's agent is in memory (its anchors changed).
    private func ensure(modelId: String, predictorVersionId: UUID, correlationId: UUID?, again: Bool = false) async throws
        -> Resolution {
        try await gate.run {
            if !again, let agent = serving[modelId], agent.predictorVersionId == predictorVersionId { return .ready(agent) }
            status.set(activity: "preparing the agent of '\(modelId)'")
            defer { status.set(activity: "idle") }
            let resolution = try await prepare(modelId: modelId, predictorVersionId: predictorVersionId,
                                               correlationId: correlationId)
            if case .ready(let agent) = resolution {
                serving[modelId] = agent
                status.set("agent.\(modelId)", to: "\(agent.versionId.uuidString.lowercased()) (predictor \(predictorVersionId.uuidString.lowercased()))")
            }
            return resolution
        }
    }

    /// Loads the stored agent of this predictor version and configuration, or trains and stores it.
    private func prepare(modelId: String, predictorVersionId: UUID, correlationId: UUID?) async throws -> Resolution {
        let predictorId = predictorVersionId.uuidString.lowercased()
        let loaded: LoadedPredictor
        do {
            let queue = queue
            guard let found = try await context.pool.withConnection({ connection -> LoadedPredictor? in
                guard let record = try await PredictorVersionRepository.find(id: predictorVersionId, on: connection) else {
                    return nil
                }
                return try await AgentVersions.loadPredictor(record, queue: queue, on: connection)
            }) else {
                return .rejected(reason: .noPredictor, message: "predictor version \(predictorId) of '\(modelId)' is not stored")
            }
            loaded = found
        } catch let error as PredictorError {
            return .rejected(reason: .noPredictor, message: "predictor version \(predictorId) of '\(modelId)' cannot be read: \(error.message)")
        }
        let regime = loaded.regime
        if !loaded.regimeIsStored {
            logger.warning("predictor \(predictorId) lists no stored measurement; assuming \(regime.measured)")
        }

        let budget: ParameterBudget
        switch try await lookUpBudget(modelId: modelId, allowsBlockDrop: regime.includesBlockDrops) {
        case .success(let found): budget = found
        case .failure(let message): return .rejected(reason: .unknownModel, message: message)
        }
        let settings = context.settings
        var configuration = TrainingConfiguration()
        configuration.seed = settings.agentSeed
        configuration.minimumRatio = settings.agentRatioRange.lowerBound
        configuration.maximumRatio = settings.agentRatioRange.upperBound
        configuration.iterations = settings.agentIterations
        configuration.uncertaintyPenalty = loaded.uncertaintyPenalty(override: settings.agentUncertaintyPenalty)
        let kappaOrigin = settings.agentUncertaintyPenalty != nil ? "PPF_AGENT_UNCERTAINTY_PENALTY"
            : loaded.artifact.uncertaintyCalibration?.summary ?? "the default; the predictor has no calibration"
        logger.info("preparing the agent of '\(modelId)' against predictor \(predictorId): \(budget.blockCount) blocks, ratios \(configuration.ratioRange), \(configuration.iterations) steps, block drops \(budget.allowsBlockDrop ? "on" : "off"), metric \(regime.metric), κ \(String(format: "%.2f", configuration.uncertaintyPenalty)) (\(kappaOrigin))")
        let logger = logger
        let steps = configuration.iterations
        let obtained: AgentVersions.Obtained
        do {
            obtained = try await AgentVersions.obtain(
                modelId: modelId, predictor: loaded, budget: budget, configuration: configuration,
                correlationId: correlationId ?? predictorVersionId, producer: context.producerName, pool: context.pool,
                queue: queue, progress: { record in
                    if (record.iteration + 1) % 50 == 0 || record.iteration + 1 == steps {
                        logger.info("agent training step \(record.iteration + 1)/\(steps): mean reward \(String(format: "%.4f", record.meanReward)), predicted log-ppl \(String(format: "%.4f", record.meanPredictedLogPerplexity)) ± \(String(format: "%.4f", record.meanUncertainty))")
                    }
                })
        } catch let error as AgentError {
            let reason: RatioEventRejected.Reason = error.code == .ratioOutOfRange ? .ratioOutOfRange : .noPredictor
            return .rejected(reason: reason, message: "an agent for '\(modelId)' cannot be trained against predictor \(predictorId): \(error.message)")
        } catch let error as PredictorError {
            return .rejected(reason: .noPredictor, message: "predictor \(predictorId) fails on the agent's policies: \(error.message)")
        }
        let agent = obtained.agent, summary = agent.record.summary
        if obtained.anchors > 0 {
            logger.info("serving agent version \(agent.versionId.uuidString.lowercased()) of '\(modelId)': distilled toward \(obtained.anchors) measured anchor policies")
        }
        switch obtained.origin {
        case .stored:
            logger.info("loaded agent version \(agent.versionId.uuidString.lowercased()) of '\(modelId)' (predictor \(predictorId), ratios \(agent.ratioRange))")
        case .trained:
            logger.info("trained agent version \(agent.versionId.uuidString.lowercased()) of '\(modelId)' in \(String(format: "%.1f", summary.trainingSeconds)) s: \(summary.rewardCalls) predictor calls (\(summary.policiesScored) policies), final mean reward \(String(format: "%.4f", summary.finalMeanReward))")
        case .storedMeanwhile:
            logger.info("agent version \(agent.versionId.uuidString.lowercased()) of '\(modelId)' was stored meanwhile; serving it")
        }
        return .ready(agent)
    }

    /// The model's budget: from the configured checkpoint's header, else from
    /// its newest stored agent version. With drops requested, a budget that
    /// cannot plan drops falls back to none.
    private func lookUpBudget(modelId: String, allowsBlockDrop: Bool) async throws -> BudgetLookup {
        let shapes = shapes
        let layers: [LayerBudget]
        do {
            let checkpoint = try await queue.run { try shapes.configuration(modelId: modelId) }
            if let found = try await AgentVersions.layers(modelId: modelId, checkpoint: checkpoint, pool: context.pool,
                                                          queue: queue) {
                layers = found
            } else {
                return .failure("no shapes are known for model '\(modelId)': this agent reads the checkpoint of '\(context.settings.modelId)' (PPF_MODEL_ID, PPF_MODEL_FILE) and '\(modelId)' has no stored agent version")
            }
        } catch let error as ModelError {
            return .failure("the checkpoint of '\(modelId)' cannot be read: \(error.message)")
        } catch let error as AgentError {
            return .failure("the shapes of '\(modelId)' do not make an agent budget: \(error.message)")
        }
        if allowsBlockDrop {
            do {
                return .success(try ParameterBudget(layers: layers, allowsBlockDrop: true))
            } catch {
                logger.warning("block drops cannot be planned for '\(modelId)' (\(error.message)); training without them")
            }
        }
        return .success(try ParameterBudget(layers: layers, allowsBlockDrop: false))
    }

    /// A model's budget, or why there is none.
    private enum BudgetLookup {
        case success(ParameterBudget)
        case failure(String)
    }
}
