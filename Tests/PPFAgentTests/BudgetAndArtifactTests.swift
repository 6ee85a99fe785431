import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFTensor
import Testing

// MARK: - Budgets of real configurations

@Test func theBudgetOfSmolLM2sConfigurationIsTheGroupedQueryAttentionBudget() throws {
    let configuration = try LlamaConfiguration(
        blockCount: 30, embeddingLength: 576, headCounts: [9], keyValueHeadCounts: [3], feedForwardLengths: [1536],
        headDimension: 64, contextLength: 8192, vocabularySize: 49152)
    for drops in [false, true] {
        #expect(try ParameterBudget(configuration: configuration, allowsBlockDrop: drops)
                == Budgets.smolLM2(allowsBlockDrop: drops))
    }
}

@Test func blocksOfDifferentWidthsGetTheirOwnBudgetsAndABlockWithoutAttentionIsRefused() throws {
    let uneven = try LlamaConfiguration(
        blockCount: 3, embeddingLength: 64, headCounts: [4, 2, 4], keyValueHeadCounts: [2, 1, 2],
        feedForwardLengths: [128, 96, 64], headDimension: 16, contextLength: 256, vocabularySize: 100)
    let budget = try ParameterBudget(configuration: uneven, allowsBlockDrop: false)
    #expect(budget.layers.map(\.mlpChannels) == [128, 96, 64])
    #expect(budget.layers.map(\.attentionParameters) == [64 * 16 * 12, 64 * 16 * 6, 64 * 16 * 12])
    let levels = budget.layers[1].attentionLevels
    #expect(levels.count == 2 && levels[0] == 0 && abs(levels[1] - 1.0 / 3) < 1e-12, "2 heads in 1 group: keep 1 head or both")

    let headless = try LlamaConfiguration(
        blockCount: 2, embeddingLength: 64, headCounts: [4, 0], keyValueHeadCounts: [2, 0],
        feedForwardLengths: [128], headDimension: 16, contextLength: 256, vocabularySize: 100)
    #expect { _ = try ParameterBudget(configuration: headless, allowsBlockDrop: false) } throws: { error in
        (error as? AgentError)?.code == .invalidBudget && "\(error)".contains("block 1")
    }
}

// MARK: - Artifact summary

@Test func anArtifactSummarisesItsTrainingAndItsKeyFollowsTheConfiguration() throws {
    let budget = try Budgets.smolLM2()
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 4)
    var configuration = TrainingConfiguration()
    configuration.iterations = 3
    let (agent, report) = try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel)
    let artifact = AgentArtifact(agent: agent, report: report, predictorVersion: "p")
    let summary = artifact.summary
    #expect(summary.iterations == 3 && summary.rewardCalls == 3 && summary.policiesScored == 3 * 16 * 8)
    #expect(summary.minimumRatio == 0.05 && summary.maximumRatio == 0.6 && summary.seed == 1)
    #expect(summary.finalMeanReward == report.curve.last?.meanReward)
    #expect(artifact.configurationKey == AgentArtifact.configurationKey(configuration, allowsBlockDrop: false))
    var reseeded = configuration
    reseeded.seed = 2
    #expect(AgentArtifact.configurationKey(reseeded, allowsBlockDrop: false) != artifact.configurationKey)
    #expect(AgentArtifact.configurationKey(configuration, allowsBlockDrop: true) != artifact.configurationKey)
}

