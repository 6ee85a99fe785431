import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFRuntime
import PPFStore

// MARK: - StaticJob

/// A static ratio event and the agent that answers it.
public struct StaticJob: Sendable {
    public let event: RatioEvent
    public let serving: LoadedAgent

    /// Creates the value from its parts.
    public init(event: RatioEvent, serving: LoadedAgent) {
        self.event = event
        self.serving = serving
    }
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
public final class StaticPruningService: PPFService, @unchecked Sendable {
    // @unchecked: `running` is guarded by `lock`; everything else is immutable and Sendable.
    public let name = "static-search"
    private let context: ServiceContext
    private let answers: AnswerStore
    private let status: ServiceStatus
    /// Searches call the predictor (BLAS) thousands of times: their own queue.
    private let queue = BlockingQueue(label: "ppf.agent.static-search")
    private let jobs: AsyncStream<StaticJob>
    private let continuation: AsyncStream<StaticJob>.Continuation
    private let lock = NSLock()
    private var running: Set<UUID> = []

    /// How often the verification measurements are looked for.
    public static let pollInterval: Duration = .seconds(1)

    private var logger: Logger { context.logger }

    public init(context: ServiceContext, answers: AnswerStore, status: ServiceStatus) {
        self.context = context
        self.answers = answers
        self.status = status
        (jobs, continuation) = AsyncStream.makeStream(of: StaticJob.self)
    }

    /// Starts answering `job` unless its event is already being searched.
    public func submit(_ job: StaticJob) {
        let fresh = lock.withLock { running.insert(job.event.id).inserted }
        guard fresh else {
            logger.info("ratio event \(job.event.label) is being searched already")
            return
        }
        logger.info("static search for ratio event \(job.event.label) ('\(job.event.change.modelId)', r=\(job.event.change.targetRatio)) queued")
        continuation.yield(job)
    }

    public func run() async throws {
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
        status.count("static-searches")
        defer {
            status.count("static-searches", by: -1)
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

    /// Search, verify through the evaluators, publish the best measured candidate.
    private func answer(_ job: StaticJob, progress: ProgressPublisher) async throws {
        let event = job.event, serving = job.serving
        let ratio = event.change.targetRatio
        let settings = context.settings
        var configuration = StaticSearchConfiguration(scoringLike: serving)
        configuration.seed = settings.agentSeed
        configuration.topK = settings.agentVerifyTopK
        let regime = MeasurementRegime(metric: serving.regime.metric, split: "validation",
                                       tokenBudget: serving.regime.tokenBudget, window: serving.regime.window)
        let answers = answers
        let measurer = EvaluatorMeasurer(
            pool: context.pool, producer: context.producerName, correlationId: event.id, modelId: event.change.modelId,
            regime: regime, timeout: .seconds(settings.agentVerifyTimeoutSeconds), pollInterval: Self.pollInterval,
            isSettled: { try await answers.isAnswered(event.id) })
        let logger = logger
        // The search's generations, forwarded to the progress topic as they come.
        let (generations, reporter) = AsyncStream.makeStream(of: (generation: Int, bestReward: Double).self)
        async let forwarding: Void = progress.forward(generations, generations: configuration.iterations)
        let outcome: StaticPruning.Outcome
        do {
            outcome = try await StaticPruning.run(
                agent: serving, ratio: ratio, configuration: configuration, measurer: measurer, queue: queue,
                generationProgress: { reporter.yield(($0, $1)) }, events: { phase in
                switch phase {
                case .searched(_, let result):
                    reporter.finish()
                    logger.info("static search for ratio event \(event.label): \(result.rewardCalls) predictor calls (\(result.policiesScored) policies) in \(String(format: "%.2f", result.wallSeconds)) s; predicted ppl \(String(format: "%.3f", exp(result.start.prediction.mean))) (agent) → \(String(format: "%.3f", exp(result.candidates.first?.prediction.mean ?? .nan))) (best of \(result.candidates.count))")
                case .verifying(let candidates):
                    logger.info("ratio event \(event.label): verifying \(candidates.count) candidate(s) with true measurements (\(regime))")
                    await progress.send(.verifying, completed: 0, total: candidates.count,
                                        bestPredicted: candidates.bestPredictedPerplexity)
                case .measured(_, let candidates, let measurement, let count, let best):
                    logger.info("ratio event \(event.label): candidate measured, ppl \(String(format: "%.3f", measurement.perplexity)) (\(count)/\(candidates.count))")
                    await progress.send(.measured, completed: count, total: candidates.count,
                                        bestPredicted: candidates.bestPredictedPerplexity, bestMeasured: best)
                }
            })
            reporter.finish()
            await forwarding
        } catch StaticPruningError.settledElsewhere {
            reporter.finish()
            await forwarding
            logger.info("ratio event \(event.label) was answered elsewhere; stopping its static search")
            return
        } catch StaticPruningError.nothingMeasured(let count, _) {
            reporter.finish()
            await forwarding
            let message = "none of the \(count) verification measurements arrived within \(Int(settings.agentVerifyTimeoutSeconds)) s; check that evaluators serve '\(event.change.modelId)' (ppf status)"
            await progress.send(.failed, total: count, message: message)
            try await answers.reject(event, reason: .searchFailed, message: message)
            return
        } catch {
            reporter.finish()
            await forwarding
            throw error
        }

        let candidate = outcome.best.candidate
        let measured = outcome.bestMeasurement.perplexity
        guard let answer = try await answers.publish(
            event, policy: candidate.policy, achievedRatio: candidate.achievedRatio, source: .staticSearch,
            serving: serving, prediction: candidate.prediction, measuredPerplexity: measured,
            verificationMeasurements: outcome.measuredCount) else {
            logger.info("ratio event \(event.label) was answered meanwhile; this answer is discarded")
            return
        }
        let message = "published policy \(answer.policyId.uuidString.lowercased()): measured ppl \(String(format: "%.3f", measured)), predicted \(String(format: "%.3f", exp(candidate.prediction.mean)))"
        logger.info("answered ratio event \(event.label) ('\(answer.modelId)', r=\(ratio), static): \(message), \(outcome.measuredCount) true measurement(s), \(String(format: "%.1f", Date().timeIntervalSince(event.createdAt))) s after the event")
        await progress.send(.finished, completed: outcome.measuredCount, total: outcome.candidates.count,
                            bestPredicted: outcome.candidates.bestPredictedPerplexity, bestMeasured: measured, message: message)
    }
}

// MARK: - ProgressPublisher

/// Sends one event's ``StaticSearchProgress`` straight to the producer:
/// progress is ephemeral, so it skips the outbox, and a failed send is logged, not retried.
public struct ProgressPublisher: Sendable {
    public let context: ServiceContext
    public let event: RatioEvent

    /// Creates the value from its parts.
    public init(context: ServiceContext, event: RatioEvent) {
        self.context = context
        self.event = event
    }

    /// Publishes one report.
    public func send(_ phase: StaticSearchProgress.Phase, completed: Int = 0, total: Int = 0, bestPredicted: Double? = nil,
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
    public func forward(_ generations: AsyncStream<(generation: Int, bestReward: Double)>, generations total: Int) async {
        for await (generation, bestReward) in generations where generation % 5 == 0 || generation == total {
            await send(.searching, completed: generation, total: total,
                       message: "best reward \(String(format: "%.4f", bestReward)) (−predicted log-ppl − κ·std)")
        }
    }
}
