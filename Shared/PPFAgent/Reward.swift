import PPFContracts

// MARK: - Prediction

/// The predictor ensemble's answer for one policy: predicted log-perplexity
/// (the ensemble mean) and its uncertainty (the ensemble's standard deviation).
public struct Prediction: Codable, Sendable, Hashable {
    /// Predicted log-perplexity; lower is better.
    public var mean: Double
    /// Disagreement of the ensemble members, ≥ 0.
    public var std: Double

    /// Creates a prediction.
    public init(mean: Double, std: Double) {
        self.mean = mean
        self.std = std
    }

    /// The reward the agent maximises: `−mean − κ·std`. With `κ > 0` the agent
    /// is pushed away from policies where the predictor has no data and its
    /// members disagree (issue 6, part 2).
    public func reward(uncertaintyPenalty kappa: Double) -> Double { -mean - kappa * std }
}

/// The predictor as the agent sees it: a batch of policies, each with the
/// target ratio it was made for, in; one ``Prediction`` per policy out, in
/// the same order. Batched because the predictor is fast on batches.
public typealias RewardModel = (_ policies: [PruningPolicy], _ targetRatios: [Double]) throws -> [Prediction]

// MARK: - Scoring

/// Calls a reward model and checks its answer, counting calls for reports.
struct RewardScorer {
    let model: RewardModel
    private(set) var calls = 0
    private(set) var policiesScored = 0

    init(model: @escaping RewardModel) {
        self.model = model
    }

    /// Predictions for `policies`; throws if the model answers with the wrong
    /// count or non-finite numbers, and passes the model's own errors through.
    mutating func predict(_ policies: [PruningPolicy], ratios: [Double]) throws -> [Prediction] {
        let predictions = try model(policies, ratios)
        calls += 1
        policiesScored += policies.count
        guard predictions.count == policies.count else {
            throw AgentError(.rewardShapeMismatch,
                             "the reward model returned \(predictions.count) predictions for \(policies.count) policies")
        }
        guard predictions.allSatisfy({ $0.mean.isFinite && $0.std.isFinite && $0.std >= 0 }) else {
            throw AgentError(.nonFiniteReward, "the reward model returned a non-finite mean or a negative/non-finite std")
        }
        return predictions
    }
}
