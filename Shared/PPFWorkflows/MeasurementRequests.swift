import Foundation
import PPFContracts
import PPFStore

// MARK: - MeasurementRequests

/// Asking the evaluators for a true measurement: the one workflow every
/// asker (the bootstrap, the agent's spot-checks and static verification,
/// `ppf ratio set --compare`) goes through.
///
/// A request is an `evaluation_requests` row plus an ``EvaluationRequest``
/// in the outbox, written in the caller's transaction, so the request exists
/// exactly when its message will be published (design.md, "Outbox"). The
/// message is keyed by policy id, which spreads requests over the topic's
/// partitions and so over the evaluators; evaluators measure a request id
/// once, so publishing the same request again is harmless.
public enum MeasurementRequests {
    /// Stores `request` (its policy is stored already) and queues its message,
    /// caused by `correlationId` and sent as `producer`.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction,
    ///   `foreignKeyViolation` for a policy that is not stored.
    public static func enqueue(_ request: EvaluationRequest, correlationId: UUID, producer: String,
                               on connection: PGConnection) async throws {
        try await EvaluationRequestRepository.insert(request, correlationId: correlationId, on: connection)
        try await republish(request, correlationId: correlationId, producer: producer, on: connection)
    }

    /// Queues the message of a request that is stored already, under its own
    /// ids: the broker may have forgotten it (a restarted local broker keeps
    /// nothing), and the evaluators measure it once however often it comes.
    /// - Throws: ``StoreError`` `notInTransaction` outside a transaction.
    public static func republish(_ request: EvaluationRequest, correlationId: UUID, producer: String,
                                 on connection: PGConnection) async throws {
        let envelope = Envelope(correlationId: correlationId, producer: producer, payload: request)
        _ = try await Outbox.enqueue(envelope, topic: Topic.evaluationRequests,
                                     key: request.policyId.uuidString.lowercased(), on: connection)
    }

    /// What ``ensure(policyId:policy:modelId:regime:reason:correlationId:producer:on:)`` did.
    public struct Ensured: Sendable, Equatable {
        /// The request that measures the policy in the regime.
        public let requestId: UUID
        /// Whether this call stored and queued it (false: an earlier one, of any reason, is reused).
        public let isNew: Bool

        /// Creates an outcome.
        public init(requestId: UUID, isNew: Bool) {
            self.requestId = requestId
            self.isNew = isNew
        }
    }

    /// Makes sure `policy` (stored as `policyId`) is measured in `regime`: an
    /// existing request of the policy in the regime, whatever its reason, is
    /// reused (a policy is never measured twice in one regime); otherwise a
    /// new request for `reason` is stored and queued.
    /// - Throws: ``StoreError`` as ``enqueue(_:correlationId:producer:on:)``;
    ///   ``EnvelopeRejection`` for a request that fails validation (a window longer than the budget).
    public static func ensure(policyId: UUID, policy: PruningPolicy, modelId: String, regime: MeasurementRegime,
                              reason: EvaluationReason, correlationId: UUID, producer: String,
                              on connection: PGConnection) async throws -> Ensured {
        if let existing = try await EvaluationRequestRepository.existing(policyId: policyId, in: regime, on: connection) {
            return Ensured(requestId: existing, isNew: false)
        }
        let request = try EvaluationRequest(requestId: UUID(), modelId: modelId, policyId: policyId, policy: policy,
                                            regime: regime, reason: reason)
        try await enqueue(request, correlationId: correlationId, producer: producer, on: connection)
        return Ensured(requestId: request.requestId, isNew: true)
    }

    /// ``ensure(policyId:policy:modelId:regime:reason:correlationId:producer:on:)``
    /// for many policies of one model in a handful of statements: a policy
    /// that appears twice gets one request (the first one's correlation id).
    /// - Returns: each item's outcome, in the order given.
    public static func ensureMany(_ items: [(policyId: UUID, policy: PruningPolicy, correlationId: UUID)],
                                  modelId: String, regime: MeasurementRegime, reason: EvaluationReason, producer: String,
                                  on connection: PGConnection) async throws -> [Ensured] {
        var known = try await EvaluationRequestRepository.existingMany(policyIds: items.map(\.policyId), in: regime,
                                                                      on: connection)
        var created: [(request: EvaluationRequest, correlationId: UUID)] = []
        var outcomes: [Ensured] = []
        for item in items {
            if let existing = known[item.policyId] {
                outcomes.append(Ensured(requestId: existing, isNew: false))
                continue
            }
            let request = try EvaluationRequest(requestId: UUID(), modelId: modelId, policyId: item.policyId,
                                                policy: item.policy, regime: regime, reason: reason)
            known[item.policyId] = request.requestId
            created.append((request, item.correlationId))
            outcomes.append(Ensured(requestId: request.requestId, isNew: true))
        }
        try await EvaluationRequestRepository.insertMany(created, on: connection)
        try await Outbox.enqueueMany(try created.map {
            try Outbox.Entry(Envelope(correlationId: $0.correlationId, producer: producer, payload: $0.request),
                             topic: Topic.evaluationRequests, key: $0.request.policyId.uuidString.lowercased())
        }, on: connection)
        return outcomes
    }
}
