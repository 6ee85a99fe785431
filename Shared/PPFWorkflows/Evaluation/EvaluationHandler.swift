import Foundation
import Logging
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore

// MARK: - EvaluationHandler

/// Answers one ``EvaluationRequest`` with exactly one measurement.
///
/// Exactly once, across redeliveries and instances: the measurement row is
/// keyed by request id (unique), and the row, its ``PerplexityMeasurement``
/// (outbox) and the policy's achieved ratio are written in one transaction
/// after the measurement. A process killed mid-measurement has written
/// nothing and committed no offset, so the request is measured again by the
/// next owner of its partition; a request already answered is skipped before
/// any work, and a race between two instances leaves one row (the loser's
/// insert returns nil and it writes nothing).
public struct EvaluationHandler: Sendable {
    /// The inbox name requests are claimed under.
    public static let inboxConsumer = "evaluator.requests"

    public let context: ServiceContext
    public let engine: BaseModelEngine
    public let status: ServiceStatus

    /// Creates the value from its parts.
    public init(context: ServiceContext, engine: BaseModelEngine, status: ServiceStatus) {
        self.context = context
        self.engine = engine
        self.status = status
    }

    private var logger: Logger { context.logger }

    /// Validates, measures and stores one request.
    /// - Throws: ``EnvelopeRejection`` for a request this evaluator can never
    ///   answer (dead-lettered with the reason); other errors are retried.
    public func handle(_ envelope: Envelope<EvaluationRequest>) async throws {
        let request = envelope.payload
        let (split, metric) = try check(request)
        let id = request.requestId.uuidString.lowercased()
        let (existing, row, storedPolicy) = try await context.pool.withConnection { connection in
            let row = try await EvaluationRequestRepository.find(id: request.requestId, on: connection)
            var policy: PolicyRecord?
            if let row { policy = try await PolicyRepository.find(id: row.policyId, on: connection) }
            return (try await MeasurementRepository.find(requestId: request.requestId, on: connection), row, policy)
        }
        if existing != nil {
            logger.info("skipping request \(id): it is already measured")
            return
        }
        guard let row else {
            throw EnvelopeRejection.invalidPayload(
                "no evaluation_requests row for request \(id); whoever asks must store the row with the message (outbox)")
        }
        guard let storedPolicy else {
            throw EnvelopeRejection.invalidPayload("request \(id)'s row names policy \(row.policyId.uuidString.lowercased()), which is not stored")
        }
        // The pruner and model-host build from stored rows; the evaluator measures only
        // a message that agrees with its row, so a forged one cannot file a wrong number.
        let differences = row.differences(from: request, storedPolicy: storedPolicy.policy)
        guard differences.isEmpty else {
            throw EnvelopeRejection.invalidPayload(
                "request \(id) differs from its stored row: \(differences.joined(separator: "; "))")
        }

        let policyId = request.policyId.uuidString.lowercased()
        status.set(activity: "evaluating request \(id) (policy \(policyId), \(request.split), \(request.tokenBudget) tokens)")
        defer { status.set(activity: "idle") }
        logger.info("measuring request \(id): policy \(policyId), metric \(metric.rawValue), \(request.split) split, \(request.tokenBudget) tokens in windows of \(request.window)")
        let started = Date()
        let progress = StatusProgress(status: status, logger: logger, label: id)
        let outcome = try await engine.measure(policy: request.policy, metric: metric, split: split,
                                               tokenBudget: request.tokenBudget, window: request.window,
                                               progress: progress)
        let measurement = try PerplexityMeasurement(
            requestId: request.requestId, policyId: request.policyId, modelId: request.modelId, split: request.split,
            tokenBudget: request.tokenBudget, window: request.window, nll: outcome.nll, perplexity: outcome.perplexity,
            tokensCounted: outcome.tokensCounted, seconds: outcome.seconds, evaluatorId: context.settings.instanceId,
            engineVersion: BaseModelEngine.version, achievedRatio: outcome.achievedRatio)
        logger.info("measured request \(id): ppl \(String(format: "%.3f", outcome.perplexity)) on \(outcome.tokensCounted) tokens, achieved ratio \(String(format: "%.4f", outcome.achievedRatio)), \(String(format: "%.2f", outcome.seconds)) s measuring (\(String(format: "%.2f", Date().timeIntervalSince(started))) s in all)\(outcome.blocksSkippedPerWindow > 0 ? String(format: ", %.1f blocks per window skipped by the dense prefix cache", outcome.blocksSkippedPerWindow) : "")")

        let notification = Envelope(correlationId: envelope.correlationId, producer: context.producerName, payload: measurement)
        let context = context
        let profile = try await engine.profileToStore(metric: metric, modelId: request.modelId)
        let stored = try await context.once(envelope, consumer: Self.inboxConsumer) { connection -> Bool in
            if let profile { try await ImportanceProfileRepository.store(profile, on: connection) }
            guard try await MeasurementRepository.insert(measurement, on: connection) != nil else { return false }
            try await context.enqueue(notification, topic: Topic.measurements, key: policyId, on: connection)
            try await PolicyRepository.setAchievedRatio(measurement.achievedRatio, policyId: request.policyId, on: connection)
            return true
        }
        if profile != nil, stored != nil { await engine.profileStored(metric: metric) }
        if stored == true {
            FaultInjection.crashIfRequested(at: FaultInjection.evaluatorAfterMeasurementCommit)
            status.count("measured")
        } else {
            logger.info("request \(id) was measured by another evaluator meanwhile; this result is discarded")
        }
    }

    /// What a decoder cannot check: the request is for this model, names a
    /// known split and metric, and fits the model's blocks and context.
    private func check(_ request: EvaluationRequest) throws(EnvelopeRejection) -> (CorpusSplit, MetricKind) {
        try request.validate()
        let modelId = context.settings.modelId
        guard request.modelId == modelId else {
            throw .invalidPayload("this evaluator measures model '\(modelId)', not '\(request.modelId)'")
        }
        guard let split = CorpusSplit(rawValue: request.split) else {
            throw .invalidPayload("unknown split '\(request.split)'; use one of \(CorpusSplit.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let metric = MetricKind(rawValue: request.metric) else {
            throw .invalidPayload("unknown importance metric '\(request.metric)'; use one of \(MetricKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard request.policy.layers.count == engine.blockCount else {
            throw .invalidPayload("the policy has \(request.policy.layers.count) layers but '\(modelId)' has \(engine.blockCount) blocks")
        }
        guard request.window <= engine.contextLength else {
            throw .invalidPayload("window \(request.window) exceeds the context length \(engine.contextLength) of '\(modelId)'")
        }
        return (split, metric)
    }
}
