import Foundation
import Logging
import PPFAgent
import PPFBus
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore

// MARK: - RatioEventHandler

/// Answers ratio-change events.
///
/// - **Dynamic**: the agent in memory proposes the policy (one forward pass
///   and a projection, well under 10 ms), its predictor scores it, and the
///   answer commits in one transaction (``AnswerStore``). No search.
/// - **Static**: handed to ``StaticPruningService``, which searches and
///   verifies in the background, so dynamic events never wait for it.
/// - **Cannot be answered** (unknown model, no predictor yet, a ratio outside
///   the agent's range): rejected with the reason and dead-lettered; the
///   service keeps going. A malformed event or payload never reaches here:
///   the consumer dead-letters it.
public struct RatioEventHandler: Sendable {
    public let context: ServiceContext
    public let registry: AgentRegistry
    public let answers: AnswerStore
    public let searches: StaticPruningService

    /// Creates the value from its parts.
    public init(context: ServiceContext, registry: AgentRegistry, answers: AnswerStore, searches: StaticPruningService) {
        self.context = context
        self.registry = registry
        self.answers = answers
        self.searches = searches
    }
    /// Dynamic answers call BLAS: off the cooperative pool, and apart from trainings and searches.
    public let inference = BlockingQueue(label: "ppf.agent.inference")

    private var logger: Logger { context.logger }

    /// An event from the broker.
    /// - Throws: ``EnvelopeRejection`` for a payload out of range (the consumer dead-letters it).
    public func handle(_ envelope: Envelope<RatioChange>, _ message: ConsumedMessage) async throws {
        try envelope.payload.validate()
        try await answer(RatioEvent(envelope: envelope, message: message))
    }

    /// The events waiting in the consumer's buffer, in order: every dynamic
    /// event the agent can answer is answered in one transaction
    /// (``AnswerStore/publishMany(_:)``); the rest — static, out of range,
    /// for a model without an agent, invalid, or one the agent fails on —
    /// is left over for ``handle(_:_:)``, one at a time, which rejects or
    /// dead-letters it with its reason. A leftover is answered after the
    /// batch, so its outcome may be stored after those of later events.
    /// - Returns: the indices of the leftovers.
    public func handleBatch(_ batch: [(Envelope<RatioChange>, ConsumedMessage)]) async throws -> [Int] {
        var leftovers: [Int] = []
        var ready: [(index: Int, event: RatioEvent, serving: LoadedAgent)] = []
        for (index, (envelope, message)) in batch.enumerated() {
            let change = envelope.payload
            guard (try? change.validate()) != nil, change.mode == .dynamic,
                  case .ready(let serving) = try await registry.resolve(modelId: change.modelId),
                  serving.ratioRange.contains(change.targetRatio) else {
                leftovers.append(index)
                continue
            }
            ready.append((index, RatioEvent(envelope: envelope, message: message), serving))
        }
        // One event gains nothing from a batch.
        guard ready.count > 1 else { return Array(batch.indices) }
        let started = ContinuousClock.now
        let items = ready
        let proposed: [(index: Int, proposal: AnswerStore.ProposedAnswer?)] = try await inference.run {
            items.map { item in
                let ratio = item.event.change.targetRatio
                guard let policy = try? item.serving.agent.policy(forRatio: ratio),
                      let achieved = try? item.serving.agent.budget.achievedRatio(policy),
                      let prediction = try? item.serving.reward.prediction(for: policy) else {
                    return (item.index, nil)
                }
                return (item.index, AnswerStore.ProposedAnswer(event: item.event, policy: policy, achievedRatio: achieved,
                                                              serving: item.serving, prediction: prediction))
            }
        }
        leftovers += proposed.filter { $0.proposal == nil }.map(\.index)
        let proposals = proposed.compactMap(\.proposal)
        let scored = ContinuousClock.now
        let published = try await answers.publishMany(proposals)
        let committed = ContinuousClock.now
        let answered = Set(published.map(\.ratioEventId))
        for proposal in proposals {
            let event = proposal.event
            guard answered.contains(event.id), let answer = published.first(where: { $0.ratioEventId == event.id }) else {
                logger.info("ratio event \(event.label) was answered meanwhile; this answer is discarded")
                continue
            }
            let sinceCreated = Date().timeIntervalSince(event.createdAt)
            logger.info("answered ratio event \(event.label) ('\(answer.modelId)', r=\(event.change.targetRatio), dynamic): policy \(answer.policyId.uuidString.lowercased()) achieves \(String(format: "%.4f", answer.achievedRatio)), predicted ppl \(answer.predictedPerplexity.map { String(format: "%.3f", $0) } ?? "?") (log std \(String(format: "%.4f", proposal.prediction.std))), agent \(proposal.serving.versionId.uuidString.lowercased()); in a batch of \(proposals.count): policies + predictions \(milliseconds(scored - started)) ms, received → commit \(milliseconds(committed - event.receivedAt)) ms, event → commit \(String(format: "%.1f", sinceCreated * 1000)) ms")
        }
        return leftovers.sorted()
    }

    /// On start, and then periodically: answers every recorded event that has
    /// no outcome (the local broker keeps topics in memory only, so their
    /// messages may be gone).
    /// - Parameter seconds: only events at least this old (younger ones are left to the consumer).
    public func reconcile(olderThan seconds: Double = 0) async throws {
        let pending = try await context.pool.withConnection {
            try await RatioEventRepository.unanswered(olderThan: seconds, on: $0)
        }
        guard !pending.isEmpty else { return }
        logger.info("answering \(pending.count) ratio event(s) recorded without an answer")
        for record in pending {
            let event: RatioEvent
            do {
                event = try RatioEvent(record: record, producer: context.producerName)
            } catch {
                logger.error("ratio event \(record.id.uuidString.lowercased()) cannot be read back: \(error)")
                continue
            }
            try await answer(event)
        }
    }

    /// Answers one event, once.
    public func answer(_ event: RatioEvent) async throws {
        if try await answers.isAnswered(event.id) {
            logger.info("skipping ratio event \(event.label): it is answered already")
            return
        }
        let change = event.change
        switch try await registry.resolve(modelId: change.modelId) {
        case .rejected(let reason, let message):
            try await answers.reject(event, reason: reason, message: message)
        case .ready(let serving):
            guard serving.ratioRange.contains(change.targetRatio) else {
                try await answers.reject(event, reason: .ratioOutOfRange, message:
                    "target ratio \(change.targetRatio) is outside \(serving.ratioRange.lowerBound)...\(serving.ratioRange.upperBound), the range agent version \(serving.versionId.uuidString.lowercased()) of '\(change.modelId)' was trained for; ask for a ratio inside it, or retrain with PPF_AGENT_RATIOS")
                return
            }
            switch change.mode {
            case .dynamic: try await answerDynamic(event, serving: serving)
            case .static: searches.submit(StaticJob(event: event, serving: serving))
            }
        }
    }

    /// The agent's one-shot policy, scored and published.
    private func answerDynamic(_ event: RatioEvent, serving: LoadedAgent) async throws {
        let ratio = event.change.targetRatio
        let started = ContinuousClock.now
        let proposal: (policy: PruningPolicy, achieved: Double, prediction: PPFAgent.Prediction)
        do {
            proposal = try await inference.run {
                let policy = try serving.agent.policy(forRatio: ratio)
                return (policy, try serving.agent.budget.achievedRatio(policy), try serving.reward.prediction(for: policy))
            }
        } catch let error as AgentError {
            try await answers.reject(event, reason: .searchFailed, message: "the agent cannot answer r=\(ratio): \(error.message)")
            return
        } catch let error as PredictorError {
            try await answers.reject(event, reason: .searchFailed, message: "the predictor cannot score the agent's policy: \(error.message)")
            return
        }
        let proposed = ContinuousClock.now
        guard let answer = try await answers.publish(event, policy: proposal.policy, achievedRatio: proposal.achieved,
                                                     source: .agent, serving: serving, prediction: proposal.prediction) else {
            logger.info("ratio event \(event.label) was answered meanwhile; this answer is discarded")
            return
        }
        let committed = ContinuousClock.now
        let sinceCreated = Date().timeIntervalSince(event.createdAt)
        logger.info("answered ratio event \(event.label) ('\(answer.modelId)', r=\(ratio), dynamic): policy \(answer.policyId.uuidString.lowercased()) achieves \(String(format: "%.4f", answer.achievedRatio)), predicted ppl \(answer.predictedPerplexity.map { String(format: "%.3f", $0) } ?? "?") (log std \(String(format: "%.4f", proposal.prediction.std))), agent \(serving.versionId.uuidString.lowercased()); policy + prediction \(milliseconds(proposed - started)) ms, received → commit \(milliseconds(committed - event.receivedAt)) ms, event → commit \(String(format: "%.1f", sinceCreated * 1000)) ms")
    }
}

/// A duration in milliseconds with one decimal, for logs.
public func milliseconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
}
