import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - AnswerStore

/// Writes the one answer a ratio event gets, with everything that goes with
/// it, in ONE transaction: the event's row (if the asker did not record it),
/// the inbox claim on the event id, the policy, the outcome row and the
/// message through the outbox — or, for a rejection, the outcome, the
/// ``RatioEventRejected``, and the dead-letter row and message.
///
/// Exactly once: the claim (`processed_messages`) and the outcome's primary
/// key both refuse a second answer, so a redelivered event, the same event
/// found again by reconcile, or a second instance publishes nothing more.
public struct AnswerStore: Sendable {
    /// The inbox name ratio events are claimed under.
    public static let inboxConsumer = "agent.ratio-events"

    public let context: ServiceContext
    public let status: ServiceStatus

    /// Creates the value from its parts.
    public init(context: ServiceContext, status: ServiceStatus) {
        self.context = context
        self.status = status
    }

    private var logger: Logger { context.logger }

    /// The consumer group of ratio events, also named on the dead letters of rejected events.
    public var groupId: String { context.settings.consumerGroupPrefix + Self.inboxConsumer }

    /// Whether `eventId` has an outcome already.
    public func isAnswered(_ eventId: UUID) async throws -> Bool {
        try await context.pool.withConnection {
            try await RatioEventOutcomeRepository.find(ratioEventId: eventId, on: $0) != nil
        }
    }

    // MARK: - Policies

    /// Publishes `policy` as the answer to `event`.
    /// - Returns: the published message, or nil when the event was answered meanwhile (nothing is published).
    public func publish(_ event: RatioEvent, policy: PruningPolicy, achievedRatio: Double, source: PolicyPublished.Source,
                 serving: LoadedAgent, prediction: Prediction, measuredPerplexity: Double? = nil,
                 verificationMeasurements: Int = 0) async throws -> PolicyPublished? {
        let predicted = exp(prediction.mean)
        // A perplexity below 1 is impossible; such a prediction is left out rather than published.
        let predictedPerplexity: Double? = predicted.isFinite && predicted >= 1 ? predicted : nil
        if predictedPerplexity == nil {
            logger.warning("predictor \(serving.predictorVersionId.uuidString.lowercased()) predicts perplexity \(predicted) for ratio event \(event.label); publishing the policy without it")
        }
        let change = event.change
        let context = context
        let answer = try await context.pool.withTransaction { connection -> PolicyPublished? in
            try await RatioEventRepository.insert(id: event.id, change: change, on: connection)
            guard try await Inbox.claim(consumer: Self.inboxConsumer, messageId: event.id, on: connection) else { return nil }
            let record = try await PolicyRepository.store(
                policy, modelId: change.modelId, source: source.rawValue, targetRatio: change.targetRatio,
                achievedRatio: achievedRatio, correlationId: event.id, on: connection).record
            let answer = try PolicyPublished(
                ratioEventId: event.id, modelId: change.modelId, mode: change.mode, targetRatio: change.targetRatio,
                achievedRatio: achievedRatio, policyId: record.id, policy: policy, metric: serving.regime.metric,
                source: source, agentVersionId: serving.versionId, predictorVersionId: serving.predictorVersionId,
                predictedPerplexity: predictedPerplexity, predictedLogPerplexityStd: prediction.std,
                measuredPerplexity: measuredPerplexity)
            guard try await RatioEventOutcomeRepository.insert(
                .answered(answer, verificationMeasurements: verificationMeasurements), on: connection) else { return nil }
            let envelope = Envelope(correlationId: event.id, producer: context.producerName, payload: answer)
            try await context.enqueue(envelope, topic: Topic.prunedPolicies, key: change.modelId, on: connection)
            if source == .agent, context.settings.agentSpotChecks {
                try await requestSpotCheck(of: answer, regime: serving.regime.measured, on: connection)
            }
            try await AuditLog.record(actor: context.producerName, action: "policy.published", correlationId: event.id,
                                      details: answer, on: connection)
            return answer
        }
        if answer != nil {
            FaultInjection.crashIfRequested(at: FaultInjection.agentAfterAnswerCommit)
            status.count("answered")
        }
        return answer
    }

    /// Asks the evaluators to measure a published policy in the predictor's
    /// regime (reason `spot-check`, correlation id = the ratio event), unless
    /// that policy already has a request in the regime. The measurement is the
    /// truth `ppf history` shows next to the prediction, and feeds the next
    /// predictor version where the agent actually goes.
    private func requestSpotCheck(of answer: PolicyPublished, regime: MeasurementRegime,
                                  on connection: PGConnection) async throws {
        _ = try await MeasurementRequests.ensure(
            policyId: answer.policyId, policy: answer.policy, modelId: answer.modelId, regime: regime, reason: .spotCheck,
            correlationId: answer.ratioEventId, producer: context.producerName, on: connection)
    }

    // MARK: - Rejections

    /// Rejects `event`: outcome `rejected`, a ``RatioEventRejected`` on
    /// ``Topic/ratioRejections``, and the event dead-lettered (table and topic) with the reason.
    /// - Returns: false when the event was answered meanwhile (nothing is written).
    @discardableResult
    public func reject(_ event: RatioEvent, reason: RatioEventRejected.Reason, message: String) async throws -> Bool {
        let change = event.change
        let rejection = RatioEventRejected(ratioEventId: event.id, modelId: change.modelId, targetRatio: change.targetRatio,
                                           reason: reason, message: message)
        let explanation = "\(reason.rawValue): \(message)"
        var location: (partition: Int32?, offset: Int64?, key: String?, timestamp: Date?) = (nil, nil, change.modelId, nil)
        if case .message(_, let partition, let offset, let key, let timestamp) = event.origin {
            location = (Int32(partition), offset, key, timestamp)
        }
        // A letter found by reconcile did not come from a partition: -1 says so on the topic.
        let letter = DeadLetter(originalTopic: Topic.ratioEvents, partition: location.partition.map(Int.init) ?? -1,
                                offset: location.offset ?? -1, key: location.key.map { Array($0.utf8) },
                                value: event.envelopeBytes, reason: explanation, consumerGroup: groupId)
        let record = DeadLetterRecord(topic: Topic.ratioEvents, partition: location.partition, offset: location.offset,
                                      key: location.key, payload: event.envelopeBytes, reason: explanation,
                                      consumer: groupId, messageTimestamp: location.timestamp)
        let context = context
        let stored = try await context.pool.withTransaction { connection -> Bool in
            try await RatioEventRepository.insert(id: event.id, change: change, on: connection)
            guard try await Inbox.claim(consumer: Self.inboxConsumer, messageId: event.id, on: connection) else { return false }
            guard try await RatioEventOutcomeRepository.insert(.rejected(rejection, ratioEventId: event.id),
                                                               on: connection) else { return false }
            try await context.enqueue(Envelope(correlationId: event.id, producer: context.producerName, payload: rejection),
                                      topic: Topic.ratioRejections, key: change.modelId, on: connection)
            try await DeadLetterStore.record(record, on: connection)
            try await context.enqueue(Envelope(correlationId: event.id, producer: context.producerName, payload: letter),
                                      topic: Topic.deadLetters, key: location.key ?? change.modelId, on: connection)
            try await AuditLog.record(actor: context.producerName, action: "ratio-event.rejected", correlationId: event.id,
                                      details: rejection, on: connection)
            return true
        }
        if stored {
            status.count("rejected")
            logger.warning("rejected ratio event \(event.label) ('\(change.modelId)', r=\(change.targetRatio), \(change.mode.rawValue)): \(explanation)")
        }
        return stored
    }
}
