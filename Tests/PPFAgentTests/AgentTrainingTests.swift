import Foundation
import PPFAgent
import PPFContracts
import Testing

// MARK: - Training finds the known optimum

/// Ratios off any training grid (training draws continuous ratios, so no
/// ratio is "seen" exactly; these include the range's edges).
private let probeRatios = [0.05, 0.1, 0.2371, 0.3, 0.4183, 0.5, 0.6]

@Test func trainedAgentIsWithinTwoPercentOfTheKKTOptimumIncludingUnseenRatios() throws {
    let budget = try Budgets.fineGrained(seed: 7)
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 11)
    var configuration = TrainingConfiguration()
    configuration.seed = 3
    let (agent, report) = try PruningAgent.train(budget: budget, configuration: configuration,
                                                 reward: objective.rewardModel)
    #expect(report.curve.count == configuration.iterations)
    #expect(report.rewardCalls == configuration.iterations)
    for ratio in probeRatios {
        let policy = try agent.policy(forRatio: ratio)
        let achieved = try budget.achievedRatio(policy)
        #expect(abs(achieved - ratio) <= 1e-3)
        // Compare at the achieved ratio: the KKT optimum is a continuous lower bound there.
        let optimum = try objective.optimum(ratio: achieved)
        let uniform = try agent.projection.project(action: [Double](repeating: 0, count: budget.actionCount),
                                                   targetRatio: ratio)
        let gap = objective.loss(policy) / optimum.loss - 1
        // The range's edges have training data on one side only: over seeds 1–6 (OpenBLAS 0.3.34, EPYC)
        // the gap at 0.05 is 0.8–2.5 % and at 0.6 0.4–0.8 %; inside, 0.07–0.5 %.
        let edge = ratio == probeRatios.first || ratio == probeRatios.last
        #expect(gap <= (edge ? 0.04 : 0.01), "ratio \(ratio): loss \(objective.loss(policy)) vs optimum \(optimum.loss)")
        // The test can fail in the other direction too: the uniform start is far off.
        #expect(objective.loss(uniform) / optimum.loss - 1 > 0.5)
    }
}

/// Blocks 1 and 4 are nearly free to drop; dropping any other block is
/// expensive. The optimum's drop set changes with the ratio (none, {4}, {1},
/// {1, 4}) because whole blocks must fit the budget.
@Test func trainedAgentDropsExactlyTheBlocksTheOptimumDropsAtEachRatio() throws {
    let budget = try Budgets.fineGrained(seed: 7, allowsBlockDrop: true)
    let base = try SeparableQuadraticObjective.random(budget: budget, seed: 11)
    var dropLosses = base.dropLosses
    dropLosses[1] = 0.02 * base.layerWeights[1]
    dropLosses[4] = 0.02 * base.layerWeights[4]
    let objective = try SeparableQuadraticObjective(budget: budget, layerWeights: base.layerWeights, dropLosses: dropLosses)
    let agent = try PruningAgent.train(budget: budget, configuration: TrainingConfiguration(),
                                       reward: objective.rewardModel).agent
    var dropSets = Set<[Bool]>()
    for ratio in [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6] {
        let policy = try agent.policy(forRatio: ratio)
        let optimum = try objective.optimum(ratio: try budget.achievedRatio(policy), allowingDrops: true)
        #expect(policy.layers.map(\.dropped) == optimum.dropped, "ratio \(ratio)")
        #expect(objective.loss(policy) / optimum.loss - 1 <= 0.05, "ratio \(ratio)")
        dropSets.insert(optimum.dropped)
    }
    #expect(dropSets.count == 4)
}

@Test func trainingImprovesTheMeanReward() throws {
    let budget = try Budgets.fineGrained(seed: 1)
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 2)
    var configuration = TrainingConfiguration()
    configuration.iterations = 60
    let (_, report) = try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel)
    let first = report.curve.prefix(5).map(\.meanReward).reduce(0, +) / 5
    let last = report.curve.suffix(5).map(\.meanReward).reduce(0, +) / 5
    #expect(last > first)
    #expect(report.curve.last?.explorationStd ?? 1 < report.curve.first?.explorationStd ?? 0)
    #expect(report.policiesScored == 60 * configuration.ratiosPerIteration * configuration.samplesPerRatio)
}

// MARK: - Determinism

@Test func sameSeedGivesAnIdenticalAgentAndADifferentSeedDoesNot() throws {
    let budget = try Budgets.smolLM2(allowsBlockDrop: true)
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 5)
    var configuration = TrainingConfiguration()
    configuration.iterations = 8
    configuration.ratiosPerIteration = 4
    configuration.samplesPerRatio = 4
    let first = try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel)
    let second = try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel)
    // Exact: the same training run twice in one process (same shapes, kernels and thread count).
    #expect(first.agent.network == second.agent.network)
    #expect(first.report.curve == second.report.curve)
    #expect(try first.agent.policy(forRatio: 0.33) == second.agent.policy(forRatio: 0.33))
    configuration.seed = 2
    let third = try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel)
    #expect(third.agent.network != first.agent.network)
}

// MARK: - Uncertainty penalty

/// A predictor that is wrong in one place: it believes removing much of
/// block 0's attention is free (mean bonus), but its ensemble disagrees
/// there (large std) because it never saw such policies.
private func exploitablePredictor(_ objective: SeparableQuadraticObjective) -> RewardModel {
    { policies, _ in
        policies.map { policy in
            let attention = policy.layers[0].attentionRatio
            return Prediction(mean: objective.loss(policy) - attention, std: 2 * attention)
        }
    }
}

@Test func uncertaintyPenaltyKeepsTheAgentAwayFromWhereThePredictorIsUnsure() throws {
    let budget = try Budgets.fineGrained(seed: 4)
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 6)
    var configuration = TrainingConfiguration()
    configuration.iterations = 150
    configuration.uncertaintyPenalty = 0
    let greedy = try PruningAgent.train(budget: budget, configuration: configuration,
                                        reward: exploitablePredictor(objective)).agent
    configuration.uncertaintyPenalty = 1
    let careful = try PruningAgent.train(budget: budget, configuration: configuration,
                                         reward: exploitablePredictor(objective)).agent
    for ratio in [0.2, 0.4] {
        let greedyPolicy = try greedy.policy(forRatio: ratio)
        let carefulPolicy = try careful.policy(forRatio: ratio)
        #expect(greedyPolicy.layers[0].attentionRatio > 0.6)
        #expect(carefulPolicy.layers[0].attentionRatio < greedyPolicy.layers[0].attentionRatio - 0.3)
        // Under the true objective the careful agent is the better one.
        #expect(objective.loss(carefulPolicy) < objective.loss(greedyPolicy))
    }
}

// MARK: - Bad input

@Test func agentRejectsRatiosOutsideItsTrainedRangeWithANamedError() throws {
    let agent = try PruningAgent.untrained(budget: try Budgets.smolLM2(), configuration: TrainingConfiguration())
    for ratio in [0.0, 0.049, 0.61, 0.95, -1, .nan, .infinity] {
        let error = #expect(throws: AgentError.self) { try agent.policy(forRatio: ratio) }
        #expect(error?.code == .ratioOutOfRange)
    }
}

@Test func trainingRangeBeyondTheBudgetIsRejected() throws {
    var configuration = TrainingConfiguration()
    configuration.maximumRatio = 0.95
    let error = #expect(throws: AgentError.self) {
        try PruningAgent.untrained(budget: try Budgets.smolLM2(), configuration: configuration)
    }
    #expect(error?.code == .ratioOutOfRange)
    configuration.maximumRatio = 0.6
    configuration.samplesPerRatio = 1
    let tooFew = #expect(throws: AgentError.self) {
        try PruningAgent.untrained(budget: try Budgets.smolLM2(), configuration: configuration)
    }
    #expect(tooFew?.code == .invalidConfiguration)
}

@Test func rewardModelAnsweringWithTheWrongCountOrNaNIsANamedError() throws {
    let budget = try Budgets.fineGrained(seed: 1)
    var configuration = TrainingConfiguration()
    configuration.iterations = 2
    let short = #expect(throws: AgentError.self) {
        try PruningAgent.train(budget: budget, configuration: configuration) { policies, _ in
            Array(repeating: Prediction(mean: 1, std: 0), count: policies.count - 1)
        }
    }
    #expect(short?.code == .rewardShapeMismatch)
    let nan = #expect(throws: AgentError.self) {
        try PruningAgent.train(budget: budget, configuration: configuration) { policies, _ in
            Array(repeating: Prediction(mean: .nan, std: 0), count: policies.count)
        }
    }
    #expect(nan?.code == .nonFiniteReward)
}

// MARK: - Bounds used by the benchmark

@Test func discreteLowerBoundSitsBetweenTheContinuousOptimumAndRealPolicies() throws {
    let budget = try Budgets.smolLM2()
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 3)
    let projection = try BudgetProjection(budget: budget)
    for ratio in [0.1, 0.3, 0.5] {
        let continuous = try objective.optimum(ratio: ratio).loss
        let discrete = try objective.discreteLowerBound(ratio: ratio)
        #expect(discrete >= continuous)
        // Any real policy at (almost exactly) this ratio is at least the bound.
        let policy = try projection.project(action: [Double](repeating: 0, count: 60), targetRatio: ratio)
        let atAchieved = try objective.discreteLowerBound(ratio: try budget.achievedRatio(policy))
        #expect(objective.loss(policy) >= atAchieved)
    }
    // With coarse GQA levels the bound is strictly tighter somewhere.
    #expect(try objective.discreteLowerBound(ratio: 0.3) > objective.optimum(ratio: 0.3).loss * 1.001)
}
