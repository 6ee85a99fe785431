// MARK: - TrainingReport

/// What training did, for the CLI to print and the artifact to keep.
public struct TrainingReport: Codable, Sendable, Hashable {
    /// One entry per gradient step.
    public var curve: [IterationRecord]
    /// Wall-clock seconds of the whole training.
    public var wallSeconds: Double
    /// Number of reward-model (predictor) calls, each one batch.
    public var rewardCalls: Int
    /// Number of policies scored over all calls.
    public var policiesScored: Int

    /// Creates a report.
    public init(curve: [IterationRecord], wallSeconds: Double, rewardCalls: Int, policiesScored: Int) {
        self.curve = curve
        self.wallSeconds = wallSeconds
        self.rewardCalls = rewardCalls
        self.policiesScored = policiesScored
    }
}

/// The statistics of one training step's sampled policies.
public struct IterationRecord: Codable, Sendable, Hashable {
    /// Step index, from 0.
    public var iteration: Int
    /// Mean reward `−mean − κ·std` of the sampled policies.
    public var meanReward: Double
    /// Best reward among them.
    public var bestReward: Double
    /// Mean predicted log-perplexity.
    public var meanPredictedLogPerplexity: Double
    /// Mean predictor uncertainty (ensemble std).
    public var meanUncertainty: Double
    /// Mean exploration standard deviation (logit units).
    public var explorationStd: Double

    /// Creates a record.
    public init(iteration: Int, meanReward: Double, bestReward: Double, meanPredictedLogPerplexity: Double,
                meanUncertainty: Double, explorationStd: Double) {
        self.iteration = iteration
        self.meanReward = meanReward
        self.bestReward = bestReward
        self.meanPredictedLogPerplexity = meanPredictedLogPerplexity
        self.meanUncertainty = meanUncertainty
        self.explorationStd = explorationStd
    }
}
