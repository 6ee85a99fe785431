import Foundation
import PPFAgent
import PPFContracts
import PPFTensor
import Testing

// MARK: - Property: every emitted policy meets the target

/// Projects `count` random (ratio, action) pairs and checks every policy:
/// representable, within tolerance, no surviving block destroyed.
private func checkProjection(_ projection: BudgetProjection, count: Int, seed: UInt64) throws -> (drops: Int, worst: Double) {
    var generator = SeededGenerator(seed: seed)
    let budget = projection.budget
    let range = projection.feasibleRatios
    var drops = 0
    var worst = 0.0
    for index in 0..<count {
        // Include the exact ends of the range now and then.
        let ratio = index == 0 ? range.lowerBound : index == 1 ? range.upperBound
            : Double.random(in: range, using: &generator)
        let scales: [Double] = [0.01, 0.3, 1, 4, 30]
        let scale: Double = scales.randomElement(using: &generator) ?? 1
        var action: [Double] = []
        for _ in 0..<projection.actionCount {
            let unit: Double = Double.random(in: -1...1, using: &generator)
            action.append(scale * unit)
        }
        let policy = try projection.project(action: action, targetRatio: ratio)
        let achieved = try budget.achievedRatio(policy)
        worst = max(worst, abs(achieved - ratio))
        #expect(abs(achieved - ratio) <= projection.tolerance, "ratio \(ratio) achieved \(achieved)")
        for (layer, limits) in zip(policy.layers, budget.layers) where !layer.dropped {
            #expect(layer.attentionRatio <= limits.maxAttentionLevel)
            #expect(layer.mlpRatio * Double(limits.mlpChannels) <= Double(limits.maxRemovedMLPChannels) + 1e-9)
        }
        #expect(policy.layers.contains { !$0.dropped })
        drops += policy.layers.filter { (layer: LayerPolicy) in layer.dropped }.count
    }
    return (drops, worst)
}

@Test func everyProjectedSmolLM2PolicyMeetsItsTargetWithinTolerance() throws {
    let plain = try BudgetProjection(budget: try Budgets.smolLM2())
    let (noDrops, worst) = try checkProjection(plain, count: 1500, seed: 1)
    #expect(noDrops == 0)
    #expect(worst < 2e-5)  // half a channel of 1728 params over 106M is 8e-6
    let dropping = try BudgetProjection(budget: try Budgets.smolLM2(allowsBlockDrop: true))
    let (drops, _) = try checkProjection(dropping, count: 1500, seed: 2)
    #expect(drops > 0)
}

@Test func everyProjectedPolicyOnRandomBudgetsMeetsItsTarget() throws {
    for seed in UInt64(1)...40 {
        let budget = try Budgets.randomGQA(seed: seed, allowsBlockDrop: seed % 2 == 0)
        let projection = try BudgetProjection(budget: budget, tolerance: max(1e-3, 2 * budget.ratioResolution))
        _ = try checkProjection(projection, count: 50, seed: seed)
    }
}

// MARK: - Shape of the projection

@Test func zeroActionGivesANearUniformPolicy() throws {
    let budget = try Budgets.smolLM2()
    let projection = try BudgetProjection(budget: budget)
    let policy = try projection.project(action: [Double](repeating: 0, count: 60), targetRatio: 0.3)
    #expect(Set(policy.layers.map(\.attentionRatio)).count == 1)
    let mlp = policy.layers.map(\.mlpRatio)
    #expect((mlp.max() ?? 1) - (mlp.min() ?? 0) <= 1.0 / 1536 + 1e-12)
}

@Test func largerLogitsRemoveMoreFromThatBlock() throws {
    let budget = try Budgets.smolLM2()
    let projection = try BudgetProjection(budget: budget)
    var action = [Double](repeating: 0, count: 60)
    action[5] = 3       // attention of block 5
    action[30 + 7] = 2  // MLP of block 7
    let policy = try projection.project(action: action, targetRatio: 0.3)
    #expect(policy.layers[5].attentionRatio > policy.layers[0].attentionRatio)
    #expect(policy.layers[7].mlpRatio > policy.layers[0].mlpRatio)
}

@Test func ratiosAboveWhatPruningAloneCanReachForceBlockDrops() throws {
    let projection = try BudgetProjection(budget: try Budgets.smolLM2(allowsBlockDrop: true))
    let policy = try projection.project(action: [Double](repeating: -5, count: 90), targetRatio: 0.95)
    // Pruning alone removes at most `cap` of a block, so d drops need d + (30 − d)·cap ≥ 0.95·30.
    let cap = try Budgets.smolLM2().feasibleRatios.upperBound
    let needed = Int(((0.95 * 30 - 30 * cap) / (1 - cap)).rounded(.up))
    #expect(policy.layers.filter(\.dropped).count == needed)
    #expect(abs(try projection.budget.achievedRatio(policy) - 0.95) <= 1e-3)
    let voluntary = try projection.project(action: [Double](repeating: 0, count: 60) + [4] + [Double](repeating: -4, count: 29),
                                           targetRatio: 0.2)
    #expect(voluntary.layers[0].dropped)
    #expect(voluntary.layers.filter(\.dropped).count == 1)
}

@Test func extremeRatiosGiveTheEmptyAndTheFullestPolicy() throws {
    let budget = try Budgets.smolLM2()
    let projection = try BudgetProjection(budget: budget)
    let empty = try projection.project(action: [Double](repeating: 2, count: 60), targetRatio: 0)
    #expect(empty.layers.allSatisfy { $0.attentionRatio == 0 && $0.mlpRatio == 0 })
    let full = try projection.project(action: [Double](repeating: -2, count: 60), targetRatio: budget.feasibleRatios.upperBound)
    #expect(full.layers.allSatisfy { abs($0.attentionRatio - 10.0 / 12) < 1e-12 && $0.mlpRatio == 1382.0 / 1536 })
}

// MARK: - Bad input

@Test func outOfRangeRatiosThrowRatioOutOfRange() throws {
    let projection = try BudgetProjection(budget: try Budgets.smolLM2())
    let action = [Double](repeating: 0, count: 60)
    for ratio in [-0.01, 0.9, 1, 1.5, .nan, -.infinity] {
        let error = #expect(throws: AgentError.self) { try projection.project(action: action, targetRatio: ratio) }
        #expect(error?.code == .ratioOutOfRange)
    }
}

@Test func malformedActionsThrowActionShapeMismatch() throws {
    let projection = try BudgetProjection(budget: try Budgets.smolLM2())
    for action in [[Double](repeating: 0, count: 59), [Double](repeating: 0, count: 90), [Double.nan] + [Double](repeating: 0, count: 59)] {
        let error = #expect(throws: AgentError.self) { try projection.project(action: action, targetRatio: 0.3) }
        #expect(error?.code == .actionShapeMismatch)
    }
}

@Test func aToleranceFinerThanOneChannelIsRejected() throws {
    let budget = try Budgets.smolLM2()
    let error = #expect(throws: AgentError.self) { try BudgetProjection(budget: budget, tolerance: budget.ratioResolution / 2) }
    #expect(error?.code == .invalidConfiguration)
}
