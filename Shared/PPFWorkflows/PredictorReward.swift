import PPFAgent
import PPFContracts
import PPFPredictor

// MARK: - PredictorReward

/// The performance predictor as the agent's reward model (arXiv 2508.02381,
/// §3.3: the agent is trained against the predictor only).
///
/// Each policy becomes the predictor's features (its per-block keeps, drops
/// and depth, plus the retained importance from the predictor's own
/// importance profile when it reads it), the ensemble answers with the mean and std of log-perplexity,
/// and training maximises `−mean − κ·std`. Prediction calls BLAS and runs on
/// the calling thread: services call it from a dedicated queue.
public struct PredictorReward: Sendable {
    /// The trained ensemble.
    public let predictor: PerformancePredictor

    /// Wraps `predictor` for a model with `blockCount` blocks.
    ///
    /// - Throws: ``AgentError/Code/unsupportedPredictor`` when the predictor
    ///   reads features the agent cannot build from a policy and the predictor's
    ///   importance profile (other extra channels, globals) or was trained for
    ///   another block count.
    public init(predictor: PerformancePredictor, blockCount: Int) throws(AgentError) {
        let spec = predictor.spec
        guard predictor.featurisesPoliciesAlone else {
            throw AgentError(.unsupportedPredictor,
                             "the predictor reads channels \(spec.extraLayerChannels) and globals \(spec.globalChannels), which a policy alone does not give; retrain it on policy features only")
        }
        guard spec.layerCount == blockCount else {
            throw AgentError(.unsupportedPredictor,
                             "the predictor scores \(spec.layerCount)-block policies but the model has \(blockCount) blocks")
        }
        self.predictor = predictor
    }

    /// The ensemble's answer for each policy, in order.
    ///
    /// - Throws: `PredictorError` for a policy with a ratio outside [0, 1] or the wrong block count.
    public func predictions(for policies: [PruningPolicy]) throws -> [PPFAgent.Prediction] {
        var features: [PolicyFeatures] = []
        features.reserveCapacity(policies.count)
        for policy in policies {
            features.append(try predictor.features(for: policy))
        }
        return try predictor.predict(features).map { PPFAgent.Prediction(mean: $0.logPerplexity, std: $0.logPerplexityStd) }
    }

    /// The answer for one policy (equal to its answer in a larger batch
    /// within fp32 rounding; see ``PerformancePredictor``'s batch note).
    public func prediction(for policy: PruningPolicy) throws -> PPFAgent.Prediction {
        guard let first = try predictions(for: [policy]).first else {
            throw AgentError(.rewardShapeMismatch, "the predictor returned no prediction for one policy")
        }
        return first
    }

    /// A reward model for ``PruningAgent/train(budget:configuration:progress:reward:)`` and static search.
    public var model: RewardModel {
        { policies, _ in try predictions(for: policies) }
    }
}
