import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - AnswerStore

/// A model and the regime its spot-checks are measured in.
private struct RegimeOfModel: Hashable {
    let modelId: String
    let regime: MeasurementRegime
}

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
        let predictedPerplexity = publishablePerplexity(prediction, of: event, serving: serving)
        let change = event.change
        let context = context
        let answer = try await context.pool.withTransaction { connection -> PolicyPublished? in
            try await RatioEventRepository.insert(id: event.id, change: change, on: connection)
            guard try await Inbox.claim(consumer: Self.inboxConsumer, messageId: event.id, on: connection) else { return nil }
            let record = try await PolicyRepository.store(
                policy, modelId: change.modelId, source: source.rawValue, targetRatio: change.targetRatio,
                achievedRatio: achievedRatio, correlationId: event.id, on: connection).record
            let answer = try Self.answer(to: event, policyId: record.id, policy: policy, achievedRatio: achievedRatio,
                                         source: source, serving: serving, prediction: prediction,
                                         predictedPerplexity: predictedPerplexity, measuredPerplexity: measuredPerplexity)
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

    /// The predicted perplexity to publish: a perplexity below 1 (or not
    /// finite) is impossible, so such a prediction is left out, with a warning.
    private func publishablePerplexity(_ prediction: Prediction, of event: RatioEvent, serving: LoadedAgent) -> Double? {
        let predicted = exp(prediction.mean)
        guard predicted.isFinite, predicted >= 1 else {
            logger.warning("predictor \(serving.predictorVersionId.uuidString.lowercased()) predicts perplexity \(predicted) for ratio event \(event.label); publishing the policy without it")
            return nil
        }
        return predicted
    }

    /// The ``PolicyPublished`` that answers `event` with the stored policy `policyId`.
    private static func answer(to event: RatioEvent, policyId: UUID, policy: PruningPolicy, achievedRatio: Double,
                               source: PolicyPublished.Source, serving: LoadedAgent, prediction: Prediction,
                               predictedPerplexity: Double?, measuredPerplexity: Double?) throws -> PolicyPublished {
        let change = event.change
        return try PolicyPublished(
            ratioEventId: event.id, modelId: change.modelId, mode: change.mode, targetRatio: change.targetRatio,
            achievedRatio: achievedRatio, policyId: policyId, policy: policy, metric: serving.regime.metric,
            source: source, agentVersionId: serving.versionId, predictorVersionId: serving.predictorVersionId,
            predictedPerplexity: predictedPerplexity, predictedLogPerplexityStd: prediction.std,
            measuredPerplexity: measuredPerplexity)
    }

    // MARK: - Many dynamic answers

    /// The agent's answer to one event, ready to store with ``publishMany(_:)``.
    public struct ProposedAnswer: Sendable {
        public let event: RatioEvent
        public let policy: PruningPolicy
        public let achievedRatio: Double
        public let serving: LoadedAgent
        public let prediction: Prediction

        /// The agent's `policy` for `event`, achieving `achievedRatio`, scored `prediction` by `serving`'s predictor.
        public init(event: RatioEvent, policy: PruningPolicy, achievedRatio: Double, serving: LoadedAgent,
                    prediction: Prediction) {
            self.event = event
            self.policy = policy
            self.achievedRatio = achievedRatio
            self.serving = serving
            self.prediction = prediction
        }
    }

    /// Publishes many agent answers (source `agent`) in ONE transaction, with
    /// what ``publish(_:policy:achievedRatio:source:serving:prediction:measuredPerplexity:verificationMeasurements:)``
    /// writes for each — event rows, inbox claims, policies, outcomes, outbox
    /// entries, spot-check requests, audit entries — but one statement per
    /// table for all of them: under a burst, the answers of the events
    /// waiting in the consumer's buffer cost about as much as one.
    /// Exactly once as for one answer: an event claimed or answered already
    /// (or twice in `proposals`) is left out and gets nothing.
    /// - Returns: the answers published, in the order given.
    public func publishMany(_ proposals: [ProposedAnswer]) async throws -> [PolicyPublished] {
        guard !proposals.isEmpty else { return [] }
        let predicted = proposals.map { publishablePerplexity($0.prediction, of: $0.event, serving: $0.serving) }
        let context = context
        let published = try await context.pool.withTransaction { connection -> [PolicyPublished] in
            try await RatioEventRepository.insertMany(proposals.map { ($0.event.id, $0.event.change) }, on: connection)
            let claimed = try await Inbox.claimMany(consumer: Self.inboxConsumer, messageIds: proposals.map(\.event.id),
                                                    on: connection)
            var taken = Set<UUID>()
            let fresh = proposals.indices.filter {
                claimed.contains(proposals[$0].event.id) && taken.insert(proposals[$0].event.id).inserted
            }
            guard !fresh.isEmpty else { return [] }
            let records = try await PolicyRepository.storeMany(fresh.map { index in
                let proposal = proposals[index]
                return PolicyRepository.NewPolicy(
                    proposal.policy, modelId: proposal.event.change.modelId, source: PolicyPublished.Source.agent.rawValue,
                    targetRatio: proposal.event.change.targetRatio, achievedRatio: proposal.achievedRatio,
                    correlationId: proposal.event.id)
            }, on: connection)
            let answers = try zip(fresh, records).map { index, record in
                let proposal = proposals[index]
                return try Self.answer(to: proposal.event, policyId: record.id, policy: proposal.policy,
                                       achievedRatio: proposal.achievedRatio, source: .agent, serving: proposal.serving,
                                       prediction: proposal.prediction, predictedPerplexity: predicted[index],
                                       measuredPerplexity: nil)
            }
            let stored = try await RatioEventOutcomeRepository.insertMany(answers.map { .answered($0) }, on: connection)
            let kept = zip(fresh, answers).filter { stored.contains($0.1.ratioEventId) }
            try await Outbox.enqueueMany(try kept.map { _, answer in
                try Outbox.Entry(Envelope(correlationId: answer.ratioEventId, producer: context.producerName, payload: answer),
                                 topic: Topic.prunedPolicies, key: answer.modelId)
            }, on: connection)
            if context.settings.agentSpotChecks {
                // One request per policy and regime; the agents of different models measure in their own regimes.
                let byRegime = Dictionary(grouping: kept) { index, answer in
                    RegimeOfModel(modelId: answer.modelId, regime: proposals[index].serving.regime.measured)
                }
                for (group, members) in byRegime.sorted(by: { $0.key.modelId < $1.key.modelId }) {
                    _ = try await MeasurementRequests.ensureMany(
                        members.map { ($0.1.policyId, $0.1.policy, $0.1.ratioEventId) }, modelId: group.modelId,
                        regime: group.regime, reason: .spotCheck, producer: context.producerName, on: connection)
                }
            }
            try await AuditLog.recordMany(actor: context.producerName, action: "policy.published",
                                          entries: kept.map { (correlationId: $0.1.ratioEventId, details: $0.1) },
                                          on: connection)
            return kept.map(\.1)
        }
        if !published.isEmpty {
            FaultInjection.crashIfRequested(at: FaultInjection.agentAfterAnswerCommit)
            status.count("answered", by: published.count)
        }
        return published
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
