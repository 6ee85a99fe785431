import Foundation
import PPFAgent
import PPFContracts
import PPFRuntime
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``MeasuredSearch`` on a synthetic model whose true sensitivity is known
/// (``SeparableQuadraticObjective``: per-block weights, a computable optimum
/// under the exact budget), with a screen that is only roughly right.
@Suite struct MeasuredSearchTests {
    /// Measures the truth, `exp(2 + loss)`, with a deterministic relative error of up to `noise`.
    struct TruthMeasurer: PolicyMeasurer {
        let objective: SeparableQuadraticObjective
        let noise: Double
        /// Report the truth as a divergence, with a perplexity that misleads (falls as the loss rises).
        var asDivergence = false
        let calls = Recorded<Int>()

        func measure(_ candidates: [StaticCandidate], ratio: Double,
                     onMeasured: @Sendable (Int, CandidateMeasurement) async -> Void) async throws -> [CandidateMeasurement?] {
            var out: [CandidateMeasurement?] = []
            for (index, candidate) in candidates.enumerated() {
                calls.append(index)
                let policy = candidate.candidate.policy
                // A stable hash of the policy (String.hashValue is seeded per process).
                let hash = policy.canonicalKey().unicodeScalars.reduce(0) { ($0 &* 31 &+ Int($1.value)) & 0xFFFF }
                let wobble = Double(hash % 1000) / 1000 - 0.5
                let loss = objective.loss(policy) * (1 + noise * wobble)
                let measurement = asDivergence
                    ? CandidateMeasurement(perplexity: exp(2 - loss), divergence: loss)
                    : CandidateMeasurement(perplexity: exp(2 + objective.loss(policy)) * (1 + noise * wobble))
                out.append(measurement)
                await onMeasured(index, measurement)
            }
            return out
        }
    }

    static func objective() throws -> SeparableQuadraticObjective {
        let layer = LayerBudget(attentionParameters: 1000, mlpParameters: 3000,
                                attentionLevels: (0...8).map { Double($0) / 10 }, mlpChannels: 100, maxRemovedMLPChannels: 90)
        let budget = try ParameterBudget(layers: Array(repeating: layer, count: 8), allowsBlockDrop: false)
        return try SeparableQuadraticObjective.random(budget: budget, spread: 1.5, seed: 11)
    }

    @Test func theSearchBeatsUniformByMeasurementAndComesCloseToTheKnownOptimumUnderTheExactBudget() async throws {
        let objective = try Self.objective()
        let projection = try BudgetProjection(budget: objective.budget)
        let ratio = 0.4
        let uniform = try projection.project(action: [Double](repeating: 0, count: projection.actionCount), targetRatio: ratio)
        // The screen knows the shape but is off by up to ±30 % per block weight.
        let skewed = try SeparableQuadraticObjective(
            budget: objective.budget,
            layerWeights: objective.layerWeights.enumerated().map { $0.element * (1 + 0.3 * sin(Double($0.offset) * 2.1)) })
        let low = TruthMeasurer(objective: objective, noise: 0.02), high = TruthMeasurer(objective: objective, noise: 0)
        var configuration = MeasuredSearchConfiguration()
        configuration.generations = 30
        configuration.seed = 5
        configuration.screensWithPredictor = true
        configuration.mutationScaleMultipliers = [1]
        let phases = Recorded<MeasuredSearch.Event>()
        let outcome = try await MeasuredSearch.run(
            projection: projection, screen: { policies, _ in policies.map { Prediction(mean: skewed.loss($0), std: 0) } },
            ratio: ratio, starts: [("uniform", uniform)], fidelities: [low, high], configuration: configuration,
            queue: BlockingQueue(label: "test"), events: { phases.append($0) })

        let best = outcome.best.candidate.candidate.policy
        #expect(abs(try objective.budget.achievedRatio(best) - ratio) < 1e-3, "every policy meets the budget exactly")
        let bound = try objective.discreteLowerBound(ratio: ratio)
        let found = objective.loss(best), start = objective.loss(uniform)
        // Measured here: uniform 0.465, the search 0.180 after 121 cheap measurements, the bound 0.172.
        #expect(found < start * 0.5, "measured search \(found) vs uniform \(start)")
        #expect(found <= bound * 1.06, "within 6 % of the optimum's lower bound \(bound): \(found)")
        #expect(outcome.measurementsPerFidelity[0] == 1 + 30 * 4, "the start and 4 per generation cheaply")
        #expect((4...5).contains(outcome.measurementsPerFidelity[1]), "4 finalists precisely, and the start if it is not one")
        #expect(low.calls.count == 121 && high.calls.count == outcome.measurementsPerFidelity[1])
        #expect(isClose(outcome.bestPerplexity, exp(2 + found), relative: 1e-12), "the winner's number is its precise measurement")
        #expect(phases.count == 1 + 30 + 1)
    }

    @Test func measuredDivergencesRankTheSearchAndTheProfileWhatEverThePerplexitySays() async throws {
        let objective = try Self.objective()
        let projection = try BudgetProjection(budget: objective.budget)
        let ratio = 0.4
        let uniform = try projection.project(action: [Double](repeating: 0, count: projection.actionCount), targetRatio: ratio)
        let measurer = TruthMeasurer(objective: objective, noise: 0, asDivergence: true)
        var configuration = MeasuredSearchConfiguration()
        configuration.generations = 20
        let outcome = try await MeasuredSearch.run(
            projection: projection, screen: { policies, _ in policies.map { Prediction(mean: objective.loss($0), std: 0) } },
            ratio: ratio, starts: [("uniform", uniform)], fidelities: [measurer], configuration: configuration,
            queue: BlockingQueue(label: "test"))
        let found = objective.loss(outcome.best.candidate.candidate.policy)
        #expect(found < objective.loss(uniform) * 0.5, "ranked by the divergence \(found), not by the perplexity")
        #expect(outcome.best.scores[0] == found)

        let sensitivity = try await MeasuredSearch.sensitivity(projection: projection, measurer: measurer)
        let weights = objective.layerWeights
        let byProfile = sensitivity.indices.sorted { sensitivity[$0] < sensitivity[$1] }
        #expect(byProfile == weights.indices.sorted { weights[$0] < weights[$1] }, "the profile orders blocks by their weight")
    }

    @Test func theSensitivityProfileRanksBlocksByTheirTrueWeightAndItsStartBeatsUniform() async throws {
        let objective = try Self.objective()
        let projection = try BudgetProjection(budget: objective.budget)
        let measurer = TruthMeasurer(objective: objective, noise: 0)
        let sensitivity = try await MeasuredSearch.sensitivity(projection: projection, measurer: measurer)
        #expect(sensitivity.count == 8 && measurer.calls.count == 9, "one probe per block and the dense model")
        // Every probe prunes the same shares, so its log-perplexity rise is proportional to the block's weight.
        let byProfile = sensitivity.indices.sorted { sensitivity[$0] < sensitivity[$1] }
        let byWeight = objective.layerWeights.indices.sorted { objective.layerWeights[$0] < objective.layerWeights[$1] }
        #expect(byProfile == byWeight)
        let ratio = 0.4
        let start = try MeasuredSearch.sensitivityStart(sensitivity, projection: projection, ratio: ratio, scale: 1.5)
        let uniform = try projection.project(action: [Double](repeating: 0, count: projection.actionCount), targetRatio: ratio)
        #expect(abs(try objective.budget.achievedRatio(start) - ratio) < 1e-3)
        #expect(objective.loss(start) < objective.loss(uniform), "\(objective.loss(start)) vs uniform \(objective.loss(uniform))")
        #expect(throws: WorkflowError.self) {
            _ = try MeasuredSearch.sensitivityStart([1, 2], projection: projection, ratio: ratio, scale: 1)
        }
    }

    @Test func badSettingsAndNoMeasurerAreNamedErrors() async throws {
        let objective = try Self.objective()
        let projection = try BudgetProjection(budget: objective.budget)
        let uniform = try projection.project(action: [Double](repeating: 0, count: projection.actionCount), targetRatio: 0.3)
        var configuration = MeasuredSearchConfiguration()
        configuration.measuredPerGeneration = 0
        await #expect(throws: WorkflowError.self) {
            _ = try await MeasuredSearch.run(projection: projection, screen: { try objective.rewardModel($0, $1) }, ratio: 0.3,
                                             starts: [("uniform", uniform)], fidelities: [TruthMeasurer(objective: objective, noise: 0)],
                                             configuration: configuration, queue: BlockingQueue(label: "test"))
        }
        await #expect(throws: WorkflowError.self) {
            _ = try await MeasuredSearch.run(projection: projection, screen: { try objective.rewardModel($0, $1) }, ratio: 0.3,
                                             starts: [("uniform", uniform)], fidelities: [],
                                             configuration: MeasuredSearchConfiguration(), queue: BlockingQueue(label: "test"))
        }
    }
}
