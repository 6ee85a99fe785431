import Foundation
import PPFContracts
import PPFRuntime
import PPFStore

/// Which measurements are comparable: the predictor trains on one regime.
struct BootstrapRegime: CustomStringConvertible, Sendable {
    let modelId: String
    let metric: String
    let split: String
    let tokenBudget: Int
    let window: Int

    var description: String { "\(metric) plans, \(split) split, \(tokenBudget) tokens in windows of \(window)" }
}

/// A policy proposed for measurement, with where it came from.
struct BootstrapCandidate: Sendable {
    let policy: PruningPolicy
    /// `baseline:<name>` or `sampler:<kind>`, stored in `policies.source`.
    let source: String
    let targetRatio: Double
    let achievedRatio: Double
}

/// Stores bootstrap policies and their evaluation requests, resumably.
struct BootstrapPlanner {
    let context: ServiceContext
    let regime: BootstrapRegime
    /// Rows per transaction: small enough that a crash loses little work, large enough to be quick.
    static let batchSize = 25

    /// What ``enqueue(_:upTo:)`` did.
    struct Queued {
        /// Every bootstrap request of the regime, the ones to wait for.
        var requestIds: [UUID]
        var alreadyMeasured: Int
        var newlyStored: Int
        var republished: Int
    }

    /// Makes the regime hold `count` bootstrap requests: reuses the stored
    /// ones (re-publishing those without a measurement), then stores new
    /// candidates whose policy has no request in the regime yet.
    func enqueue(_ candidates: [BootstrapCandidate], upTo count: Int) async throws -> Queued {
        let regime = regime
        let existing = try await context.pool.withConnection { connection in
            try await connection.query("""
                SELECT r.id, r.correlation_id, p.id AS policy_id, p.policy,
                       EXISTS (SELECT 1 FROM measurements m WHERE m.request_id = r.id) AS measured
                  FROM evaluation_requests r JOIN policies p ON p.id = r.policy_id
                 WHERE r.model_id = \(regime.modelId) AND r.metric = \(regime.metric) AND r.split = \(regime.split)
                   AND r.token_budget = \(regime.tokenBudget) AND r.window_size = \(regime.window)
                   AND r.reason = 'bootstrap'
                 ORDER BY r.created_at, r.id
                """).map { row in
                (id: try row.decode(UUID.self, column: "id"),
                 correlation: try row.decode(UUID.self, column: "correlation_id"),
                 policyId: try row.decode(UUID.self, column: "policy_id"),
                 policy: try row.decode(SQLJSON<PruningPolicy>.self, column: "policy").value,
                 measured: try row.decode(Bool.self, column: "measured"))
            }
        }
        var queued = Queued(requestIds: existing.map(\.id), alreadyMeasured: existing.filter(\.measured).count,
                            newlyStored: 0, republished: 0)

        // Re-publish what the broker may have forgotten, under the same ids.
        let unanswered = existing.filter { !$0.measured }
        for batch in unanswered.chunked(into: Self.batchSize) {
            try await context.pool.withTransaction { connection in
                for item in batch {
                    let request = try EvaluationRequest(
                        requestId: item.id, modelId: regime.modelId, policyId: item.policyId, policy: item.policy,
                        metric: regime.metric, split: regime.split, tokenBudget: regime.tokenBudget,
                        window: regime.window, reason: .bootstrap)
                    try await context.enqueue(Envelope(correlationId: item.correlation, producer: context.producerName,
                                                       payload: request),
                                              topic: Topic.evaluationRequests, key: item.policyId.uuidString.lowercased(),
                                              on: connection)
                }
            }
            queued.republished += batch.count
        }

        guard existing.count < count else { return queued }
        // Policies that already have a request in this regime (any reason) are never measured twice.
        let measuredKeys = try await context.pool.withConnection { connection in
            Swift.Set<Swift.String>(try await connection.query("""
                SELECT DISTINCT p.policy_key FROM evaluation_requests r JOIN policies p ON p.id = r.policy_id
                 WHERE r.model_id = \(regime.modelId) AND r.metric = \(regime.metric) AND r.split = \(regime.split)
                   AND r.token_budget = \(regime.tokenBudget) AND r.window_size = \(regime.window)
                """).decode(Swift.String.self))
        }
        var seen = measuredKeys
        let fresh = candidates.filter { seen.insert($0.policy.canonicalKey()).inserted }
            .prefix(count - existing.count)
        let run = UUID()  // one correlation id per bootstrap invocation, to trace it in audit_log
        for batch in Array(fresh).chunked(into: Self.batchSize) {
            let ids = try await context.pool.withTransaction { connection in
                var ids: [UUID] = []
                for candidate in batch {
                    let stored = try await PolicyRepository.store(
                        candidate.policy, modelId: regime.modelId, source: candidate.source,
                        targetRatio: candidate.targetRatio, achievedRatio: candidate.achievedRatio,
                        correlationId: run, on: connection).record
                    let request = try EvaluationRequest(
                        requestId: UUID(), modelId: regime.modelId, policyId: stored.id, policy: candidate.policy,
                        metric: regime.metric, split: regime.split, tokenBudget: regime.tokenBudget,
                        window: regime.window, reason: .bootstrap)
                    try await EvaluationRequestRepository.insert(request, correlationId: run, on: connection)
                    try await context.enqueue(Envelope(correlationId: run, producer: context.producerName, payload: request),
                                              topic: Topic.evaluationRequests, key: stored.id.uuidString.lowercased(),
                                              on: connection)
                    ids.append(request.requestId)
                }
                try await AuditLog.record(actor: context.producerName, action: "bootstrap.enqueued", correlationId: run,
                                          details: ["modelId": regime.modelId, "requests": "\(ids.count)",
                                                    "regime": regime.description], on: connection)
                return ids
            }
            queued.requestIds += ids
            queued.newlyStored += ids.count
        }
        if queued.requestIds.count < count {
            print("note: only \(queued.requestIds.count) distinct policies were available (asked \(count))")
        }
        return queued
    }

    /// Asks the predictor service to train now (a command through the outbox).
    /// - Returns: the command's correlation id, which the version it trains (or
    ///   the audit entry saying why it did not) carries.
    @discardableResult
    func requestTraining(requestedBy: String) async throws -> UUID {
        try await Self.requestTraining(context: context, modelId: regime.modelId, requestedBy: requestedBy)
    }

    /// Asks the predictor service to train `modelId` now; returns the command's correlation id.
    static func requestTraining(context: ServiceContext, modelId: String, requestedBy: String) async throws -> UUID {
        let command = try PredictorCommand(modelId: modelId, action: .train, requestedBy: requestedBy)
        let envelope = Envelope(correlationId: UUID(), producer: context.producerName, payload: command)
        try await context.pool.withTransaction { connection in
            try await context.enqueue(envelope, topic: Topic.predictorCommands, key: modelId, on: connection)
        }
        _ = try await context.makeOutboxRelay().publishPending()
        print("asked the predictor service to train '\(modelId)'")
        return envelope.correlationId
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
