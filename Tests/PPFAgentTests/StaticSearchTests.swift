import Foundation
import PPFAgent
import PPFContracts
import Testing

// MARK: - Static search

/// A reward the agent was not trained on: different per-block weights and a
/// quartic MLP term, so the trained agent's policy is not its optimum.
private func unseenReward(_ budget: ParameterBudget) throws -> RewardModel {
    let other = try SeparableQuadraticObjective.random(budget: budget, spread: 1.5, seed: 99)
    return { policies, _ in
        policies.map { policy in
            let quartic = zip(policy.layers, other.layerWeights).reduce(0.0) { $0 + $1.1 * pow($1.0.mlpRatio, 4) }
            return Prediction(mean: other.loss(policy) + quartic / Double(budget.blockCount), std: 0)
        }
    }
}

@Test func staticSearchImprovesOnTheAgentUnderAnUnseenRewardAndKeepsTheBudget() throws {
    let budget = try Budgets.smolLM2()
    let trainedOn = try SeparableQuadraticObjective.random(budget: budget, seed: 1)
    var training = TrainingConfiguration()
    training.iterations = 40
    let agent = try PruningAgent.train(budget: budget, configuration: training, reward: trainedOn.rewardModel).agent
    let reward = try unseenReward(budget)
    var configuration = StaticSearchConfiguration()
    configuration.iterations = 25
    for ratio in [0.25, 0.45] {
        let result = try agent.search(ratio: ratio, configuration: configuration, reward: reward)
        let agentScore = try reward([agent.policy(forRatio: ratio)], [ratio])[0]
        // Exact: the search starts from the same one-ratio mean action, and this reward is
        // plain Swift arithmetic per policy (no BLAS), so the batch it is scored in does not matter.
        #expect(result.start.reward == -agentScore.mean)
        let best = try #require(result.candidates.first)
        #expect(best.reward > result.start.reward + 1e-4, "ratio \(ratio): search did not improve")
        #expect(result.candidates.count == configuration.topK)
        #expect(Set(result.candidates.map(\.policy)).count == result.candidates.count)
        #expect(zip(result.candidates, result.candidates.dropFirst()).allSatisfy { $0.reward >= $1.reward })
        #expect(zip(result.bestRewardCurve, result.bestRewardCurve.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(result.rewardCalls == configuration.iterations)
        for candidate in result.candidates {
            #expect(abs(try budget.achievedRatio(candidate.policy) - ratio) <= 1e-3)
            #expect(candidate.achievedRatio == (try budget.achievedRatio(candidate.policy)))
        }
    }
}

@Test func staticSearchIsDeterministicFromItsSeed() throws {
    let budget = try Budgets.fineGrained(seed: 3)
    let agent = try PruningAgent.untrained(budget: budget, configuration: TrainingConfiguration())
    let reward = try unseenReward(budget)
    var configuration = StaticSearchConfiguration()
    configuration.iterations = 6
    let first = try agent.search(ratio: 0.3, configuration: configuration, reward: reward)
    let second = try agent.search(ratio: 0.3, configuration: configuration, reward: reward)
    // Exact: the same search twice (same agent, seed and reward).
    #expect(first.candidates == second.candidates)
    #expect(first.bestRewardCurve == second.bestRewardCurve)
    configuration.seed = 2
    let third = try agent.search(ratio: 0.3, configuration: configuration, reward: reward)
    #expect(third.bestRewardCurve != first.bestRewardCurve)
}

@Test func staticSearchRejectsBadSettingsAndRatios() throws {
    let budget = try Budgets.fineGrained(seed: 3)
    let agent = try PruningAgent.untrained(budget: budget, configuration: TrainingConfiguration())
    let reward = try unseenReward(budget)
    var configuration = StaticSearchConfiguration()
    configuration.eliteCount = configuration.populationSize
    #expect((#expect(throws: AgentError.self) {
        try agent.search(ratio: 0.3, configuration: configuration, reward: reward)
    })?.code == .invalidConfiguration)
    #expect((#expect(throws: AgentError.self) {
        try agent.search(ratio: 0.7, reward: reward)
    })?.code == .ratioOutOfRange)
    #expect((#expect(throws: AgentError.self) {
        try StaticSearch.run(from: [0, 0], targetRatio: 0.3, projection: agent.projection,
                             configuration: StaticSearchConfiguration(), reward: reward)
    })?.code == .actionShapeMismatch)
}
