import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPredictor
import PPFRuntime
import PPFStore

// MARK: - LoadedPredictor

/// A stored predictor version, decoded, with the regime of its measurements:
/// what the agent service trains against and every `ppf predictor` command reads.
public struct LoadedPredictor: Sendable {
    /// Its row (id, model, sample count, held-out metrics).
    public let record: PredictorVersionRecord
    /// The decoded artifact: the ensemble, its training and held-out sample ids, its learning curve.
    public let artifact: PredictorArtifact
    /// The ensemble.
    public var predictor: PerformancePredictor { artifact.predictor }
    /// The metric, split, tokens and window its measurements were taken with.
    public let regime: PredictorRegime
    /// False when the version lists no stored measurement (an artifact made
    /// elsewhere) and ``regime`` is ``PredictorRegime/assumedForUnstoredMeasurements``.
    public let regimeIsStored: Bool

    /// Binds a decoded predictor to its row and regime.
    public init(record: PredictorVersionRecord, artifact: PredictorArtifact, regime: PredictorRegime,
                regimeIsStored: Bool) {
        self.record = record
        self.artifact = artifact
        self.regime = regime
        self.regimeIsStored = regimeIsStored
    }
}

extension LoadedPredictor {
    /// `κ` for an agent or a search trained against this version: `override`
    /// when given, else the penalty calibrated on the version's held-out
    /// policies, else ``TrainingConfiguration``'s default (1).
    public func uncertaintyPenalty(override: Double? = nil) -> Double {
        override ?? artifact.uncertaintyCalibration?.uncertaintyPenalty ?? TrainingConfiguration().uncertaintyPenalty
    }
}

// MARK: - LoadedAgent

/// A stored agent version, restored, bound to the predictor it was trained
/// against: what the agent service answers with and what `ppf` prunes with.
public struct LoadedAgent: Sendable {
    /// Its row (id, model, predictor version, summary).
    public let record: AgentVersionRecord
    /// The trained agent.
    public let agent: PruningAgent
    /// Its predictor, as the reward that scores its policies.
    public let reward: PredictorReward
    /// The regime of that predictor's measurements (the metric policies are meant for).
    public let regime: PredictorRegime

    /// Binds a restored or freshly trained agent to its row, reward and regime.
    public init(record: AgentVersionRecord, agent: PruningAgent, reward: PredictorReward, regime: PredictorRegime) {
        self.record = record
        self.agent = agent
        self.reward = reward
        self.regime = regime
    }

    /// `agent_versions.id`.
    public var versionId: UUID { record.id }
    /// The model it answers for.
    public var modelId: String { record.modelId }
    /// `predictor_versions.id` it was trained against.
    public var predictorVersionId: UUID { record.predictorVersionId }
    /// The ratios it answers.
    public var ratioRange: ClosedRange<Double> { agent.ratioRange }

    /// Checks that this agent was trained for `configuration`'s shapes (the
    /// model it is about to prune), since its policies index that model's blocks and levels.
    /// - Throws: ``AgentError`` `invalidArtifact` naming both block counts.
    public func requireTrained(for configuration: LlamaConfiguration, modelName: String) throws {
        let budget = try ParameterBudget(configuration: configuration, allowsBlockDrop: false)
        guard budget.layers == agent.budget.layers else {
            throw AgentError(.invalidArtifact, "agent version \(versionId.uuidString.lowercased()) was trained for other shapes than \(modelName) (\(agent.budget.blockCount) blocks vs \(budget.blockCount)); pass the model it was trained for")
        }
    }
}

extension StaticSearchConfiguration {
    /// The default search settings, scoring with the `κ` `agent` was trained
    /// with: a search from the agent's policy and the agent distrust the
    /// predictor equally (the calibrated `κ` of its predictor, by default).
    public init(scoringLike agent: LoadedAgent) {
        self.init()
        uncertaintyPenalty = agent.record.summary.uncertaintyPenalty
    }
}

// MARK: - AgentVersions

/// Agent versions, the one way both the agent service and `ppf agent train`
/// load predictors, train, store and restore agents.
public enum AgentVersions {
    /// Decodes `record` on `queue` and looks up its measurement regime.
    /// - Throws: ``PredictorError`` for an artifact that cannot be read, ``StoreError`` from the database.
    public static func loadPredictor(_ record: PredictorVersionRecord, queue: BlockingQueue,
                                     on connection: PGConnection) async throws -> LoadedPredictor {
        let bytes = record.artifact
        let artifact = try await queue.run { try PredictorArtifact.decode(jsonData: Data(bytes)) }
        let regime = try await PredictorVersionRepository.regime(versionId: record.id, on: connection)
        return LoadedPredictor(record: record, artifact: artifact, regime: regime ?? .assumedForUnstoredMeasurements,
                               regimeIsStored: regime != nil)
    }

    /// Decodes the agent of `record` on `queue`.
    /// - Throws: ``AgentError`` for an artifact that cannot be read.
    public static func restoreAgent(_ record: AgentVersionRecord, queue: BlockingQueue) async throws -> PruningAgent {
        let bytes = record.artifact
        return try await queue.run { try AgentArtifact.decode(jsonData: Data(bytes)).makeAgent() }
    }

    /// The agent of `record` bound to `predictor` (the version it names).
    /// - Throws: ``AgentError`` for an artifact that cannot be read or a
    ///   predictor that cannot score its policies.
    public static func restore(_ record: AgentVersionRecord, predictor: LoadedPredictor,
                               queue: BlockingQueue) async throws -> LoadedAgent {
        let agent = try await restoreAgent(record, queue: queue)
        return LoadedAgent(record: record, agent: agent,
                           reward: try PredictorReward(predictor: predictor.predictor, blockCount: agent.budget.blockCount),
                           regime: predictor.regime)
    }

    /// The row that stores `trained`, an agent of `modelId` trained with
    /// `configuration` against `predictorVersionId`.
    public static func record(of trained: (agent: PruningAgent, report: TrainingReport), modelId: String,
                              predictorVersionId: UUID, configuration: TrainingConfiguration,
                              correlationId: UUID?) throws -> AgentVersionRecord {
        let artifact = AgentArtifact(agent: trained.agent, report: trained.report,
                                     predictorVersion: predictorVersionId.uuidString.lowercased())
        return AgentVersionRecord(
            modelId: modelId, predictorVersionId: predictorVersionId, artifact: Array(try artifact.jsonData()),
            configurationKey: AgentArtifact.configurationKey(configuration, allowsBlockDrop: trained.agent.budget.allowsBlockDrop),
            summary: artifact.summary, correlationId: correlationId)
    }

    /// Stores `version` with its ``AgentVersionPublished`` (outbox, correlated
    /// by `correlationId`) and an `agent.trained` audit entry, in one
    /// transaction. A version of the same predictor and configuration stored
    /// first (by another trainer) wins; nothing else is written then.
    /// - Returns: the stored row and whether this call inserted it.
    public static func store(_ version: AgentVersionRecord, correlationId: UUID, producer: String,
                             pool: PGPool) async throws -> (record: AgentVersionRecord, inserted: Bool) {
        let event = try AgentVersionPublished(modelId: version.modelId, versionId: version.id,
                                              predictorVersionId: version.predictorVersionId, summary: version.summary)
        let envelope = Envelope(correlationId: correlationId, producer: producer, payload: event)
        return try await pool.withTransaction { connection in
            let result = try await AgentVersionRepository.insert(version, on: connection)
            guard result.inserted else { return result }
            _ = try await Outbox.enqueue(envelope, topic: Topic.agentVersions, key: version.modelId, on: connection)
            try await AuditLog.record(actor: producer, action: "agent.trained", correlationId: correlationId,
                                      details: event, on: connection)
            return result
        }
    }

    /// What ``obtain(modelId:predictor:budget:configuration:correlationId:producer:pool:queue:progress:)`` found or made.
    public struct Obtained: Sendable {
        /// The agent, bound to its predictor.
        public let agent: LoadedAgent
        /// How its RL-trained base came to be.
        public let origin: Origin
        /// How many measured anchors it was distilled toward (0: the RL-trained agent itself).
        public let anchors: Int

        /// What was found or made.
        public init(agent: LoadedAgent, origin: Origin, anchors: Int = 0) {
            self.agent = agent
            self.origin = origin
            self.anchors = anchors
        }

        /// How an agent version came to be.
        public enum Origin: Sendable, Equatable {
            /// A version of this predictor and configuration was stored already and is restored.
            case stored
            /// This call trained and stored it.
            case trained
            /// This call trained one, but another trainer stored the same version first: that one is restored.
            case storedMeanwhile
        }
    }

    /// The agent of `predictor` trained with `configuration` over `budget`:
    /// restored when that version is stored, else trained on `queue`
    /// (`progress` told each step), stored with its event and audit entry,
    /// and, if another trainer stored it first, that one restored. The one
    /// way the agent service and `ppf agent train` make agents.
    /// - Throws: ``AgentError`` and ``PredictorError`` from training or scoring; ``StoreError``.
    public static func obtain(modelId: String, predictor: LoadedPredictor, budget: ParameterBudget,
                              configuration: TrainingConfiguration, correlationId: UUID?, producer: String, pool: PGPool,
                              queue: BlockingQueue,
                              progress: (@Sendable (IterationRecord) -> Void)? = nil) async throws -> Obtained {
        let base = try await obtainTrained(modelId: modelId, predictor: predictor, budget: budget,
                                           configuration: configuration, correlationId: correlationId, producer: producer,
                                           pool: pool, queue: queue, progress: progress)
        guard let anchors = try await latestAnchors(modelId: modelId, fitting: base.agent.agent, pool: pool, queue: queue)
        else { return base }
        let anchored = try await anchored(base.agent, anchors: anchors, correlationId: correlationId, producer: producer,
                                          pool: pool, queue: queue)
        return Obtained(agent: anchored.agent, origin: base.origin, anchors: anchors.count)
    }

    /// The agent of `predictor` trained with `configuration` (no anchors).
    private static func obtainTrained(modelId: String, predictor: LoadedPredictor, budget: ParameterBudget,
                                      configuration: TrainingConfiguration, correlationId: UUID?, producer: String,
                                      pool: PGPool, queue: BlockingQueue,
                                      progress: (@Sendable (IterationRecord) -> Void)?) async throws -> Obtained {
        let reward = try PredictorReward(predictor: predictor.predictor, blockCount: budget.blockCount)
        let key = AgentArtifact.configurationKey(configuration, allowsBlockDrop: budget.allowsBlockDrop)
        if let stored = try await pool.withConnection({
            try await AgentVersionRepository.find(predictorVersionId: predictor.record.id, configurationKey: key, on: $0)
        }) {
            return Obtained(agent: LoadedAgent(record: stored, agent: try await restoreAgent(stored, queue: queue),
                                               reward: reward, regime: predictor.regime), origin: .stored)
        }
        let trained = try await queue.run {
            try PruningAgent.train(budget: budget, configuration: configuration, progress: progress, reward: reward.model)
        }
        let version = try record(of: trained, modelId: modelId, predictorVersionId: predictor.record.id,
                                 configuration: configuration, correlationId: correlationId)
        let stored = try await store(version, correlationId: correlationId ?? version.id, producer: producer, pool: pool)
        if stored.inserted {
            return Obtained(agent: LoadedAgent(record: version, agent: trained.agent, reward: reward, regime: predictor.regime),
                            origin: .trained)
        }
        // Another trainer stored this version first: serve exactly what it stored.
        return Obtained(agent: LoadedAgent(record: stored.record, agent: try await restoreAgent(stored.record, queue: queue),
                                           reward: reward, regime: predictor.regime), origin: .storedMeanwhile)
    }

    // MARK: - Anchors

    /// `base` distilled toward `anchors` (``PruningAgent/distilled(toward:configuration:)``),
    /// bound to `base`'s predictor: restored when that version is stored
    /// (same predictor, base configuration and anchors), else fitted on
    /// `queue` and stored with its event and audit entry. The distilled agent
    /// keeps `base`'s training report; its artifact lists the anchors and the fit error.
    /// - Throws: ``AgentError`` for anchors that do not fit the agent; ``StoreError``.
    /// - Parameter fitted: the distillation, when the caller has made it already (it is deterministic).
    public static func anchored(_ base: LoadedAgent, anchors: [AgentAnchor], fitted given: (agent: PruningAgent, rootMeanSquareError: Double)? = nil,
                                correlationId: UUID?, producer: String,
                                pool: PGPool, queue: BlockingQueue) async throws
        -> (agent: LoadedAgent, fitError: Double, inserted: Bool) {
        let bytes = base.record.artifact
        let baseArtifact = try await queue.run { try AgentArtifact.decode(jsonData: Data(bytes)) }
        let baseKey = AgentArtifact.configurationKey(baseArtifact.configuration,
                                                     allowsBlockDrop: baseArtifact.budget.allowsBlockDrop)
        let key = AgentArtifact.anchoredKey(base: baseKey, anchors: anchors)
        if let stored = try await pool.withConnection({
            try await AgentVersionRepository.find(predictorVersionId: base.predictorVersionId, configurationKey: key, on: $0)
        }) {
            let artifactBytes = stored.artifact
            let artifact = try await queue.run { try AgentArtifact.decode(jsonData: Data(artifactBytes)) }
            return (LoadedAgent(record: stored, agent: try artifact.makeAgent(), reward: base.reward, regime: base.regime),
                    artifact.anchorFitError ?? .nan, false)
        }
        let agent = base.agent
        let fitted: (agent: PruningAgent, rootMeanSquareError: Double)
        if let given { fitted = given } else { fitted = try await queue.run { try agent.distilled(toward: anchors) } }
        let artifact = AgentArtifact(agent: fitted.agent, report: baseArtifact.report,
                                     predictorVersion: base.predictorVersionId.uuidString.lowercased(), anchors: anchors,
                                     fitError: fitted.rootMeanSquareError)
        let version = AgentVersionRecord(
            modelId: base.modelId, predictorVersionId: base.predictorVersionId, artifact: Array(try artifact.jsonData()),
            configurationKey: artifact.configurationKey, summary: artifact.summary, correlationId: correlationId)
        let stored = try await store(version, correlationId: correlationId ?? version.id, producer: producer, pool: pool)
        if stored.inserted {
            return (LoadedAgent(record: version, agent: fitted.agent, reward: base.reward, regime: base.regime),
                    fitted.rootMeanSquareError, true)
        }
        return (LoadedAgent(record: stored.record, agent: try await restoreAgent(stored.record, queue: queue),
                            reward: base.reward, regime: base.regime), fitted.rootMeanSquareError, false)
    }

    /// The anchors of `modelId`'s newest anchored agent version (any
    /// predictor) that `agent` can be distilled toward: same blocks and
    /// levels, anchors inside its ratio range; nil when there are none.
    /// - Throws: ``AgentError`` for a stored artifact that cannot be read; ``StoreError``.
    public static func latestAnchors(modelId: String, fitting agent: PruningAgent, pool: PGPool,
                                     queue: BlockingQueue) async throws -> [AgentAnchor]? {
        guard let stored = try await pool.withConnection({
            try await AgentVersionRepository.latest(modelId: modelId, configurationKeyContaining: AgentArtifact.anchoredKeyMarker,
                                                    on: $0)
        }) else { return nil }
        let bytes = stored.artifact
        let artifact = try await queue.run { try AgentArtifact.decode(jsonData: Data(bytes)) }
        guard artifact.budget == agent.budget, let anchors = artifact.anchors?.filter({ agent.ratioRange.contains($0.ratio) }),
              !anchors.isEmpty else { return nil }
        return anchors
    }

    /// The prunable layers of `modelId`: from `checkpoint`'s header when
    /// given, else from its newest stored agent version (nil: neither).
    /// - Throws: ``ModelError`` for a checkpoint that cannot be read; ``AgentError``.
    public static func layers(modelId: String, checkpoint: LlamaConfiguration?, pool: PGPool,
                              queue: BlockingQueue) async throws -> [LayerBudget]? {
        if let checkpoint { return try ParameterBudget(configuration: checkpoint, allowsBlockDrop: false).layers }
        guard let stored = try await pool.withConnection({ try await AgentVersionRepository.latest(modelId: modelId, on: $0) })
        else { return nil }
        return try await restoreAgent(stored, queue: queue).budget.layers
    }
}
