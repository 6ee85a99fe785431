import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFStore

// MARK: - BootstrapCandidate

/// A policy proposed for the predictor's training set, with where it came from.
public struct BootstrapCandidate: Sendable {
    /// The policy.
    public let policy: PruningPolicy
    /// `baseline:<name>`, `sampler:<kind>`, `sampler:perturbation:<name>` or
    /// `profile:<kind>`, stored in `policies.source` (see ``PolicySources``).
    public let source: String
    /// The ratio it was made for.
    public let targetRatio: Double
    /// The ratio it reaches.
    public let achievedRatio: Double

    /// Creates a candidate.
    public init(policy: PruningPolicy, source: String, targetRatio: Double, achievedRatio: Double) {
        self.policy = policy
        self.source = source
        self.targetRatio = targetRatio
        self.achievedRatio = achievedRatio
    }
}

extension BootstrapCandidate {
    /// The `source` prefix of the sensitivity profile's probes (`profile:<kind>`).
    public static let sensitivityProbeSource = "profile:"

    /// Whether this candidate is one of the sensitivity profile's probes.
    public var isSensitivityProbe: Bool { source.hasPrefix(Self.sensitivityProbeSource) }

    /// The candidates of a bootstrap, in order: the sensitivity profile's
    /// probes when `probes` is given (source `profile:<kind>`), each
    /// hand-made baseline at each ratio 0.1, 0.2, … 0.6 inside `ratioRange`,
    /// then `count` policies of the sampler (seeded with the baselines), so a
    /// store that already holds some of them still has enough new ones.
    /// - Parameter session: plans the baselines (OWL and ShortGPT need its calibration statistics).
    /// - Throws: ``AgentError`` from the budget or the sampler; ``ModelError`` from the accounting.
    public static func proposals(session: PruningSession, ratioRange: ClosedRange<Double>, count: Int,
                                 seed: UInt64, probes: SensitivityProbes? = nil) throws -> [BootstrapCandidate] {
        let configuration = session.checkpoint.model.configuration
        let budget = try ParameterBudget(configuration: configuration, allowsBlockDrop: true)
        let accounting = ParameterAccounting(configuration: configuration)
        var candidates: [BootstrapCandidate] = []
        for probe in try probes?.probes(for: budget) ?? [] {
            let achieved = try accounting.achievedRatio(probe.policy)
            candidates.append(BootstrapCandidate(policy: probe.policy, source: Self.sensitivityProbeSource + probe.kind,
                                                 targetRatio: achieved, achievedRatio: achieved))
        }
        let probeCount = candidates.count
        // Tenths as k/10, not a float stride, which would make the third 0.30000000000000004.
        for ratio in (1...6).map({ Double($0) / 10 }) where ratioRange.contains(ratio) {
            for baseline in BaselinePolicy.allCases {
                guard let policy = try? session.policy(.baseline(baseline), targetRatio: ratio) else { continue }
                candidates.append(BootstrapCandidate(policy: policy, source: "baseline:\(baseline.rawValue)",
                                                     targetRatio: ratio, achievedRatio: try accounting.achievedRatio(policy)))
            }
        }
        let sampler = try PolicySampler(projection: try BudgetProjection(budget: budget),
                                        configuration: PolicySampler.Configuration(ratioRange: ratioRange))
        let seeds = Array(candidates.dropFirst(probeCount))
        let drawn = try sampler.sample(count: count, seed: seed, seedPolicies: seeds.map(\.policy))
        return candidates + drawn.map { sample in
            // A perturbation names the rule it perturbs: grouped cross-validation keeps the family in one fold.
            let rule = sample.seedIndex.flatMap { seeds.indices.contains($0) ? PolicySources.family(of: seeds[$0].source) : nil }
            let source = rule.map(PolicySources.perturbation(of:)) ?? "sampler:\(sample.kind.rawValue)"
            return BootstrapCandidate(policy: sample.policy, source: source, targetRatio: sample.targetRatio,
                                      achievedRatio: sample.achievedRatio)
        }
    }
}

// MARK: - BootstrapQueue

/// Phase 1's measurement queue: makes one model's regime hold a number of
/// bootstrap requests, resumably, for the evaluators to measure.
///
/// A rerun with the same regime counts what is stored: requests already
/// measured are reused, requests still unmeasured are announced again (the
/// broker may have forgotten them), and only the shortfall is filled with new
/// candidates, skipping any policy that already has a request in the regime
/// (of any reason). Rows go in transactions of ``batchSize``, so a crash
/// loses little and the next run continues.
public struct BootstrapQueue: Sendable {
    /// Where the requests are stored.
    public let pool: PGPool
    /// The name the outbox messages are sent as (`service/instance`).
    public let producer: String
    /// The model measured.
    public let modelId: String
    /// The regime measured in.
    public let regime: MeasurementRegime
    /// Rows per transaction: small enough that a crash loses little work, large enough to be quick.
    public static let batchSize = 25

    /// Creates a queue for `modelId` in `regime`.
    public init(pool: PGPool, producer: String, modelId: String, regime: MeasurementRegime) {
        self.pool = pool
        self.producer = producer
        self.modelId = modelId
        self.regime = regime
    }

    /// What ``fill(from:upTo:)`` did.
    public struct Filled: Sendable, Equatable {
        /// Every bootstrap request of the regime, the ones to wait for.
        public var requestIds: [UUID]
        /// Of those, how many were measured before this call.
        public var alreadyMeasured: Int
        /// How many this call stored.
        public var newlyStored: Int
        /// How many stored, unmeasured ones this call announced again.
        public var republished: Int
    }

    /// Makes the regime hold `count` bootstrap requests, drawing new ones
    /// from `candidates` in order. Holds fewer when the candidates run out
    /// of policies the regime has not seen (``Filled/requestIds`` says how many).
    /// - Throws: ``StoreError`` from the database, ``EnvelopeRejection`` for
    ///   a regime whose window is longer than its budget.
    public func fill(from candidates: [BootstrapCandidate], upTo count: Int) async throws -> Filled {
        let modelId = modelId, regime = regime, producer = producer
        let existing = try await pool.withConnection { connection in
            try await EvaluationRequestRepository.all(modelId: modelId, in: regime, reason: .bootstrap, on: connection)
        }
        var filled = Filled(requestIds: existing.map(\.id), alreadyMeasured: existing.filter(\.measured).count,
                            newlyStored: 0, republished: 0)

        // Announce again what the broker may have forgotten, under the same ids.
        for batch in existing.filter({ !$0.measured }).chunked(into: Self.batchSize) {
            try await pool.withTransaction { connection in
                for item in batch {
                    let request = try EvaluationRequest(requestId: item.id, modelId: modelId, policyId: item.policyId,
                                                        policy: item.policy, regime: regime, reason: .bootstrap)
                    try await MeasurementRequests.republish(request, correlationId: item.correlationId,
                                                            producer: producer, on: connection)
                }
            }
            filled.republished += batch.count
        }

        guard existing.count < count else { return filled }
        var seen = try await pool.withConnection { connection in
            try await EvaluationRequestRepository.requestedPolicyKeys(modelId: modelId, in: regime, on: connection)
        }
        let fresh = candidates.filter { seen.insert($0.policy.canonicalKey()).inserted }.prefix(count - existing.count)
        let run = UUID()  // one correlation id per fill, to trace it in audit_log
        for batch in Array(fresh).chunked(into: Self.batchSize) {
            let ids = try await pool.withTransaction { connection in
                var ids: [UUID] = []
                for candidate in batch {
                    let stored = try await PolicyRepository.store(
                        candidate.policy, modelId: modelId, source: candidate.source,
                        targetRatio: candidate.targetRatio, achievedRatio: candidate.achievedRatio,
                        correlationId: run, on: connection).record
                    let request = try EvaluationRequest(requestId: UUID(), modelId: modelId, policyId: stored.id,
                                                        policy: candidate.policy, regime: regime, reason: .bootstrap)
                    try await MeasurementRequests.enqueue(request, correlationId: run, producer: producer, on: connection)
                    ids.append(request.requestId)
                }
                try await AuditLog.record(actor: producer, action: "bootstrap.enqueued", correlationId: run,
                                          details: ["modelId": modelId, "requests": "\(ids.count)",
                                                    "regime": regime.description], on: connection)
                return ids
            }
            filled.requestIds += ids
            filled.newlyStored += ids.count
        }
        return filled
    }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
