import Dispatch
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime
import PPFStore

// MARK: - InProcessMeasurer

/// Measures policies in this process: plan with a ``PruningSession``,
/// apply, and score perplexity on fixed tokens, and, given a
/// ``DenseReference`` on them, the KL divergence from the dense model in the
/// same pass. `ppf prune --policy static` and `ppf bench results` verify with it.
public struct InProcessMeasurer: PolicyMeasurer {
    /// The model, its calibration and its plan builder.
    public let session: PruningSession
    /// The tokens every candidate is scored on.
    public let tokens: [Int]
    /// The window each scored chunk uses.
    public let window: Int
    /// The dense model's distributions on `tokens`, when divergences are measured.
    public let reference: DenseReference?
    /// The dense states the perplexity measurements start from (``DensePrefixCache``),
    /// nil for divergence measurements or a 0-byte budget.
    public let prefixCache: DensePrefixCache?
    private let queue: BlockingQueue

    /// A measurer over `tokens` in windows of `window`; work runs on `queue`.
    /// - Parameter prefixCacheBytes: the bound of the dense prefix cache its
    ///   measurements share (0: none); results are the same either way.
    public init(session: PruningSession, tokens: [Int], window: Int, queue: BlockingQueue,
                prefixCacheBytes: Int = BaseModelEngine.defaultPrefixCacheBytes) {
        self.session = session
        self.tokens = tokens
        self.window = window
        self.reference = nil
        self.queue = queue
        // Fewer than 2 tokens or a window under 2 cannot be measured at all; the evaluator says so itself.
        prefixCache = prefixCacheBytes > 0
            ? try? DensePrefixCache(dense: session.checkpoint.model.weights, tokens: tokens, windowLength: window,
                                    byteBudget: prefixCacheBytes)
            : nil
    }

    /// A measurer of perplexity and KL divergence from the dense model on `reference`'s tokens and windows.
    public init(session: PruningSession, reference: DenseReference, queue: BlockingQueue) {
        self.session = session
        self.tokens = reference.tokens
        self.window = reference.windowLength
        self.reference = reference
        self.prefixCache = nil
        self.queue = queue
    }

    public func measure(_ candidates: [StaticCandidate], ratio: Double,
                        onMeasured: @Sendable (Int, CandidateMeasurement) async -> Void) async throws -> [CandidateMeasurement?] {
        var measurements: [CandidateMeasurement?] = []
        for (index, entry) in candidates.enumerated() {
            let policy = entry.candidate.policy
            let measurement = try await queue.run { [self] in try self.timedPerplexity(of: policy, ratio: ratio) }
            measurements.append(measurement)
            await onMeasured(index, measurement)
        }
        return measurements
    }

    /// Perplexity of `policy` planned for `ratio` (nil: the policy's own), applied and scored, timed.
    /// Blocks on BLAS.
    public func timedPerplexity(of policy: PruningPolicy, ratio: Double?) throws -> CandidateMeasurement {
        let start = DispatchTime.now().uptimeNanoseconds
        if let reference {
            let model = try session.apply(try session.plan(policy, targetRatio: ratio))
            let result = try reference.divergence(of: model)
            return CandidateMeasurement(perplexity: result.perplexity,
                                        seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9,
                                        divergence: result.klDivergence)
        }
        let perplexity = try Self.perplexity(of: policy, ratio: ratio, session: session, tokens: tokens, window: window,
                                             prefixCache: prefixCache)
        return CandidateMeasurement(perplexity: perplexity,
                                    seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Perplexity of `policy` planned and applied by `session`, on `tokens` in windows of `window`,
    /// starting from `prefixCache` where it applies (made for these tokens and window). Blocks on BLAS.
    public static func perplexity(of policy: PruningPolicy, ratio: Double?, session: PruningSession, tokens: [Int],
                                  window: Int, prefixCache: DensePrefixCache? = nil) throws -> Double {
        let plan = try session.plan(policy, targetRatio: ratio)
        let model = try session.apply(plan)
        return try PerplexityEvaluator(model: model, windowLength: window)
            .evaluate(tokens, tokenBudget: tokens.count, prefixCache: prefixCache).perplexity
    }
}

// MARK: - EvaluatorMeasurer

/// Measures policies through the evaluators: each candidate is stored with
/// an ``EvaluationRequest`` (reason `static-verify`) and its outbox entry in
/// one transaction, and `measurements` is polled until every answer is in or
/// the timeout passes. The agent service's static mode verifies with it.
///
/// A resumed run (the service restarted) finds the same candidates, since
/// the search is deterministic: the requests stored before are reused, and
/// re-announced unless measured, because the broker may have forgotten them.
public struct EvaluatorMeasurer: PolicyMeasurer {
    /// Where policies, requests and measurements live.
    public let pool: PGPool
    /// The `producer` of the queued messages.
    public let producer: String
    /// The ratio event the measurements serve (their correlation id).
    public let correlationId: UUID
    /// The model the policies prune.
    public let modelId: String
    /// The regime of the measurements (the agent's predictor's, on validation).
    public let regime: MeasurementRegime
    /// How long to wait for the evaluators.
    public let timeout: Duration
    /// How often `measurements` is read.
    public let pollInterval: Duration
    /// Asked between polls; true stops the run with ``StaticPruningError/settledElsewhere``.
    public let isSettled: @Sendable () async throws -> Bool
    /// The `policies.source` of the stored candidates.
    private let policySource = PolicyPublished.Source.staticSearch.rawValue

    /// A measurer for one ratio event's candidates.
    public init(pool: PGPool, producer: String, correlationId: UUID, modelId: String, regime: MeasurementRegime,
                timeout: Duration, pollInterval: Duration = .seconds(1),
                isSettled: @escaping @Sendable () async throws -> Bool = { false }) {
        self.pool = pool
        self.producer = producer
        self.correlationId = correlationId
        self.modelId = modelId
        self.regime = regime
        self.timeout = timeout
        self.pollInterval = pollInterval
        self.isSettled = isSettled
    }

    public func measure(_ candidates: [StaticCandidate], ratio: Double,
                        onMeasured: @Sendable (Int, CandidateMeasurement) async -> Void) async throws -> [CandidateMeasurement?] {
        let requestIds = try await request(candidates, ratio: ratio)
        let deadline = ContinuousClock.now + timeout
        var measured: [UUID: MeasurementRecord] = [:]
        while true {
            let rows = try await pool.withConnection {
                try await MeasurementRepository.find(requestIds: Array(Set(requestIds)), on: $0)
            }
            for row in rows where measured[row.requestId] == nil {
                measured[row.requestId] = row
                for index in requestIds.indices where requestIds[index] == row.requestId {
                    await onMeasured(index, CandidateMeasurement(perplexity: row.perplexity))
                }
            }
            if Set(requestIds).isSubset(of: measured.keys) || ContinuousClock.now >= deadline { break }
            if try await isSettled() { throw StaticPruningError.settledElsewhere }
            try await Task.sleep(for: pollInterval)
        }
        return requestIds.map { id in measured[id].map { CandidateMeasurement(perplexity: $0.perplexity) } }
    }

    /// Stores each candidate's policy and request (reusing earlier ones), in one transaction: one request id per candidate.
    private func request(_ candidates: [StaticCandidate], ratio: Double) async throws -> [UUID] {
        let correlationId = correlationId, modelId = modelId, regime = regime, producer = producer
        let source = policySource
        return try await pool.withTransaction { connection in
            let earlier = try await EvaluationRequestRepository.all(
                correlationId: correlationId, reason: EvaluationReason.staticVerify.rawValue, on: connection)
            let byPolicy = Dictionary(earlier.map { ($0.policyId, $0) }, uniquingKeysWith: { first, _ in first })
            var requested: [UUID: UUID] = [:]
            var ids: [UUID] = []
            for entry in candidates {
                let candidate = entry.candidate
                let record = try await PolicyRepository.store(
                    candidate.policy, modelId: modelId, source: source, targetRatio: ratio,
                    achievedRatio: candidate.achievedRatio, correlationId: correlationId, on: connection).record
                if let known = requested[record.id] {
                    ids.append(known)
                    continue
                }
                let known = byPolicy[record.id]
                let request = try EvaluationRequest(
                    requestId: known?.id ?? UUID(), modelId: modelId, policyId: record.id, policy: candidate.policy,
                    regime: known.map { MeasurementRegime(metric: $0.metric, split: $0.split, tokenBudget: $0.tokenBudget,
                                                             window: $0.window) } ?? regime,
                    reason: .staticVerify)
                if known == nil {
                    try await MeasurementRequests.enqueue(request, correlationId: correlationId, producer: producer,
                                                          on: connection)
                } else if try await MeasurementRepository.find(requestId: request.requestId, on: connection) == nil {
                    try await MeasurementRequests.republish(request, correlationId: correlationId, producer: producer,
                                                            on: connection)
                }
                requested[record.id] = request.requestId
                ids.append(request.requestId)
            }
            return ids
        }
    }
}

// MARK: - The measured search in this process

extension MeasuredSearch {
    /// The two fidelities `ppf` searches with in this process: the first
    /// `tokens` of `validation`, and four times as many for the finalists.
    public static func inProcessFidelities(session: PruningSession, validation: [Int], tokens: Int, window: Int,
                                           objective: SearchObjective = .perplexity,
                                           queue: BlockingQueue) throws -> [any PolicyMeasurer] {
        try [tokens, 4 * tokens].map { count -> any PolicyMeasurer in
            let slice = Array(validation.prefix(count))
            switch objective {
            case .perplexity:
                return InProcessMeasurer(session: session, tokens: slice, window: window, queue: queue)
            case .klDivergence:
                let reference = try DenseReference(model: session.checkpoint.model, tokens: slice, windowLength: window)
                return InProcessMeasurer(session: session, reference: reference, queue: queue)
            }
        }
    }
}
