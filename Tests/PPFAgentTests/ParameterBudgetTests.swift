import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFTensor
import Testing

// MARK: - SmolLM2 shapes

@Test func smolLM2BudgetHasThePaperShapesAndGQALevels() throws {
    let budget = try Budgets.smolLM2()
    #expect(budget.blockCount == 30)
    #expect(budget.layers.allSatisfy { $0.attentionParameters == 884_736 && $0.mlpParameters == 2_654_208 })
    #expect(budget.totalParameters == 30 * (884_736 + 2_654_208))
    // 1 − g(m+1)/12 for g, m in 1...3: {0, 1/4, 1/3, 1/2, 2/3, 3/4, 5/6}.
    let expected = [0, 3, 4, 6, 8, 9, 10].map { Double($0) / 12 }
    let levels = try #require(budget.layers.first?.attentionLevels)
    #expect(levels.count == expected.count)
    for (level, value) in zip(levels, expected) { #expect(abs(level - value) < 1e-12) }
    // Keep ≥ 10% of 1536 channels: at most 1382 removed.
    #expect(budget.layers[0].maxRemovedMLPChannels == 1382)
    #expect(budget.actionCount == 60)
    #expect(try Budgets.smolLM2(allowsBlockDrop: true).actionCount == 90)
}

@Test func feasibleRangeWithoutDropsIsTheSumOfPerBlockLimits() throws {
    let budget = try Budgets.smolLM2()
    let perBlock = 884_736.0 * 10 / 12 + 2_654_208.0 * 1382 / 1536
    #expect(abs(budget.feasibleRatios.upperBound - perBlock / (884_736.0 + 2_654_208.0)) < 1e-12)
    let withDrops = try Budgets.smolLM2(allowsBlockDrop: true)
    #expect(withDrops.feasibleRatios.upperBound > 0.99)
    #expect(withDrops.feasibleRatios.upperBound < 1)
}

// MARK: - Achieved ratio

@Test func achievedRatioIsComputedExactlyFromTheShapes() throws {
    let budget = try Budgets.smolLM2(allowsBlockDrop: true)
    var layers = Array(repeating: LayerPolicy(attentionRatio: 0.25, mlpRatio: 768.0 / 1536), count: 30)
    layers[3] = LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true)
    let removed = 29 * (0.25 * 884_736 + 0.5 * 2_654_208) + (884_736 + 2_654_208)
    #expect(try budget.removedParameters(PruningPolicy(layers: layers)) == removed)
    #expect(try budget.achievedRatio(PruningPolicy(layers: layers)) == removed / Double(budget.totalParameters))
}

@Test func policiesTheLayoutCannotRealiseAreRejectedWithNamedErrors() throws {
    let budget = try Budgets.smolLM2()
    let offLevel = PruningPolicy.uniform(blocks: 30, attention: 0.3, mlp: 0.5)
    #expect(throws: AgentError.self) { try budget.achievedRatio(offLevel) }
    let halfChannel = PruningPolicy.uniform(blocks: 30, attention: 0.25, mlp: 100.5 / 1536)
    let error = #expect(throws: AgentError.self) { try budget.achievedRatio(halfChannel) }
    #expect(error?.code == .policyNotRepresentable)
    let wrongCount = PruningPolicy.uniform(blocks: 29, attention: 0.25, mlp: 0.5)
    #expect((#expect(throws: AgentError.self) { try budget.achievedRatio(wrongCount) })?.code == .policyShapeMismatch)
    var dropped = PruningPolicy.uniform(blocks: 30, attention: 0, mlp: 0)
    dropped.layers[0].dropped = true
    #expect((#expect(throws: AgentError.self) { try budget.achievedRatio(dropped) })?.code == .policyNotRepresentable)
}

// MARK: - Validation

@Test func inconsistentBudgetsAreRejectedWithInvalidBudget() throws {
    let good = LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.5],
                           mlpChannels: 100, maxRemovedMLPChannels: 90)
    #expect(throws: Never.self) { try ParameterBudget(layers: [good, good], allowsBlockDrop: true) }
    let cases: [[LayerBudget]] = [
        [],
        [LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0.1, 0.5],
                     mlpChannels: 100, maxRemovedMLPChannels: 90)],
        [LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.5, 0.4],
                     mlpChannels: 100, maxRemovedMLPChannels: 90)],
        [LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 1],
                     mlpChannels: 100, maxRemovedMLPChannels: 90)],
        [LayerBudget(attentionParameters: 1000, mlpParameters: 3000, attentionLevels: [0, 0.5],
                     mlpChannels: 100, maxRemovedMLPChannels: 100)],
        // An attention step (9000) the MLP (capacity 300) cannot absorb.
        [LayerBudget(attentionParameters: 10_000, mlpParameters: 300, attentionLevels: [0, 0.9],
                     mlpChannels: 10, maxRemovedMLPChannels: 9)],
    ]
    for layers in cases {
        let error = #expect(throws: AgentError.self) { try ParameterBudget(layers: layers, allowsBlockDrop: false) }
        #expect(error?.code == .invalidBudget)
    }
    #expect((#expect(throws: AgentError.self) {
        try ParameterBudget.groupedQueryAttention(blocks: 2, hiddenSize: 64, queryHeads: 5, kvHeads: 2,
                                                  headDimension: 16, ffnChannels: 128, allowsBlockDrop: false)
    })?.code == .invalidBudget)
}

@Test func decodingABudgetRevalidatesIt() throws {
    let budget = try Budgets.smolLM2()
    let data = try JSONEncoder().encode(budget)
    #expect(try JSONDecoder().decode(ParameterBudget.self, from: data) == budget)
    let broken = try #require(String(data: data, encoding: .utf8)?
        .replacingOccurrences(of: "\"maxRemovedMLPChannels\":1382", with: "\"maxRemovedMLPChannels\":1536"))
    #expect(throws: AgentError.self) { try JSONDecoder().decode(ParameterBudget.self, from: Data(broken.utf8)) }
}

// MARK: - One source with the pruning engine's accounting

/// The budget of a configuration is built from PPFModel's `ParameterAccounting`
/// of it, so its counts and levels are the accounting's, and both compute a
/// policy's ratio with `ParameterAccounting.achievedRatio(of:in:)`.
///
/// The one place they may differ is the attention removed: the budget stores
/// levels as fractions (its Codable form, which stored agent artifacts use), so
/// it removes `level·A_l`, one rounding away from the accounting's whole
/// `A_l − kept`. The removed count therefore matches after rounding to a whole
/// parameter, and the ratio to 1e-15: `level·A_l` is off by about `A_l·2⁻⁵³`
/// ≈ 1e-10 parameters per block, a few 1e-17 of the ratio over 30 blocks,
/// while one wrong channel or level would move it by at least 1/Σ(A+M) ≈ 1e-8.
@Test func theBudgetAndTheAccountingAreTheSameNumbersFromOneSource() throws {
    let configurations = [
        try LlamaConfiguration(blockCount: 30, embeddingLength: 576, headCounts: [9], keyValueHeadCounts: [3],
                               feedForwardLengths: [1536], headDimension: 64, contextLength: 8192, vocabularySize: 49152),
        try LlamaConfiguration(blockCount: 3, embeddingLength: 64, headCounts: [4, 2, 4], keyValueHeadCounts: [2, 1, 2],
                               feedForwardLengths: [128, 96, 64], headDimension: 16, contextLength: 256, vocabularySize: 100),
    ]
    var generator = SeededGenerator(seed: 77)
    for configuration in configurations {
        let accounting = ParameterAccounting(configuration: configuration)
        let budget = try ParameterBudget(configuration: configuration, allowsBlockDrop: configuration.blockCount == 30)
        #expect(budget == (try ParameterBudget(accounting: accounting, allowsBlockDrop: budget.allowsBlockDrop)))
        #expect(budget.totalParameters == accounting.prunableParameters)
        for (layer, block) in zip(budget.layers, accounting.layers) {
            #expect(layer.attentionParameters == block.attentionParameters)
            #expect(layer.mlpParameters == block.mlpParameters)
            #expect(layer.mlpChannels == block.feedForwardLength)
            #expect(layer.attentionLevels == block.attentionLevels.filter { !$0.shapes.isEmpty }.map(\.removal))
        }
        var compared = 0
        for _ in 0..<200 {
            let layers = budget.layers.map { layer -> LayerPolicy in
                if budget.allowsBlockDrop, generator.nextUniform() < 0.1 {
                    return LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true)
                }
                return LayerPolicy(attentionRatio: generator.element(of: layer.attentionLevels) ?? 0,
                                   mlpRatio: Double(generator.next(in: 0...layer.maxRemovedMLPChannels)) / Double(layer.mlpChannels))
            }
            let policy = PruningPolicy(layers: layers)
            guard policy.layers.contains(where: { !$0.dropped }) else { continue }
            let removed = accounting.prunableParameters - (try accounting.keptParameters(policy))
            #expect(try budget.removedParameters(policy).rounded() == Double(removed))
            #expect(abs(try budget.achievedRatio(policy) - accounting.achievedRatio(policy)) <= 1e-15)
            compared += 1
        }
        #expect(compared > 150)
    }
}
