import Foundation
import PPFContracts
import PPFTensor

// MARK: - Configuration and results

/// Settings of the static (fixed-ratio) search. Each default is documented.
public struct StaticSearchConfiguration: Codable, Sendable, Hashable {
    /// Seeds the sampling noise (default 1).
    public var seed: UInt64 = 1
    /// CEM generations (default 40).
    public var iterations: Int = 40
    /// Actions scored per generation, one reward call each (default 64).
    public var populationSize: Int = 64
    /// Best actions per generation that refit the sampling distribution (default 8).
    public var eliteCount: Int = 8
    /// Sampling std around the start action, in logit units (default 0.5).
    public var initialStd: Double = 0.5
    /// The std never falls below this, so the search keeps moving (default 0.02).
    public var minimumStd: Double = 0.02
    /// Weight of the new elite statistics in each refit (default 0.7; 1 = plain CEM).
    public var smoothing: Double = 0.7
    /// Distinct candidates returned for true measurement (default 5).
    public var topK: Int = 5
    /// `κ` in the reward `−mean − κ·std` (default 1).
    public var uncertaintyPenalty: Double = 1

    /// The defaults above.
    public init() {}

    /// Checks every setting.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` naming the setting.
    public func validate() throws(AgentError) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(AgentError) {
            if !condition { throw AgentError(.invalidConfiguration, message()) }
        }
        try check(iterations > 0, "search iterations \(iterations) must be positive")
        try check(populationSize >= 2, "populationSize \(populationSize) must be at least 2")
        try check((1..<populationSize).contains(eliteCount), "eliteCount \(eliteCount) must be in 1..<populationSize")
        try check(initialStd.isFinite && initialStd > 0, "initialStd must be positive")
        try check(minimumStd.isFinite && minimumStd >= 0, "minimumStd must be ≥ 0")
        try check(smoothing > 0 && smoothing <= 1, "smoothing must be in (0, 1]")
        try check(topK > 0, "topK \(topK) must be positive")
        try check(uncertaintyPenalty.isFinite && uncertaintyPenalty >= 0, "uncertaintyPenalty must be ≥ 0")
    }
}

/// One scored, budget-exact policy.
public struct SearchCandidate: Codable, Sendable, Hashable {
    /// The policy.
    public var policy: PruningPolicy
    /// Its ratio, computed exactly from the budget.
    public var achievedRatio: Double
    /// The predictor's answer for it.
    public var prediction: Prediction
    /// `−mean − κ·std`.
    public var reward: Double

    /// A candidate from its parts (a search makes them; callers that store or replay candidates rebuild them).
    public init(policy: PruningPolicy, achievedRatio: Double, prediction: Prediction, reward: Double) {
        self.policy = policy
        self.achievedRatio = achievedRatio
        self.prediction = prediction
        self.reward = reward
    }
}

/// What a static search found.
public struct StaticSearchResult: Codable, Sendable, Hashable {
    /// The target ratio searched.
    public var targetRatio: Double
    /// Up to `topK` distinct policies, best reward first, for true measurement.
    public var candidates: [SearchCandidate]
    /// The starting policy (the agent's) and its score.
    public var start: SearchCandidate
    /// Best reward seen after each generation (non-decreasing).
    public var bestRewardCurve: [Double]
    /// Reward-model calls made (one per generation).
    public var rewardCalls: Int
    /// Policies scored in total.
    public var policiesScored: Int
    /// Wall-clock seconds.
    public var wallSeconds: Double
}

// MARK: - StaticSearch

/// *Static pruning* (design.md): for one fixed ratio, spend many predictor
/// calls on a cross-entropy-method search in action space, starting from the
/// agent's mean action. Every sampled action is projected onto the budget, so
/// no candidate ever violates it.
///
/// Each generation samples `populationSize − 1` actions from
/// `N(m, diag(s²))` plus the best action so far (elitism), scores them in one
/// batch, and refits `m` and `s` to the elites with smoothing. The best policy
/// ever seen is kept, so the result is never worse than the start.
public enum StaticSearch {
    /// Searches from `startAction` for the best policies at `targetRatio`.
    ///
    /// - Parameter progress: told after each generation how many are done and
    ///   the best reward so far (on the searching thread).
    /// - Throws: ``AgentError`` for bad settings, ratio or action shape, or bad
    ///   reward answers; errors from `reward` pass through unchanged.
    public static func run(
        from startAction: [Double], targetRatio: Double, projection: BudgetProjection,
        configuration: StaticSearchConfiguration, progress: ((_ generation: Int, _ bestReward: Double) -> Void)? = nil,
        reward: @escaping RewardModel
    ) throws -> StaticSearchResult {
        let clock = DispatchTime.now().uptimeNanoseconds
        try configuration.validate()
        try projection.checkRatio(targetRatio)
        guard startAction.count == projection.actionCount, startAction.allSatisfy(\.isFinite) else {
            throw AgentError(.actionShapeMismatch,
                             "start action has \(startAction.count) entries (or non-finite ones); the budget needs \(projection.actionCount)")
        }
        let dimension = startAction.count
        var random = SeededGenerator(seed: configuration.seed ^ 0xC0FF_EE00_5EA2_C400)
        var scorer = RewardScorer(model: reward)
        var mean = startAction
        var spread = [Double](repeating: configuration.initialStd, count: dimension)
        var bestAction = startAction
        var bestReward = -Double.infinity
        // Every distinct policy seen, with its score and first-seen order (for stable ties).
        var seen: [PruningPolicy: (candidate: SearchCandidate, order: Int)] = [:]
        var start: SearchCandidate?
        var curve: [Double] = []

        for _ in 0..<configuration.iterations {
            var actions = [bestAction]
            for _ in 1..<configuration.populationSize {
                actions.append((0..<dimension).map { mean[$0] + spread[$0] * random.nextGaussian() })
            }
            var policies: [PruningPolicy] = []
            for action in actions {
                policies.append(try projection.project(action: action, targetRatio: targetRatio))
            }
            let predictions = try scorer.predict(policies, ratios: Array(repeating: targetRatio, count: policies.count))
            let rewards = predictions.map { $0.reward(uncertaintyPenalty: configuration.uncertaintyPenalty) }
            for (index, policy) in policies.enumerated() where seen[policy] == nil {
                let candidate = SearchCandidate(policy: policy, achievedRatio: try projection.budget.achievedRatio(policy),
                                                prediction: predictions[index], reward: rewards[index])
                seen[policy] = (candidate, seen.count)
                if start == nil { start = candidate }
            }
            let ranked = rewards.indices.sorted { (rewards[$0], -$0) > (rewards[$1], -$1) }
            if let top = ranked.first, rewards[top] > bestReward {
                bestReward = rewards[top]
                bestAction = actions[top]
            }
            curve.append(bestReward)
            progress?(curve.count, bestReward)

            // Refit the sampling distribution to the elites.
            let elites = ranked.prefix(configuration.eliteCount).map { actions[$0] }
            let alpha = configuration.smoothing
            for entry in 0..<dimension {
                let values = elites.map { $0[entry] }
                let eliteMean = values.reduce(0, +) / Double(values.count)
                let eliteStd = (values.reduce(0) { $0 + ($1 - eliteMean) * ($1 - eliteMean) } / Double(values.count)).squareRoot()
                mean[entry] = (1 - alpha) * mean[entry] + alpha * eliteMean
                spread[entry] = max((1 - alpha) * spread[entry] + alpha * eliteStd, configuration.minimumStd)
            }
        }

        let candidates = seen.values
            .sorted { ($0.candidate.reward, -$0.order) > ($1.candidate.reward, -$1.order) }
            .prefix(configuration.topK)
            .map(\.candidate)
        guard let start else {
            throw AgentError(.projectionFailed, "the search scored no policy")
        }
        return StaticSearchResult(
            targetRatio: targetRatio, candidates: Array(candidates), start: start, bestRewardCurve: curve,
            rewardCalls: scorer.calls, policiesScored: scorer.policiesScored,
            wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - clock) / 1e9)
    }
}

extension PruningAgent {
    /// Static search at `ratio`, starting from this agent's mean action.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` outside the agent's range,
    ///   plus everything ``StaticSearch/run(from:targetRatio:projection:configuration:progress:reward:)`` throws.
    public func search(ratio: Double, configuration: StaticSearchConfiguration = StaticSearchConfiguration(),
                       progress: ((_ generation: Int, _ bestReward: Double) -> Void)? = nil,
                       reward: @escaping RewardModel) throws -> StaticSearchResult {
        try StaticSearch.run(from: meanAction(forRatio: ratio), targetRatio: ratio, projection: projection,
                             configuration: configuration, progress: progress, reward: reward)
    }
}
