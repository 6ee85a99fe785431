import Foundation
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore
import PPFWorkflows

/// Follows one ratio event through the system in Postgres (the system of
/// record) and prints what each service did: the agent's policy, the
/// pruner's plan, the spot-check measurement, and optionally a baseline
/// measured the same way for comparison.
struct RatioWait {
    let context: ServiceContext
    let eventId: UUID
    let answerTimeout: Duration
    let measureTimeout: Duration
    static let poll: Duration = .milliseconds(200)


    /// Waits for the agent's answer and prints it (the policy block by block).
    /// - Throws: ``UserFacingError`` when the event was rejected or on timeout.
    func answer() async throws -> RatioEventHistoryEntry {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < answerTimeout {
            if let answer = try await read(), answer.status != "pending" {
                guard answer.status == "answered", let policyId = answer.policyId else {
                    throw UserFacingError("the agent rejected the event (\(answer.reason ?? "?")): \(answer.message ?? "no message")")
                }
                try await printPolicy(policyId, answer: answer)
                return answer
            }
            try await Task.sleep(for: Self.poll)
        }
        throw UserFacingError("no answer within \(answerTimeout); is the agent running? (`ppf status`; the event stays pending and is answered when it starts)")
    }

    private func read() async throws -> RatioEventHistoryEntry? {
        let id = eventId
        return try await context.pool.withConnection { connection in
            try await RatioEventHistoryRepository.entry(ratioEventId: id, on: connection)
        }
    }

    private func printPolicy(_ policyId: UUID, answer: RatioEventHistoryEntry) async throws {
        guard let record = try await context.pool.withConnection({ try await PolicyRepository.find(id: policyId, on: $0) }) else {
            return
        }
        let short = { (id: UUID?) in id.map { String($0.uuidString.lowercased().prefix(8)) } ?? "–" }
        print(String(format: "policy %@ (agent %@, predictor %@): achieved ratio %.4f, answered in %.0f ms",
                     short(policyId), short(answer.agentVersionId), short(answer.predictorVersionId),
                     answer.achievedRatio ?? .nan, answer.answerMilliseconds ?? .nan))
        if let predicted = answer.predictedPerplexity {
            print(String(format: "  predicted perplexity %.2f (σ of log-ppl %.3f)", predicted, answer.predictedLogPerplexityStd ?? .nan))
        }
        if let verified = answer.verifiedPerplexity {
            print(String(format: "  verified on validation: perplexity %.2f", verified))
        }
        // Compact: blocks on one line each for attention and MLP removal, in percent.
        let layers = record.policy.layers
        let attention = layers.map { $0.dropped ? "  D" : String(format: "%3.0f", 100 * $0.attentionRatio) }
        let mlp = layers.map { $0.dropped ? "  D" : String(format: "%3.0f", 100 * $0.mlpRatio) }
        print("  removed %, block 0 → \(layers.count - 1) (D = block dropped):")
        print("    attention " + attention.joined(separator: ""))
        print("    MLP       " + mlp.joined(separator: ""))
    }

    /// Waits a little for the pruner's plan and prints its size.
    func plan(timeout: Duration = .seconds(30)) async throws {
        let id = eventId
        let started = ContinuousClock.now
        while ContinuousClock.now - started < timeout {
            let entry = try await context.pool.withConnection { connection in
                try await RatioEventHistoryRepository.entry(ratioEventId: id, on: connection)
            }
            if let entry, let planId = entry.planId {
                print("plan \(planId.uuidString.lowercased().prefix(8)) by the pruner: keeps "
                      + "\(entry.keptParameters ?? 0) of \(entry.totalParameters ?? 0) prunable parameters (model-host swaps to it)")
                return
            }
            try await Task.sleep(for: Self.poll)
        }
        print("no plan within \(timeout) (is the pruner running? `ppf status`)")
    }

    /// Waits for the first spot-check measurement of the event's policy and returns its perplexity.
    func spotCheck(policyId: UUID) async throws -> (perplexity: Double, regime: String)? {
        let eventId = eventId
        return try await measurement { connection in
            try await MeasurementRepository.first(policyId: policyId, correlationId: eventId, on: connection)
                .map { ($0.perplexity, "\($0.split) \($0.tokenBudget) tokens") }
        }
    }

    /// Asks the evaluators to measure `policy` (a baseline) in `regime`,
    /// reusing a stored measurement of the same policy there, and returns its perplexity.
    func measureBaseline(_ policy: PruningPolicy, named name: String, targetRatio: Double,
                         regime: MeasurementRegime, modelId: String) async throws -> Double? {
        let context = context, eventId = eventId
        let requestId: UUID = try await context.pool.withTransaction { connection in
            let stored = try await PolicyRepository.store(policy, modelId: modelId, source: "baseline:\(name)",
                                                          targetRatio: targetRatio, correlationId: eventId,
                                                          on: connection).record
            return try await MeasurementRequests.ensure(
                policyId: stored.id, policy: policy, modelId: modelId, regime: regime, reason: .spotCheck,
                correlationId: eventId, producer: context.producerName, on: connection).requestId
        }
        _ = try? await context.makeOutboxRelay().publishPending()
        return try await measurement { connection in
            try await MeasurementRepository.find(requestId: requestId, on: connection)?.perplexity
        }
    }

    private func measurement<Value: Sendable>(_ query: @escaping @Sendable (PGConnection) async throws -> Value?) async throws -> Value? {
        let started = ContinuousClock.now
        while ContinuousClock.now - started < measureTimeout {
            if let value = try await context.pool.withConnection(query) { return value }
            try await Task.sleep(for: .milliseconds(500))
        }
        return nil
    }
}
