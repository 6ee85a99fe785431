import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - StaticJob

/// A static ratio event and the agent that answers it.
struct StaticJob: Sendable {
    let event: RatioEvent
    let serving: LoadedAgent
}

/// One searched candidate sent to the evaluators.
struct Verification: Sendable {
    let candidate: SearchCandidate
    let policyId: UUID
    let requestId: UUID
}

// MARK: - StaticPruningService

/// *Static pruning* (design.md): for one fixed ratio, spend many predictor
/// calls on a search, then verify the best candidates with true measurements.
///
/// Per event: cross-entropy search from the agent's policy (``StaticSearch``,
/// 40 generations of 64 predictor-scored policies), then the top-k
/// (`PPF_AGENT_VERIFY_TOP_K`, default 3) go to the evaluators as
/// ``EvaluationRequest``s (reason `static-verify`, validation split, the
/// predictor's metric, token budget and window), stored with their outbox
/// entries in one transaction. The service polls PostgreSQL for their
/// `measurements` rows and publishes the best *measured* candidate as the
/// answer. Progress goes to ``Topic/searchProgress`` as it happens.
///
/// Jobs run as child tasks of this service, so dynamic events are never
/// behind a search; a job that stops (shutdown) leaves its event pending, and
/// the next start resumes it, reusing the verification requests it stored.
final class StaticPruningService: PPFService, @unchecked Sendable {
    // @unchecked: `running` is guarded by `lock`; everything else is immutable and Sendable.
    let name = "static-search"
    private let context: ServiceContext
    private let answers: AnswerStore
    private let status: AgentStatus
    /// Searches call the predictor (BLAS) thousands of times: their own queue.
    private let queue = BlockingQueue(label: "ppf.agent.static-search")
    private let jobs: AsyncStream<StaticJob>
    private let continuation: AsyncStream<StaticJob>.Continuation
    private let lock = NSLock()
    private var running: Set<UUID> = []

    /// How often the verification measurements are looked for.
    static let pollInterval: Duration = .seconds(1)

    private var logger: Logger { context.logger }

    init(context: ServiceContext, answers: AnswerStore, status: AgentStatus) {
        self.context = context
        self.answers = answers
        self.status = status
        (jobs, continuation) = AsyncStream.makeStream(of: StaticJob.self)
    }

    /// Starts answering `job` unless its event is already being searched.
    func submit(_ job: StaticJob) {
        let fresh = lock.withLock { running.insert(job.event.id).inserted }
        guard fresh else {
            logger.info("ratio event \(job.event.label) is being searched already")
            return
        }
        logger.info("static search for ratio event \(job.event.label) ('\(job.event.change.modelId)', r=\(job.event.change.targetRatio)) queued")
        continuation.yield(job)
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            // The stream ends when this task is cancelled (shutdown); jobs in hand are cancelled then.
            for await job in jobs {
                group.addTask { await self.perform(job) }
            }
            group.cancelAll()
        }
    }

    // MARK: - One job

    /// Runs a job to its answer, retrying after database outages; a job that
    /// cannot succeed is rejected with `search-failed`.
    private func perform(_ job: StaticJob) async {
        status.countStaticSearch(1)
        defer {
            status.countStaticSearch(-1)
            _ = lock.withLock { running.remove(job.event.id) }
        }
        let progress = ProgressPublisher(context: context, event: job.event)
        var attempt = 0
        while !Task.isCancelled {
            do {
                try await answer(job, progress: progress)
                return
            } catch is CancellationError {
                break
            } catch let error as StoreError where error.isRetriable {
                attempt += 1
                let pause = Duration.seconds(min(30, 1 << min(attempt, 5)))
                logger.warning("static search for ratio event \(job.event.label) hit \(error); retrying in \(pause)")
                do { try await Task.sleep(for: pause) } catch { break }
            } catch {
                logger.error("static search for ratio event \(job.event.label) failed: \(error)")
                await progress.send(.failed, message: "\(error)")
                do {
                    try await answers.reject(job.event, reason: .searchFailed, message: "the static search failed: \(error)")
                } catch {
                    logger.error("ratio event \(job.event.label) could not be rejected (\(error)); it stays pending until the next start")
                }
                return
            }
        }
        logger.info("static search for ratio event \(job.event.label) stopped; the event stays pending and is resumed on the next start")
    }

    /// Search, verify, publish.
    private func answer(_ job: StaticJob, progress: ProgressPublisher) async throws {
        let event = job.event, serving = job.serving
        let ratio = event.change.targetRatio
        let settings = context.settings
        var configuration = StaticSearchConfiguration()
        configuration.seed = settings.agentSeed
        configuration.topK = settings.agentVerifyTopK
        let generations = configuration.iterations

        // 1. The predictor-guided search, with its progress forwarded as it goes.
        let (done, reporter) = AsyncStream.makeStream(of: (generation: Int, bestReward: Double).self)
        async let forwarding: Void = progress.forward(done, generations: generations)
        let result: StaticSearchResult
        do {
            let settled = configuration
            result = try await queue.run {
                try serving.agent.search(ratio: ratio, configuration: settled,
                                         progress: { reporter.yield(($0, $1)) }, reward: serving.reward.model)
            }
            reporter.finish()
            await forwarding
        } catch {
            reporter.finish()
            await forwarding
            throw error
        }
        guard let best = result.candidates.first else {
            throw AgentError(.projectionFailed, "the search returned no candidate")
        }
        logger.info("static search for ratio event \(event.label): \(result.rewardCalls) predictor calls (\(result.policiesScored) policies) in \(String(format: "%.2f", result.wallSeconds)) s; predicted ppl \(String(format: "%.3f", exp(result.start.prediction.mean))) (agent) → \(String(format: "%.3f", exp(best.prediction.mean))) (best of \(result.candidates.count))")

        // 2. Verification requests (reused when this event was searched before a restart).
        let verifications = try await requestVerification(job, candidates: result.candidates)
        let regime = serving.regime
        logger.info("ratio event \(event.label): verifying \(verifications.count) candidate(s) with true measurements (\(regime.metric), validation, \(regime.tokenBudget) tokens, window \(regime.window))")
        await progress.send(.verifying, completed: 0, total: verifications.count,
                            bestPredicted: exp(best.prediction.mean))

        // 3. Wait for the evaluators' measurements.
        let deadline = ContinuousClock.now + .seconds(settings.agentVerifyTimeoutSeconds)
        var measured: [UUID: MeasurementRecord] = [:]
        let requestIds = verifications.map(\.requestId)
        while true {
            let rows = try await context.pool.withConnection {
                try await MeasurementRepository.find(requestIds: requestIds, on: $0)
            }
            for row in rows where measured[row.requestId] == nil {
                measured[row.requestId] = row
                logger.info("ratio event \(event.label): candidate measured, ppl \(String(format: "%.3f", row.perplexity)) (\(measured.count)/\(verifications.count))")
                await progress.send(.measured, completed: measured.count, total: verifications.count,
                                    bestPredicted: exp(best.prediction.mean),
                                    bestMeasured: measured.values.map(\.perplexity).min())
            }
            if measured.count == verifications.count || ContinuousClock.now >= deadline { break }
            if try await answers.isAnswered(event.id) {
                logger.info("ratio event \(event.label) was answered elsewhere; stopping its static search")
                return
            }
            try await Task.sleep(for: Self.pollInterval)
        }

        // 4. The best measured candidate is the answer.
        let scored = verifications.compactMap { verification in
            measured[verification.requestId].map { (verification: verification, measurement: $0) }
        }
        guard let winner = scored.min(by: { $0.measurement.perplexity < $1.measurement.perplexity }) else {
            let message = "none of the \(verifications.count) verification measurements arrived within \(Int(settings.agentVerifyTimeoutSeconds)) s; check that evaluators serve '\(event.change.modelId)' (ppf status)"
            await progress.send(.failed, total: verifications.count, message: message)
            try await answers.reject(event, reason: .searchFailed, message: message)
            return
        }
        let candidate = winner.verification.candidate
        guard let answer = try await answers.publish(
            event, policy: candidate.policy, achievedRatio: candidate.achievedRatio, source: .staticSearch,
            serving: serving, prediction: candidate.prediction, measuredPerplexity: winner.measurement.perplexity,
            verificationMeasurements: scored.count) else {
            logger.info("ratio event \(event.label) was answered meanwhile; this answer is discarded")
            return
        }
        let message = "published policy \(answer.policyId.uuidString.lowercased()): measured ppl \(String(format: "%.3f", winner.measurement.perplexity)), predicted \(String(format: "%.3f", exp(candidate.prediction.mean)))"
        logger.info("answered ratio event \(event.label) ('\(answer.modelId)', r=\(ratio), static): \(message), \(scored.count) true measurement(s), \(String(format: "%.1f", Date().timeIntervalSince(event.createdAt))) s after the event")
        await progress.send(.finished, completed: scored.count, total: verifications.count,
                            bestPredicted: exp(best.prediction.mean), bestMeasured: winner.measurement.perplexity,
                            message: message)
    }

    /// Stores each candidate's policy and evaluation request with its outbox
    /// entry, in one transaction. Requests this event stored before (a
    /// resumed search finds the same candidates: the search is deterministic)
    /// are reused, and re-announced unless measured, since the broker may
    /// have forgotten them; evaluators measure a request once.
    private func requestVerification(_ job: StaticJob, candidates: [SearchCandidate]) async throws -> [Verification] {
        let event = job.event, regime = job.serving.regime
        let change = event.change
        let context = context
        return try await context.pool.withTransaction { connection in
            let earlier = try await EvaluationRequestRepository.all(
                correlationId: event.id, reason: EvaluationReason.staticVerify.rawValue, on: connection)
            let byPolicy = Dictionary(earlier.map { ($0.policyId, $0) }, uniquingKeysWith: { first, _ in first })
            var verifications: [Verification] = []
            for candidate in candidates {
                let record = try await PolicyRepository.store(
                    candidate.policy, modelId: change.modelId, source: PolicyPublished.Source.staticSearch.rawValue,
                    targetRatio: change.targetRatio, achievedRatio: candidate.achievedRatio, correlationId: event.id,
                    on: connection).record
                guard !verifications.contains(where: { $0.policyId == record.id }) else { continue }
                let known = byPolicy[record.id]
                let request = try EvaluationRequest(
                    requestId: known?.id ?? UUID(), modelId: change.modelId, policyId: record.id, policy: candidate.policy,
                    metric: known?.metric ?? regime.metric, split: known?.split ?? "validation",
                    tokenBudget: known?.tokenBudget ?? regime.tokenBudget, window: known?.window ?? regime.window,
                    reason: .staticVerify)
                if known == nil {
                    try await MeasurementRequests.enqueue(request, correlationId: event.id, producer: context.producerName,
                                                          on: connection)
                } else if try await MeasurementRepository.find(requestId: request.requestId, on: connection) == nil {
                    try await MeasurementRequests.republish(request, correlationId: event.id,
                                                            producer: context.producerName, on: connection)
                }
                verifications.append(Verification(candidate: candidate, policyId: record.id, requestId: request.requestId))
            }
            return verifications
        }
    }
}

// MARK: - ProgressPublisher

/// Sends one event's ``StaticSearchProgress`` straight to the producer:
/// progress is ephemeral, so it skips the outbox, and a failed send is logged, not retried.
struct ProgressPublisher: Sendable {
    let context: ServiceContext
    let event: RatioEvent

    /// Publishes one report.
    func send(_ phase: StaticSearchProgress.Phase, completed: Int = 0, total: Int = 0, bestPredicted: Double? = nil,
              bestMeasured: Double? = nil, message: String? = nil) async {
        do {
            let report = try StaticSearchProgress(
                ratioEventId: event.id, modelId: event.change.modelId, targetRatio: event.change.targetRatio, phase: phase,
                completed: min(completed, total), total: total, bestPredictedPerplexity: bestPredicted,
                bestMeasuredPerplexity: bestMeasured, message: message)
            let envelope = Envelope(correlationId: event.id, producer: context.producerName, payload: report)
            _ = try await context.producer.send(envelope, to: Topic.searchProgress, key: event.change.modelId)
        } catch {
            context.logger.debug("search progress of ratio event \(event.label) not sent: \(error)")
        }
    }

    /// Forwards the search's generations, every fifth and the last.
    func forward(_ generations: AsyncStream<(generation: Int, bestReward: Double)>, generations total: Int) async {
        for await (generation, bestReward) in generations where generation % 5 == 0 || generation == total {
            await send(.searching, completed: generation, total: total,
                       message: "best reward \(String(format: "%.4f", bestReward)) (−predicted log-ppl − κ·std)")
        }
    }
}
