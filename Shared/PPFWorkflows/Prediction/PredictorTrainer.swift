import Foundation
import Logging
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore

// MARK: - PredictorTrainer

/// Decides when to train a model's predictor, trains it off the cooperative
/// pool, and stores each version with its ``PredictorVersionPublished`` in
/// one transaction.
///
/// Who owns what: the evaluator inserts each `measurements` row together with
/// its ``PerplexityMeasurement`` message (outbox), so the row exists before the message
/// is published. This service never writes measurements; a message is only a
/// notification, and one whose row is missing is dead-lettered. Retraining
/// is idempotent by construction: it is due when at least
/// ``Settings/predictorRetrainAfter`` of the model's measurements are not in
/// its newest version's training set, so a redelivered notification, or one
/// that arrives after training, changes nothing.
///
/// One training runs at a time in this process (a gate, since actor methods
/// are re-entrant across `await`). The design runs a single predictor instance.
public actor PredictorTrainer {
    private let context: ServiceContext
    private let cache: PredictorCache
    private let logger: Logger
    private let retrainAfter: Int
    /// Training is CPU-bound for seconds: it runs here, not on the cooperative pool.
    private let queue = BlockingQueue(label: "ppf.predictor.training")
    /// One training decision (train, or decide not to) at a time.
    private let gate = SerialGate()

    /// Share of a model's policies held out to score each version (at least 2).
    public static let heldOutFraction = 0.2
    /// Seed of the held-out split and the ensemble, so a version is reproducible from its rows.
    public static let seed: UInt64 = 1
    /// The inbox name commands are claimed under.
    public static let commandConsumer = "predictor.commands"

    public init(context: ServiceContext, cache: PredictorCache) {
        self.context = context
        self.cache = cache
        self.logger = context.logger
        self.retrainAfter = context.settings.predictorRetrainAfter
    }

    // MARK: - Triggers

    /// A measurement notification: check its row exists, then train if due.
    /// - Throws: ``EnvelopeRejection`` when no row answers the request (dead-lettered).
    public func measurementArrived(_ envelope: Envelope<PerplexityMeasurement>) async throws {
        let measurement = envelope.payload
        let stored = try await context.pool.withConnection {
            try await MeasurementRepository.find(requestId: measurement.requestId, on: $0)
        }
        guard stored != nil else {
            throw EnvelopeRejection.invalidPayload(
                "no measurement row for request \(measurement.requestId.uuidString.lowercased()) of model '\(measurement.modelId)'; the evaluator must store the row with the message (outbox)")
        }
        try await gate.run {
            try await trainIfDue(modelId: measurement.modelId, correlationId: envelope.correlationId)
        }
    }

    /// A command: train the model now (once per command message).
    public func commanded(_ envelope: Envelope<PredictorCommand>) async throws {
        let command = envelope.payload
        try await gate.run {
            let done = try await context.pool.withConnection {
                try await Inbox.isProcessed(consumer: Self.commandConsumer, messageId: envelope.messageId, on: $0)
            }
            if done {
                logger.info("skipping command \(envelope.messageId): already handled")
                return
            }
            logger.info("\(command.requestedBy) asked to train the predictor of '\(command.modelId)'")
            try await train(modelId: command.modelId, correlationId: envelope.correlationId, command: envelope.messageId)
        }
    }

    /// On start: train every model whose untrained measurements reached the threshold.
    public func reconcile() async throws {
        let models = try await context.pool.withConnection { try await MeasurementRepository.modelIds(on: $0) }
        for model in models {
            try await gate.run { try await trainIfDue(modelId: model, correlationId: nil) }
        }
    }

    // MARK: - Training

    private func trainIfDue(modelId: String, correlationId: UUID?) async throws {
        let pending = try await context.pool.withConnection { connection in
            let trained = try await PredictorVersionRepository.latestSummary(modelId: modelId, on: connection)
            // Sensitivity probes do not count: one alone teaches nothing (the profile needs every
            // block), and the bootstrap that measures them asks for a training when they are in.
            // Counting them made the demo train about eight predictor versions, and an agent on
            // each, while its probes arrived.
            return try await MeasurementRepository.count(modelId: modelId, excluding: trained?.trainingMeasurementIds ?? [],
                                                         ignoringSourcesPrefixed: BootstrapCandidate.sensitivityProbeSource,
                                                         on: connection)
        }
        guard pending >= retrainAfter else {
            logger.debug("'\(modelId)': \(pending) new measurement(s), retraining at \(retrainAfter)")
            return
        }
        logger.info("'\(modelId)': \(pending) new measurements (threshold \(retrainAfter)); training")
        try await train(modelId: modelId, correlationId: correlationId, command: nil)
    }

    /// Trains and stores a version. Input the predictor cannot use (too few
    /// samples) is logged and audited, not thrown: retrying the same message
    /// would fail the same way forever.
    private func train(modelId: String, correlationId: UUID?, command: UUID?) async throws {
        let (measured, profiles) = try await context.pool.withConnection { connection in
            try await TrainingData.load(modelId: modelId, on: connection)
        }
        let set: TrainingSet
        do {
            guard let built = try TrainingSet(measured, profiles: profiles) else {
                return try await skip(modelId, reason: "no measurements", correlationId: correlationId, command: command)
            }
            set = built
        } catch let error as PredictorError {
            return try await skip(modelId, reason: error.message, correlationId: correlationId, command: command)
        }
        let samples = set.samples
        let profile = set.profile
        let sensitivity = set.sensitivity
        let regime = set.regime
        // The agent's published predictions beside their measurements: the
        // residuals where the agent actually goes, for calibrating κ.
        let spotChecks = try await context.pool.withConnection { connection in
            try await RatioEventHistoryRepository.spotChecks(modelId: modelId, metric: regime.metric, split: regime.split,
                                                             tokenBudget: regime.tokenBudget, window: regime.window,
                                                             on: connection)
        }.map {
            UncertaintyCalibration.Residual(predicted: log($0.predictedPerplexity), std: $0.predictedLogPerplexityStd,
                                            measured: log($0.measuredPerplexity))
        }
        let started = ContinuousClock.now
        let artifact: PredictorArtifact
        do {
            artifact = try await queue.run { () throws -> PredictorArtifact in
                // A test can hold the process here and SIGKILL it mid-training (no version is stored yet).
                FaultInjection.holdIfRequested(at: FaultInjection.duringPredictorTraining)
                let (training, heldOut) = try Self.split(samples)
                return try PredictorArtifact.train(
                    training: training, heldOut: heldOut,
                    hyperparameters: PredictorHyperparameters(seed: Self.seed),
                    learningCurveSizes: LearningCurve.defaultSizes(trainingCount: training.count), spotChecks: spotChecks)
                    .attaching(profile).attaching(sensitivity: sensitivity)
            }
        } catch let error as PredictorError {
            return try await skip(modelId, reason: error.message, correlationId: correlationId, command: command)
        }
        let bytes = Array(try artifact.jsonData())
        let heldOut = artifact.heldOutMetrics.map {
            HeldOutSummary(count: $0.count, kendallTau: $0.kendallTau, spearman: $0.spearmanRho,
                           mae: $0.perplexityMAE, mape: $0.perplexityMAPE, rmseLog: $0.logPerplexityRMSE)
        }
        let version = PredictorVersionRecord(
            modelId: modelId, artifact: bytes, sampleCount: samples.count, trainingMeasurementIds: set.measurementIds,
            heldOut: heldOut, trainingSeconds: artifact.trainingSeconds, correlationId: correlationId)
        let stored = try await store(version, command: command)
        guard stored else { return }
        FaultInjection.crashIfRequested(at: FaultInjection.predictorAfterVersionCommit)
        await cache.store(modelId: modelId, versionId: version.id, predictor: artifact.predictor)
        let elapsed = ContinuousClock.now - started
        let sensitivityLine = sensitivity.map {
            "sensitivity profile of \(set.probeCount) probes: \($0.coverage.attention) attention, \($0.coverage.mlp) MLP, \($0.coverage.drops) drops"
        } ?? "no sensitivity profile"
        let metrics = heldOut.map {
            String(format: "held-out n=%d τ=%.3f ρ=%.3f MAPE=%.2f%% RMSE(log)=%.4f",
                   $0.count, $0.kendallTau, $0.spearman, 100 * $0.mape, $0.rmseLog)
        } ?? "no held-out fold (too few samples)"
        let calibration = artifact.uncertaintyCalibration?.summary ?? "κ not calibrated (too few held-out policies and spot-checks)"
        logger.info("trained predictor \(version.id.uuidString.lowercased()) for '\(modelId)' on \(samples.count) policies (\(set.regime), \(set.leftOut) left out, \(sensitivityLine)) in \(elapsed): \(metrics); \(calibration)")
    }

    /// The held-out split, or everything for training when too few samples to hold any out.
    private static func split(_ samples: [TrainingSample]) throws(PredictorError)
        -> (training: [TrainingSample], heldOut: [TrainingSample]) {
        let heldOut = max(2, Int((heldOutFraction * Double(samples.count)).rounded()))
        guard samples.count - heldOut >= PerformancePredictor.minimumTrainingSamples else { return (samples, []) }
        return try HoldoutSplit.split(samples, heldOutFraction: heldOutFraction, seed: seed)
    }

    /// Stores the version, its event and an audit entry in one transaction;
    /// claims the command in the same one. Returns false when the command was
    /// already handled (a concurrent redelivery), and nothing is stored.
    private func store(_ version: PredictorVersionRecord, command: UUID?) async throws -> Bool {
        let event = PredictorVersionPublished(
            modelId: version.modelId, versionId: version.id, sampleCount: version.sampleCount,
            heldOut: version.heldOut, trainingSeconds: version.trainingSeconds)
        let envelope = Envelope(correlationId: version.correlationId ?? version.id, producer: context.producerName,
                                payload: event)
        let context = context
        return try await context.pool.withTransaction { connection in
            if let command, try await !Inbox.claim(consumer: Self.commandConsumer, messageId: command, on: connection) {
                return false
            }
            try await PredictorVersionRepository.insert(version, on: connection)
            try await context.enqueue(envelope, topic: Topic.predictorVersions, key: version.modelId, on: connection)
            try await AuditLog.record(actor: context.producerName, action: "predictor.trained",
                                      correlationId: envelope.correlationId, details: event, on: connection)
            return true
        }
    }

    /// The audit action of a training decided against; `ppf bootstrap` waits for it or for a version.
    public static let trainingSkippedAction = "predictor.training-skipped"

    /// Records why a model was not trained (and claims the command, so it is not retried).
    private func skip(_ modelId: String, reason: String, correlationId: UUID?, command: UUID?) async throws {
        logger.warning("not training the predictor of '\(modelId)': \(reason)")
        let context = context
        try await context.pool.withTransaction { connection in
            if let command, try await !Inbox.claim(consumer: Self.commandConsumer, messageId: command, on: connection) {
                return
            }
            try await AuditLog.record(actor: context.producerName, action: Self.trainingSkippedAction,
                                      correlationId: correlationId, details: ["modelId": modelId, "reason": reason],
                                      on: connection)
        }
    }
}
