import Foundation
import Logging
import PPFContracts
import PPFModel
import PPFRuntime
import PPFStore

// MARK: - InferenceResponder

/// Answers ``InferenceRequest``s for this deployment with the model version
/// serving when the request starts (see ``ServingSlot``).
///
/// The reply goes straight to the producer (a reply is ephemeral; only its
/// log row is kept), keyed by request id, with the request's correlation id
/// and the version that answered. It is logged in `inference_log` after the
/// broker acknowledged it, so a request found there was answered and its
/// redelivery is skipped; a crash between the two answers it twice, with the
/// same request id (the asker keeps the first).
public struct InferenceResponder: Sendable {
    /// Requests older than this are not answered: their asker gave up long ago
    /// (a new host group reads the topic from its start).
    public static let maximumAge: TimeInterval = 600
    /// Longest perplexity window, as `ppf eval` uses.
    public static let perplexityWindow = 512

    public let context: ServiceContext
    public let base: BaseModelEngine
    public let slot: ServingSlot
    public let board: ServiceStatus
    /// Inference blocks on BLAS: off the cooperative pool, on its own queue
    /// so a build running on the builder's queue never delays an answer.
    public let queue: BlockingQueue

    /// Creates the value from its parts.
    public init(context: ServiceContext, base: BaseModelEngine, slot: ServingSlot, board: ServiceStatus, queue: BlockingQueue) {
        self.context = context
        self.base = base
        self.slot = slot
        self.board = board
        self.queue = queue
    }

    private var logger: Logger { context.logger }

    /// Answers one request (or skips it: another deployment's, expired, or already answered).
    /// - Throws: ``EnvelopeRejection`` for a request outside the limits
    ///   (dead-lettered); other errors (broker, database) are retried.
    public func handle(_ envelope: Envelope<InferenceRequest>) async throws {
        let request = envelope.payload
        try request.validate()
        let id = request.requestId.uuidString.lowercased()
        guard request.modelId == context.settings.modelId else {
            // Each deployment's hosts form their own group and answer its requests.
            logger.debug("ignoring request \(id) for deployment '\(request.modelId)'")
            return
        }
        let age = Date().timeIntervalSince(envelope.time)
        guard age <= Self.maximumAge else {
            logger.info("not answering request \(id): it is \(Int(age)) s old, its asker has given up")
            return
        }
        let answered = try await context.pool.withConnection {
            try await InferenceLogRepository.find(requestId: request.requestId, on: $0)
        }
        if answered != nil {
            logger.info("skipping request \(id): it is already answered")
            return
        }

        // The snapshot: this request runs to the end on this version, whatever is swapped in meanwhile.
        let served = slot.current
        let tokenizer = base.checkpoint.tokenizer
        let task = request.task
        let started = Date()
        let outcome = try await queue.run { Self.compute(task, model: served.model, tokenizer: tokenizer) }
        let seconds = Date().timeIntervalSince(started)

        let settings = context.settings
        let reply = outcome.result.map {
            InferenceReply(requestId: request.requestId, modelId: request.modelId, modelVersion: served.version,
                           instanceId: settings.instanceId, result: $0, seconds: seconds)
        } ?? InferenceReply(requestId: request.requestId, modelId: request.modelId, modelVersion: served.version,
                            instanceId: settings.instanceId, error: outcome.error ?? "no result", seconds: seconds)
        let response = Envelope(correlationId: envelope.correlationId, producer: context.producerName, payload: reply)
        try await context.producer.send(response, to: Topic.inferenceReplies, key: id)
        if let error = outcome.error {
            logger.warning("request \(id) answered with an error by \(served.version): \(error)")
        } else {
            logger.info("answered request \(id) (\(task.kind), \(outcome.inputTokens) tokens in, \(outcome.outputTokens) out) with \(served.version) in \(String(format: "%.3f", seconds)) s")
        }
        board.count("answered")
        let entry = InferenceLogEntry(
            requestId: request.requestId, correlationId: envelope.correlationId, modelId: request.modelId,
            instanceId: settings.instanceId, modelVersion: served.version, kind: task.kind,
            inputTokens: outcome.inputTokens, outputTokens: outcome.outputTokens, perplexity: outcome.perplexity,
            error: outcome.error, seconds: seconds)
        _ = try await context.pool.withConnection { try await InferenceLogRepository.insert(entry, on: $0) }
        FaultInjection.crashIfRequested(at: FaultInjection.modelHostAfterAnswerLog)
    }

    // MARK: - Computing

    /// What one request computed, or why it could not.
    struct Outcome: Sendable {
        var result: InferenceResult?
        var error: String?
        var inputTokens = 0
        var outputTokens = 0
        var perplexity: Double?
    }

    /// Runs `task` on `model`; blocks on BLAS (call on the serving queue).
    /// A request the model cannot answer yields an error, never a throw: the
    /// asker gets a reply either way.
    static func compute(_ task: InferenceTask, model: LlamaModel, tokenizer: any Tokenizer) -> Outcome {
        var outcome = Outcome()
        do throws(ModelError) {
            switch task {
            case .perplexity(let text):
                let tokens = tokenizer.encode(text).map(Int.init)
                outcome.inputTokens = tokens.count
                guard tokens.count >= 2 else {
                    outcome.error = "the text is \(tokens.count) token\(tokens.count == 1 ? "" : "s") long; perplexity needs at least 2"
                    return outcome
                }
                let window = min(perplexityWindow, model.configuration.contextLength, tokens.count)
                let measured = try PerplexityEvaluator(model: model, windowLength: window).evaluate(tokens)
                guard measured.perplexity.isFinite, measured.nll.isFinite else {
                    outcome.error = "the model produced a non-finite perplexity"
                    return outcome
                }
                outcome.perplexity = measured.perplexity
                outcome.result = .perplexity(nll: measured.nll, perplexity: measured.perplexity,
                                             tokensCounted: measured.tokensCounted)
            case .generate(let prompt, let maxTokens):
                let tokens = tokenizer.encode(prompt).map(Int.init)
                outcome.inputTokens = tokens.count
                let context = model.configuration.contextLength
                guard !tokens.isEmpty else {
                    outcome.error = "the prompt has no tokens"
                    return outcome
                }
                guard tokens.count + maxTokens <= context else {
                    outcome.error = "the prompt has \(tokens.count) tokens and \(maxTokens) new ones do not fit the context of \(context); shorten the prompt or ask for fewer tokens"
                    return outcome
                }
                let session = try LlamaSession(model: model, capacity: tokens.count + maxTokens)
                let stop = tokenizer.specialTokens.eos.map { Set([Int($0)]) } ?? []
                let generated = try session.generate(prompt: tokens, maxTokens: maxTokens, stopTokens: stop, sampling: .greedy)
                outcome.outputTokens = generated.count
                outcome.result = .generation(text: tokenizer.decode(generated.map { Int32($0) }),
                                             promptTokens: tokens.count, generatedTokens: generated.count)
            }
        } catch {
            outcome.result = nil
            outcome.error = "the model could not run the request: \(error.message)"
        }
        return outcome
    }
}
