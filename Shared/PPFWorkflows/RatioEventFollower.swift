import Foundation
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - RatioEventFollower

/// Follows one ratio event through the system in PostgreSQL (the system of
/// record): the agent's answer, the pruner's plan, the spot-check
/// measurement, and a comparison measured the same way. `ppf ratio set
/// --wait` prints what it finds.
public struct RatioEventFollower: Sendable {
    /// Where the event's rows are read, and the comparison request written.
    public let pool: PGPool
    /// The `producer` of the comparison request's envelope.
    public let producer: String
    /// The event followed.
    public let eventId: UUID
    /// How long to wait for the answer.
    public let answerTimeout: Duration
    /// How long to wait for each measurement.
    public let measureTimeout: Duration
    /// Publishes the outbox now, so the comparison request does not wait for a service's relay.
    let publishPending: @Sendable () async -> Void
    /// How often PostgreSQL is read for the answer and the plan.
    public static let poll: Duration = .milliseconds(200)
    /// How often PostgreSQL is read for a measurement.
    public static let measurementPoll: Duration = .milliseconds(500)

    /// A follower of `eventId` that reads `pool` and publishes with `publishPending`.
    public init(pool: PGPool, producer: String, eventId: UUID, answerTimeout: Duration, measureTimeout: Duration,
                publishPending: @escaping @Sendable () async -> Void) {
        self.pool = pool
        self.producer = producer
        self.eventId = eventId
        self.answerTimeout = answerTimeout
        self.measureTimeout = measureTimeout
        self.publishPending = publishPending
    }

    /// A follower on the stack of `context`, publishing through one outbox relay of its own.
    public init(context: ServiceContext, eventId: UUID, answerTimeout: Duration, measureTimeout: Duration) {
        let relay = context.makeOutboxRelay()
        self.init(pool: context.pool, producer: context.producerName, eventId: eventId, answerTimeout: answerTimeout,
                  measureTimeout: measureTimeout, publishPending: { _ = try? await relay.publishPending() })
    }

    /// The agent's answer and its stored policy.
    /// - Throws: ``WorkflowError`` when the event was rejected, or nothing came within ``answerTimeout``.
    public func answer() async throws -> (entry: RatioEventHistoryEntry, policy: PolicyRecord?) {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < answerTimeout {
            if let answer = try await entry(), answer.status != "pending" {
                guard answer.status == "answered", let policyId = answer.policyId else {
                    throw WorkflowError("the agent rejected the event (\(answer.reason ?? "?")): \(answer.message ?? "no message")")
                }
                let policy = try await pool.withConnection { try await PolicyRepository.find(id: policyId, on: $0) }
                return (answer, policy)
            }
            try await Task.sleep(for: Self.poll)
        }
        throw WorkflowError("no answer within \(answerTimeout); is the agent running? (`ppf status`; the event stays pending and is answered when it starts)")
    }

    /// The event's history once the pruner stored its plan (nil: none within `timeout`).
    public func plan(timeout: Duration = .seconds(30)) async throws -> RatioEventHistoryEntry? {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < timeout {
            if let entry = try await entry(), entry.planId != nil { return entry }
            try await Task.sleep(for: Self.poll)
        }
        return nil
    }

    /// The first spot-check measurement of the event's policy: its perplexity and regime (nil: none in time).
    public func spotCheck(policyId: UUID) async throws -> (perplexity: Double, regime: String)? {
        let eventId = eventId
        return try await measurement { connection in
            try await MeasurementRepository.first(policyId: policyId, correlationId: eventId, on: connection)
                .map { ($0.perplexity, "\($0.split) \($0.tokenBudget) tokens") }
        }
    }

    /// Asks the evaluators to measure `policy` (a baseline) in `regime`,
    /// reusing a stored measurement of the same policy there, and returns its perplexity (nil: none in time).
    public func measureBaseline(_ policy: PruningPolicy, named name: String, targetRatio: Double,
                                regime: MeasurementRegime, modelId: String) async throws -> Double? {
        let eventId = eventId, producer = producer
        let requestId: UUID = try await pool.withTransaction { connection in
            let stored = try await PolicyRepository.store(policy, modelId: modelId, source: "baseline:\(name)",
                                                          targetRatio: targetRatio, correlationId: eventId,
                                                          on: connection).record
            return try await MeasurementRequests.ensure(
                policyId: stored.id, policy: policy, modelId: modelId, regime: regime, reason: .spotCheck,
                correlationId: eventId, producer: producer, on: connection).requestId
        }
        await publishPending()
        return try await measurement { connection in
            try await MeasurementRepository.find(requestId: requestId, on: connection)?.perplexity
        }
    }

    private func entry() async throws -> RatioEventHistoryEntry? {
        let id = eventId
        return try await pool.withConnection { try await RatioEventHistoryRepository.entry(ratioEventId: id, on: $0) }
    }

    private func measurement<Value: Sendable>(_ query: @escaping @Sendable (PGConnection) async throws -> Value?) async throws -> Value? {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < measureTimeout {
            if let value = try await pool.withConnection(query) { return value }
            try await Task.sleep(for: Self.measurementPoll)
        }
        return nil
    }
}
