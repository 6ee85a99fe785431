import Foundation

// MARK: - TrainingSample

/// One measured policy: its features and the true perplexity a measurement found.
public struct TrainingSample: Sendable, Hashable {
    /// The caller's id for the measurement (kept in the artifact's training-set ids).
    public let id: String
    /// The policy's features.
    public let features: PolicyFeatures
    /// Measured perplexity (> 0).
    public let perplexity: Double

    /// Creates a sample; the perplexity is checked when training starts.
    public init(id: String, features: PolicyFeatures, perplexity: Double) {
        self.id = id
        self.features = features
        self.perplexity = perplexity
    }

    /// The regression target, natural-log perplexity.
    public var logPerplexity: Double { Foundation.log(perplexity) }
}

// MARK: - Checks

extension [TrainingSample] {
    /// Checks the samples can train a predictor: enough of them, one feature
    /// spec, unique ids, positive finite perplexities. Returns the shared spec.
    func validatedSpec(minimumCount: Int, purpose: String) throws(PredictorError) -> FeatureSpec {
        guard count >= minimumCount, let first else {
            throw PredictorError(.tooFewSamples,
                                 "\(purpose) needs at least \(minimumCount) measured policies, got \(count); measure more policies first")
        }
        var ids = Set<String>()
        for sample in self {
            try first.features.spec.requireSame(as: sample.features.spec, what: "sample '\(sample.id)'")
            guard ids.insert(sample.id).inserted else {
                throw PredictorError(.duplicateSampleId, "sample id '\(sample.id)' appears twice; each measurement may be used once")
            }
            guard sample.perplexity.isFinite, sample.perplexity > 0 else {
                throw PredictorError(.invalidPerplexity,
                                     "sample '\(sample.id)' has perplexity \(sample.perplexity); it must be a positive finite number")
            }
        }
        return first.features.spec
    }
}
