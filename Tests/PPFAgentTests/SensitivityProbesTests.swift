import PPFContracts
import Testing
@testable import PPFAgent

// MARK: - The sensitivity profile's probes

@Test func smolLM2ProbesEachBlockAloneAtThreeAttentionLevelsThreeMLPLevelsAndTheDrop() throws {
    let budget = try Budgets.smolLM2(allowsBlockDrop: true)
    let probes = try SensitivityProbes().probes(for: budget)
    #expect(probes.count == 1 + 30 * 7)
    #expect(probes[0].kind == "dense" && probes[0].policy.layers.allSatisfy { $0 == LayerPolicy(attentionRatio: 0, mlpRatio: 0) })
    #expect(Set(probes.map(\.policy)).count == probes.count, "no probe twice")
    for probe in probes.dropFirst() {
        let pruned = probe.policy.layers.filter { $0.dropped || $0.attentionRatio > 0 || $0.mlpRatio > 0 }
        #expect(pruned.count == 1, "exactly one block leaves the dense model")
        let layer = try #require(pruned.first)
        switch probe.kind {
        case "attention": #expect(layer.mlpRatio == 0 && budget.layers[0].attentionLevels.contains(layer.attentionRatio))
        case "mlp": #expect(layer.attentionRatio == 0 && layer.mlpRatio > 0)
        case "drop": #expect(layer.dropped)
        default: Issue.record("unexpected kind \(probe.kind)")
        }
        // Every probe is a policy the budget accepts.
        #expect(try budget.achievedRatio(probe.policy) > 0)
    }
    // Block 0's levels: attention 1/3, 2/3 and 5/6 of its heads' parameters; MLP 0.3, 0.6 and 0.9 of its channels.
    let block0 = probes.filter { $0.policy.layers[0] != LayerPolicy(attentionRatio: 0, mlpRatio: 0) }
    let attention = block0.filter { $0.kind == "attention" }.map { $0.policy.layers[0].attentionRatio }
    let mlp = block0.filter { $0.kind == "mlp" }.map { $0.policy.layers[0].mlpRatio }
    #expect(zip(attention, [1.0 / 3, 2.0 / 3, 5.0 / 6]).allSatisfy { abs($0 - $1) < 1e-9 })
    #expect(zip(mlp, [0.3, 0.6, 0.9]).allSatisfy { abs($0 - $1) < 2e-3 })
}

@Test func probesWithoutDropsWhereTheBudgetForbidsThemAndBadLevelsAreRefused() throws {
    let budget = try Budgets.smolLM2(allowsBlockDrop: false)
    let probes = try SensitivityProbes().probes(for: budget)
    #expect(probes.count == 1 + 30 * 6 && !probes.contains { $0.kind == "drop" })
    // Fractions that snap to one level give one probe.
    #expect(try SensitivityProbes(attentionFractions: [0.99, 1], mlpFractions: [1], probesDrops: false)
        .probes(for: budget).count == 1 + 30 * 2)
    for bad in [[0.0], [1.5], [Double.nan]] {
        #expect(throws: AgentError.self) { try SensitivityProbes(attentionFractions: bad).probes(for: budget) }
    }
}
