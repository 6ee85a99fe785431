import Foundation
import Logging
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - LostRequestReconciler

/// An evaluator's periodic pass for requests whose message the broker lost:
/// the local broker keeps topics in memory only, so a restart forgets every
/// request published but not yet measured, and the outbox has marked them
/// published. The pass announces such a request again, under its own request
/// id (``MeasurementRequests/republish(_:correlationId:producer:on:)``), so
/// it goes to whichever evaluator owns its partition, as the first did.
///
/// When: only while this evaluator has had nothing in hand for one
/// reconciliation interval (one busy with a backlog has its requests on the
/// way), and only for requests unmeasured for ``olderThan`` seconds since
/// they were stored or last announced again. A second announcement of a
/// request whose message was merely slow costs one lookup: the evaluator
/// skips a request that is measured. A request is announced again at most
/// ``maximumRepublishes`` times, so one that no evaluator can measure (it is
/// dead-lettered each time) does not circle for ever. Two evaluators
/// reconciling at once claim different rows (``EvaluationRequestRepository/claimStale(modelId:olderThan:maximumRepublishes:limit:on:)``).
public struct LostRequestReconciler: Sendable {
    /// Announcements of one request after its first, at most.
    public static let maximumRepublishes = 3
    /// Requests announced again per pass (one transaction); more wait for the next pass.
    public static let batchSize = 500

    public let context: ServiceContext
    /// The consumer's messages in hand.
    public let work: WorkInHand
    /// Seconds a request stays unmeasured before it is announced again.
    public let olderThan: Double
    /// How long the consumer must have been idle.
    public let quietFor: Duration

    /// A reconciler for `context`'s model, waiting ``Settings/evaluatorRepublishSeconds``
    /// and an idle ``Settings/reconcileSeconds``.
    public init(context: ServiceContext, work: WorkInHand) {
        self.init(context: context, work: work, olderThan: context.settings.evaluatorRepublishSeconds,
                  quietFor: .milliseconds(Int(context.settings.reconcileSeconds * 1000)))
    }

    /// A reconciler with explicit waits.
    public init(context: ServiceContext, work: WorkInHand, olderThan: Double, quietFor: Duration) {
        self.context = context
        self.work = work
        self.olderThan = olderThan
        self.quietFor = quietFor
    }

    /// One pass; returns how many requests it announced again (0 while the consumer is busy).
    @discardableResult
    public func reconcile() async throws -> Int {
        guard let idle = work.idleFor, idle >= quietFor else { return 0 }
        let context = context
        let modelId = context.settings.modelId
        let announced = try await context.pool.withTransaction { connection -> Int in
            let stale = try await EvaluationRequestRepository.claimStale(
                modelId: modelId, olderThan: olderThan, maximumRepublishes: Self.maximumRepublishes,
                limit: Self.batchSize, on: connection)
            for (row, policy) in stale {
                // A row that cannot make a valid message (only a hand-edited one) is skipped;
                // its claim still counts, so it stops being picked after the last attempt.
                let request: EvaluationRequest
                do {
                    guard let reason = EvaluationReason(rawValue: row.reason) else {
                        throw EnvelopeRejection.invalidPayload("unknown reason '\(row.reason)'")
                    }
                    request = try EvaluationRequest(
                        requestId: row.id, modelId: row.modelId, policyId: row.policyId, policy: policy,
                        metric: row.metric, split: row.split, tokenBudget: row.tokenBudget, window: row.window,
                        reason: reason)
                } catch {
                    context.logger.error("evaluation request \(row.id.uuidString.lowercased()) cannot be announced again: \(error)")
                    continue
                }
                try await MeasurementRequests.republish(request, correlationId: row.correlationId,
                                                        producer: context.producerName, on: connection)
            }
            return stale.count
        }
        if announced > 0 {
            context.logger.info("announced \(announced) unmeasured evaluation request(s) of '\(modelId)' again: unmeasured for \(Int(olderThan)) s while this evaluator was idle (a restarted broker forgets its messages)")
        }
        return announced
    }
}
