import Foundation
import PPFContracts
import Testing
@testable import PPFAgent

/// The predictor's training-set sampler: deterministic, diverse, on budget, deduplicated.
@Suite struct PolicySamplerTests {
    static func sampler(allowsBlockDrop: Bool = false,
                        configuration: PolicySampler.Configuration = .init()) throws -> PolicySampler {
        try PolicySampler(projection: BudgetProjection(budget: Budgets.smolLM2(allowsBlockDrop: allowsBlockDrop)),
                          configuration: configuration)
    }

    static let uniformSeed = PruningPolicy.uniform(blocks: 30, attention: 0, mlp: 0.3)

    @Test func theSameSeedGivesTheSamePoliciesAndAnotherSeedOthers() throws {
        let sampler = try Self.sampler(allowsBlockDrop: true)
        let first = try sampler.sample(count: 24, seed: 7, seedPolicies: [Self.uniformSeed])
        let again = try sampler.sample(count: 24, seed: 7, seedPolicies: [Self.uniformSeed])
        let other = try sampler.sample(count: 24, seed: 8, seedPolicies: [Self.uniformSeed])
        #expect(first == again)
        #expect(first.map(\.policy) != other.map(\.policy))
    }

    @Test func everyPolicyAchievesItsTargetAndTargetsSpanTheRange() throws {
        let sampler = try Self.sampler(allowsBlockDrop: true)
        let samples = try sampler.sample(count: 40, seed: 1, seedPolicies: [Self.uniformSeed])
        #expect(samples.count == 40)
        let tolerance = sampler.projection.tolerance
        for sample in samples {
            let achieved = try sampler.projection.budget.achievedRatio(sample.policy)
            #expect(abs(achieved - sample.targetRatio) <= tolerance)
            #expect(achieved == sample.achievedRatio)
            #expect((0.05 - tolerance...0.7 + tolerance).contains(achieved))
        }
        let targets = samples.map(\.targetRatio).sorted()
        #expect(try #require(targets.first) < 0.07)
        #expect(try #require(targets.last) > 0.68)
        // Stratified: one target in each fortieth of the range.
        for (index, target) in targets.enumerated() {
            let stratum = 0.05 + 0.65 * Double(index) / 40
            #expect(target >= stratum - 1e-12 && target <= stratum + 0.65 / 40 + 1e-12)
        }
    }

    @Test func samplesMixRandomAllocationsPerturbationsAndBlockDrops() throws {
        let samples = try Self.sampler(allowsBlockDrop: true)
            .sample(count: 60, seed: 3, seedPolicies: [Self.uniformSeed])
        let kinds = Dictionary(grouping: samples, by: \.kind).mapValues(\.count)
        #expect(kinds[.perturbation] == 18)
        #expect((kinds[.blockDrop] ?? 0) >= 5)
        #expect((kinds[.randomAllocation] ?? 0) >= 30)
        for sample in samples where sample.kind == .blockDrop {
            let drops = sample.policy.layers.filter(\.dropped).count
            #expect(drops > 0)
        }
        #expect(samples.filter { $0.kind == .perturbation }.allSatisfy { $0.seedIndex == 0 })
        // Non-uniform: random allocations give different blocks different MLP ratios.
        let random = try #require(samples.first { $0.kind == .randomAllocation && $0.targetRatio > 0.3 })
        let mlp = random.policy.layers.map(\.mlpRatio)
        #expect(try #require(mlp.max()) - (try #require(mlp.min())) > 0.1)
    }

    @Test func withoutSeedsOrDropsEverySampleIsARandomAllocation() throws {
        let samples = try Self.sampler(allowsBlockDrop: false).sample(count: 20, seed: 5)
        #expect(samples.count == 20)
        #expect(samples.allSatisfy { $0.kind == .randomAllocation })
        #expect(samples.allSatisfy { sample in sample.policy.layers.allSatisfy { !$0.dropped } })
    }

    @Test func anUnperturbedSeedIsReproducedAtItsOwnRatio() throws {
        var configuration = PolicySampler.Configuration(ratioRange: 0.2...0.2, perturbationShare: 1, blockDropShare: 0,
                                                        perturbationScale: 0)
        configuration.attemptsPerPolicy = 1
        let sampler = try Self.sampler(configuration: configuration)
        // A non-uniform seed: heavier MLP pruning in the late blocks.
        let budget = sampler.projection.budget
        let seedAction: [Double] = (0..<60).map { (entry: Int) -> Double in
            entry < 30 ? 0 : (Double(entry - 30) / 29 - 0.5) * 3
        }
        let seed = try sampler.projection.project(action: seedAction, targetRatio: 0.2)
        let sample = try #require(try sampler.sample(count: 1, seed: 9, seedPolicies: [seed]).first)
        #expect(sample.kind == .perturbation)
        for (got, want) in zip(sample.policy.layers, seed.layers) {
            #expect(got.attentionRatio == want.attentionRatio)
            // Whole channels: the shape comes back within a couple of channels per block.
            #expect(abs(got.mlpRatio - want.mlpRatio) * Double(budget.layers[0].mlpChannels) <= 2.5)
        }
    }

    @Test func alreadyMeasuredPoliciesAreNeverReturnedAndNoneRepeats() throws {
        let sampler = try Self.sampler(allowsBlockDrop: true)
        let earlier = try sampler.sample(count: 30, seed: 11, seedPolicies: [Self.uniformSeed])
        let measured = Array(earlier.prefix(15).map(\.policy))
        let next = try sampler.sample(count: 30, seed: 11, seedPolicies: [Self.uniformSeed], excluding: measured)
        let measuredKeys = Set(measured.map { $0.canonicalKey(decimals: 3) })
        let keys = next.map { $0.policy.canonicalKey(decimals: 3) }
        #expect(Set(keys).count == keys.count, "no duplicates within one draw")
        #expect(measuredKeys.isDisjoint(with: keys), "nothing already measured")
        #expect(next.count == 30)
    }

    @Test func aTinyBudgetRunsOutOfDistinctPoliciesAndSaysSoByReturningFewer() throws {
        // One block, one KV head of one query head: attention is all or nothing, 4 MLP channels.
        let budget = try ParameterBudget.groupedQueryAttention(
            blocks: 1, hiddenSize: 8, queryHeads: 1, kvHeads: 1, headDimension: 8, ffnChannels: 8,
            minimumKeptMLPFraction: 0.5, allowsBlockDrop: false)
        let sampler = try PolicySampler(projection: BudgetProjection(budget: budget, tolerance: 0.2),
                                        configuration: .init(ratioRange: 0...0.3))
        let samples = try sampler.sample(count: 50, seed: 2)
        #expect(samples.count < 50)
        #expect(Set(samples.map { $0.policy.canonicalKey(decimals: 3) }).count == samples.count)
    }

    @Test func badSettingsAndSeedsAreNamedErrors() throws {
        #expect(throws: AgentError.self) {
            try Self.sampler(configuration: .init(perturbationShare: 0.8, blockDropShare: 0.5))
        }
        #expect(throws: AgentError.self) { try Self.sampler(configuration: .init(ratioRange: 0.5...1.0)) }
        #expect(throws: AgentError.self) { try Self.sampler(configuration: .init(ratioRange: 0.99...0.995)) }
        let sampler = try Self.sampler()
        #expect(throws: AgentError.self) {
            try sampler.sample(count: 3, seed: 1, seedPolicies: [.uniform(blocks: 4, attention: 0, mlp: 0.1)])
        }
        #expect(throws: AgentError.self) { try sampler.sample(count: -1, seed: 1) }
    }
}
