import Foundation
import Logging
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore

// MARK: - PredictionResponder

/// Answers ``PredictionRequest``s with the model's newest predictor version.
///
/// Replies go straight to the producer (not the outbox: a reply is ephemeral
/// and nothing is written), keyed by request id, with the request's
/// correlation id. A request that is well-formed but cannot be answered (no
/// version for the model yet, a policy with the wrong block count) gets a
/// reply carrying an `error`, so the asker fails at once rather than timing
/// out; a malformed one is dead-lettered by the consumer.
public struct PredictionResponder: Sendable {
    private let context: ServiceContext
    private let cache: PredictorCache
    /// Predictions call BLAS: off the cooperative pool, and not behind a training.
    private let queue = BlockingQueue(label: "ppf.predictor.inference")

    public init(context: ServiceContext, cache: PredictorCache) {
        self.context = context
        self.cache = cache
    }

    /// Answers one request.
    public func answer(_ envelope: Envelope<PredictionRequest>) async throws {
        let request = envelope.payload
        let reply: PredictionReply
        do {
            reply = try await predict(request)
        } catch let error as PredictorError {
            reply = PredictionReply(requestId: request.requestId, modelId: request.modelId,
                                    error: "the policies cannot be scored: \(error.message)")
        }
        if let error = reply.error {
            context.logger.warning("prediction request \(request.requestId.uuidString.lowercased()) answered with an error: \(error)")
        }
        let response = Envelope(correlationId: envelope.correlationId, producer: context.producerName, payload: reply)
        try await context.producer.send(response, to: Topic.predictionReplies, key: request.requestId.uuidString.lowercased())
    }

    private func predict(_ request: PredictionRequest) async throws -> PredictionReply {
        guard let entry = try await newest(modelId: request.modelId) else {
            return PredictionReply(requestId: request.requestId, modelId: request.modelId,
                                   error: "no predictor version exists for model '\(request.modelId)' yet; bootstrap it first (ppf bootstrap)")
        }
        let predictor = entry.predictor
        let policies = request.policies
        let predictions = try await queue.run { () throws -> [Prediction] in
            var features: [PolicyFeatures] = []
            features.reserveCapacity(policies.count)
            for (index, policy) in policies.enumerated() {
                do throws(PredictorError) {
                    features.append(try predictor.features(for: policy))
                } catch {
                    throw PredictorError(error.code, "policy \(index): \(error.message)")
                }
            }
            return try predictor.predict(features)
        }
        return PredictionReply(
            requestId: request.requestId, modelId: request.modelId, predictorVersion: entry.versionId,
            predictions: predictions.map {
                PolicyPrediction(logPerplexity: $0.logPerplexity, logPerplexityStd: $0.logPerplexityStd,
                                 perplexity: $0.perplexity)
            })
    }

    /// The newest version of `modelId`, from the cache when it is current
    /// (one cheap query checks), else decoded from its stored artifact.
    private func newest(modelId: String) async throws -> PredictorCache.Entry? {
        let pool = context.pool
        guard let summary = try await pool.withConnection({
            try await PredictorVersionRepository.latestSummary(modelId: modelId, on: $0)
        }) else { return nil }
        if let cached = await cache.predictor(modelId: modelId, versionId: summary.id) { return cached }
        guard let record = try await pool.withConnection({
            try await PredictorVersionRepository.find(id: summary.id, on: $0)
        }) else { return nil }
        let bytes = record.artifact
        let artifact = try await queue.run { try PredictorArtifact.decode(jsonData: Data(bytes)) }
        await cache.store(modelId: modelId, versionId: record.id, predictor: artifact.predictor)
        context.logger.info("loaded predictor \(record.id.uuidString.lowercased()) for '\(modelId)' (\(bytes.count) bytes)")
        return PredictorCache.Entry(versionId: record.id, predictor: artifact.predictor)
    }
}
