import Foundation
import PPFAgent
import PPFContracts
import PPFRuntime
import PPFTensor

// MARK: - MeasuredSearchConfiguration

/// How hard ``MeasuredSearch`` searches (measurements are the cost).
public struct MeasuredSearchConfiguration: Sendable {
    /// Generations of offspring after the starts.
    public var generations = 25
    /// Offspring proposed per generation, before the predictor screens them.
    public var offspring = 48
    /// Offspring per generation that the predictor lets through to a measurement (lowest fidelity).
    public var measuredPerGeneration = 4
    /// Action coordinates each mutation moves.
    public var mutatedCoordinates = 3
    /// Standard deviation of a mutation, in logit units of the action.
    public var mutationScale = 0.6
    /// Each mutated coordinate's standard deviation is `mutationScale` times
    /// one of these, drawn uniformly: values above 1 give the occasional long
    /// jump (a block made nearly dense or pruned to its limit) that small
    /// steps reach only over many generations.
    public var mutationScaleMultipliers: [Double] = [1, 3, 8]
    /// Let the predictor pick which offspring are measured; off: the first
    /// `measuredPerGeneration` offspring (random mutations) are measured unscreened.
    public var screensWithPredictor = false
    /// Candidates that enter the successive halving at the second fidelity.
    public var finalists = 4
    /// Seed of the mutations.
    public var seed: UInt64 = 0
    /// Measure the model's sensitivity profile (one probe per block) and
    /// start a search from the policy it suggests, where the caller supports it.
    public var profileStart = true
    /// How strongly the sensitivity start follows the measured profile:
    /// the action is −scale × the standardised log-sensitivity of each block.
    public var profileScale = 2.5
    /// What in-process measurements rank by (the evaluators measure perplexity only).
    public var objective = SearchObjective.klDivergence

    /// The defaults above: 25 generations, long jumps (×1, ×3, ×8), no
    /// predictor screen, ranking by KL divergence. Chosen on validation
    /// (2026-12-02, `ppf bench search`, held-out validation tokens; see
    /// docs/results.md): at r = 0.2 the screen kept every generation from
    /// improving on its starts (44.4 with it, 37.4 without), the long jumps
    /// took it to 34.4, and KL beat perplexity as the ranking over 0.2–0.5.
    public init() {}

    /// Checks every setting.
    /// - Throws: ``WorkflowError`` naming the first one out of range.
    public func validate() throws {
        guard generations >= 0, offspring >= 1, measuredPerGeneration >= 1, measuredPerGeneration <= offspring,
              mutatedCoordinates >= 1, mutationScale > 0, mutationScale.isFinite, finalists >= 1,
              !mutationScaleMultipliers.isEmpty, mutationScaleMultipliers.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw WorkflowError("the measured search needs generations ≥ 0, 1 ≤ measured per generation ≤ offspring, at least one mutated coordinate, a positive mutation scale and multipliers, and at least one finalist")
        }
    }
}

// MARK: - SearchObjective

/// What the in-process measured search minimises on its validation tokens.
public enum SearchObjective: String, Sendable, CaseIterable {
    /// Perplexity (its log): what the comparison reports, scored on one token per position.
    case perplexity
    /// The KL divergence from the dense model's next-token distribution
    /// (``DenseReference``): the whole distribution per position, so fewer
    /// tokens separate policies (EvoPress).
    case klDivergence = "kl"
}

// MARK: - MeasuredSearch

/// Static pruning that trusts measurements (issue 13, in the style of
/// EvoPress): an evolutionary search whose selection is by true
/// measurements (in process: the KL divergence from the dense model), the
/// predictor at most an optional pre-screen, and successive halving over
/// fidelities (for example 256 → 1024 validation tokens) so the survivors
/// are measured more precisely than the crowd.
///
/// 1. The starts (uniform and the agent's policy; no hand-made rule) are
///    measured at the lowest fidelity.
/// 2. Each generation mutates the two best measured actions (a few action
///    coordinates moved by a Gaussian), projects every child exactly onto the
///    target ratio (``BudgetProjection``, so every policy meets the budget),
///    and measures `measuredPerGeneration` of them: the first ones, or, with
///    ``MeasuredSearchConfiguration/screensWithPredictor``, the ones the
///    screen (the predictor) ranks best.
/// 3. The best `finalists` by their lowest-fidelity measurement, and every
///    start, are measured at each higher fidelity in turn, the better half
///    kept each time; the best at the highest fidelity wins.
///
/// Every measurement goes through a ``PolicyMeasurer``, so through the
/// evaluators the search scales out and each measurement lands in
/// PostgreSQL, where the predictor trains on it.
public enum MeasuredSearch {
    /// One measured policy.
    public struct Measured: Sendable {
        /// The policy and its screen prediction.
        public let candidate: StaticCandidate
        /// The action it was projected from.
        public let action: [Double]
        /// Its perplexity at each fidelity it was measured at (index = fidelity).
        public var perplexities: [Double?]
        /// What the search ranked it by at each fidelity: ``CandidateMeasurement/selectionScore``.
        public var scores: [Double?]
    }

    /// What a search measured and chose.
    public struct Outcome: Sendable {
        /// Every measured policy, in the order measured.
        public let measured: [Measured]
        /// The chosen one.
        public let best: Measured
        /// Its perplexity at the highest fidelity it reached.
        public let bestPerplexity: Double
        /// Measurements taken at each fidelity.
        public let measurementsPerFidelity: [Int]
    }

    /// What a search reports as it goes.
    public enum Event: Sendable {
        /// The starts were measured at the lowest fidelity.
        case started(best: Double, starts: Int)
        /// A generation ended; `best` is the lowest lowest-fidelity perplexity so far.
        case generation(Int, of: Int, best: Double, measured: Int)
        /// The finalists were measured at `fidelity`; `best` is the best of them.
        case halving(fidelity: Int, candidates: Int, best: Double)
    }

    /// Searches at `ratio` from `starts`.
    ///
    /// - Parameters:
    ///   - projection: maps actions to budget-exact policies (the agent's).
    ///   - screen: predicts candidates' log-perplexities, to pick which offspring are measured.
    ///   - fidelities: the measurers from the cheapest to the most precise (at least one).
    ///   - queue: where projections and screening run (BLAS).
    /// - Throws: ``WorkflowError`` for settings out of range or no measurement at all;
    ///   ``AgentError``; whatever the measurers throw.
    public static func run(projection: BudgetProjection,
                           screen: @escaping @Sendable ([PruningPolicy], [Double]) throws -> [Prediction], ratio: Double,
                           starts: [(name: String, policy: PruningPolicy)], fidelities: [any PolicyMeasurer],
                           configuration: MeasuredSearchConfiguration, queue: BlockingQueue,
                           events: @Sendable (Event) async -> Void = { _ in }) async throws -> Outcome {
        try configuration.validate()
        guard !fidelities.isEmpty else { throw WorkflowError("the measured search needs at least one measurer") }
        guard !starts.isEmpty else { throw WorkflowError("the measured search needs at least one start") }
        try projection.checkRatio(ratio)
        let sampler = try PolicySampler(projection: projection)
        let budget = projection.budget
        var population: [Measured] = []
        var seen: Set<String> = []
        var counts = [Int](repeating: 0, count: fidelities.count)

        /// Screens (policy, action) pairs, keeps the `keep` best predicted, and measures them at fidelity 0.
        func measureNew(_ proposals: [(origin: String, action: [Double], policy: PruningPolicy)], keep: Int) async throws {
            let fresh = proposals.filter { seen.insert($0.policy.canonicalKey()).inserted }
            guard !fresh.isEmpty else { return }
            let policies = fresh.map(\.policy)
            let ranked: ArraySlice<((origin: String, action: [Double], policy: PruningPolicy), Prediction)>
            if configuration.screensWithPredictor {
                let predictions = try await queue.run { try screen(policies, [Double](repeating: ratio, count: policies.count)) }
                ranked = zip(fresh, predictions).sorted { $0.1.mean < $1.1.mean }.prefix(keep)
            } else {
                ranked = fresh.map { ($0, Prediction(mean: .nan, std: .nan)) }.prefix(keep)
            }
            let candidates = try ranked.map { proposal, prediction in
                StaticCandidate(origin: proposal.origin, candidate: SearchCandidate(
                    policy: proposal.policy, achievedRatio: try budget.achievedRatio(proposal.policy), prediction: prediction,
                    reward: -prediction.mean))
            }
            let measurements = try await fidelities[0].measure(candidates, ratio: ratio) { _, _ in }
            for ((proposal, _), (candidate, measurement)) in zip(ranked, zip(candidates, measurements)) {
                var perplexities = [Double?](repeating: nil, count: fidelities.count)
                var scores = perplexities
                perplexities[0] = measurement?.perplexity
                scores[0] = measurement?.selectionScore
                if measurement != nil { counts[0] += 1 }
                population.append(Measured(candidate: candidate, action: proposal.action, perplexities: perplexities,
                                           scores: scores))
            }
        }
        func bestFirst(_ fidelity: Int) -> [Measured] {
            population.filter { $0.scores[fidelity] != nil }
                .sorted { $0.scores[fidelity]! < $1.scores[fidelity]! }
        }

        // 1. The starts.
        let startProposals = try starts.map { start in
            let action = try sampler.action(imitating: start.policy)
            return (origin: start.name, action: action, policy: try projection.project(action: action, targetRatio: ratio))
        }
        try await measureNew(startProposals, keep: startProposals.count)
        guard let first = bestFirst(0).first else { throw WorkflowError("none of the starts could be measured") }
        await events(.started(best: first.perplexities[0]!, starts: startProposals.count))

        // 2. Generations.
        var generator = SeededGenerator(seed: configuration.seed ^ 0xE70_5EA2C4)
        for generation in 1...max(1, configuration.generations) where configuration.generations > 0 {
            let parents = Array(bestFirst(0).prefix(2))
            guard !parents.isEmpty else { break }
            var children: [(origin: String, action: [Double], policy: PruningPolicy)] = []
            for index in 0..<configuration.offspring {
                var action = parents[index % parents.count].action
                for _ in 0..<configuration.mutatedCoordinates {
                    let multipliers = configuration.mutationScaleMultipliers
                    let scale = configuration.mutationScale * multipliers[generator.next(below: multipliers.count)]
                    action[generator.next(below: action.count)] += scale * generator.nextGaussian()
                }
                children.append((origin: "evolution g\(generation)", action: action,
                                 policy: try projection.project(action: action, targetRatio: ratio)))
            }
            try await measureNew(children, keep: configuration.measuredPerGeneration)
            await events(.generation(generation, of: configuration.generations, best: bestFirst(0).first!.perplexities[0]!,
                                     measured: counts[0]))
        }

        // 3. Successive halving over the higher fidelities. Every start is a
        // finalist too: the starts are few, each a different hypothesis, and
        // one cheap measurement is too noisy to drop one (chosen on validation, see docs/results.md).
        var finalists = Array(bestFirst(0).prefix(configuration.finalists))
        for start in population.prefix(startProposals.count) where start.perplexities[0] != nil
            && !finalists.contains(where: { $0.candidate.candidate.policy == start.candidate.candidate.policy }) {
            finalists.append(start)
        }
        var reached = 0
        for fidelity in fidelities.indices.dropFirst() {
            let candidates = finalists.map(\.candidate)
            let measurements = try await fidelities[fidelity].measure(candidates, ratio: ratio) { _, _ in }
            for (index, measurement) in measurements.enumerated() {
                guard let measurement else { continue }
                counts[fidelity] += 1
                if let position = population.firstIndex(where: {
                    $0.candidate.candidate.policy == finalists[index].candidate.candidate.policy
                }) {
                    population[position].perplexities[fidelity] = measurement.perplexity
                    population[position].scores[fidelity] = measurement.selectionScore
                }
            }
            let ranked = bestFirst(fidelity).filter { measured in
                finalists.contains { $0.candidate.candidate.policy == measured.candidate.candidate.policy }
            }
            guard !ranked.isEmpty else { break }
            reached = fidelity
            await events(.halving(fidelity: fidelity, candidates: ranked.count, best: ranked[0].perplexities[fidelity]!))
            finalists = Array(ranked.prefix(max(1, (ranked.count + 1) / 2)))
        }
        let best = finalists[0]
        return Outcome(measured: population, best: best, bestPerplexity: best.perplexities[reached]!,
                       measurementsPerFidelity: counts)
    }

    /// The search for `agent`: its projection, its predictor as the screen,
    /// and starts from the uniform policy, the agent's own and, given a
    /// measured `sensitivity` profile, the policy that profile suggests (no
    /// hand-made rule).
    public static func run(agent: LoadedAgent, ratio: Double, fidelities: [any PolicyMeasurer],
                           configuration: MeasuredSearchConfiguration, sensitivity: [Double]? = nil, queue: BlockingQueue,
                           events: @Sendable (Event) async -> Void = { _ in }) async throws -> Outcome {
        let projection = agent.agent.projection
        let uniform = try projection.project(action: [Double](repeating: 0, count: projection.actionCount), targetRatio: ratio)
        var starts: [(name: String, policy: PruningPolicy)] = [("uniform", uniform), ("agent", try agent.agent.policy(forRatio: ratio))]
        if let sensitivity {
            starts.append(("sensitivity profile", try sensitivityStart(sensitivity, projection: projection, ratio: ratio,
                                                                       scale: configuration.profileScale)))
        }
        let reward = agent.reward
        return try await run(projection: projection, screen: { try reward.model($0, $1) }, ratio: ratio, starts: starts,
                             fidelities: fidelities, configuration: configuration, queue: queue, events: events)
    }

    // MARK: - Sensitivity profile

    /// Each block's measured sensitivity: how much the model changes when
    /// that block alone is pruned (attention at the level nearest `probe`,
    /// `probe` of its MLP channels) and every other block is dense, on the
    /// measurer's tokens: the KL divergence from the dense model where the
    /// measurer measures it, else the log-perplexity, each relative to the
    /// dense model's (a divergence of zero, up to rounding). One measurement
    /// per block plus one of the dense model; independent of the target
    /// ratio, so measure it once per model.
    /// - Throws: ``WorkflowError`` when a probe is not measured; what the measurer throws.
    public static func sensitivity(projection: BudgetProjection, measurer: some PolicyMeasurer, probe: Double = 0.5)
        async throws -> [Double] {
        let budget = projection.budget
        let dense = PruningPolicy(layers: budget.layers.map { _ in LayerPolicy(attentionRatio: 0, mlpRatio: 0) })
        var policies = [dense]
        for block in budget.layers.indices {
            let limits = budget.layers[block]
            let level = limits.attentionLevels.min { abs($0 - probe) < abs($1 - probe) } ?? 0
            let channels = min(limits.maxRemovedMLPChannels, Int((probe * Double(limits.mlpChannels)).rounded()))
            var layers = dense.layers
            layers[block] = LayerPolicy(attentionRatio: level, mlpRatio: Double(channels) / Double(limits.mlpChannels))
            policies.append(PruningPolicy(layers: layers))
        }
        var scores: [Double] = []
        for policy in policies {
            let achieved = try budget.achievedRatio(policy)
            let candidate = StaticCandidate(origin: "sensitivity probe", candidate: SearchCandidate(
                policy: policy, achievedRatio: achieved, prediction: Prediction(mean: .nan, std: .nan), reward: .nan))
            guard let measured = try await measurer.measure([candidate], ratio: achieved, onMeasured: { _, _ in }).first ?? nil
            else { throw WorkflowError("a sensitivity probe of the measured search was not measured") }
            scores.append(measured.selectionScore)
        }
        return scores.dropFirst().map { $0 - scores[0] }
    }

    /// The policy a sensitivity profile suggests at `ratio`: each block's
    /// attention and MLP logits are −`scale` × its standardised
    /// log-sensitivity, so the least sensitive blocks are pruned most, then
    /// projected exactly onto the budget.
    public static func sensitivityStart(_ sensitivity: [Double], projection: BudgetProjection, ratio: Double,
                                        scale: Double) throws -> PruningPolicy {
        let blocks = projection.budget.blockCount
        guard sensitivity.count == blocks else {
            throw WorkflowError("a sensitivity profile of \(sensitivity.count) blocks does not fit a budget of \(blocks)")
        }
        let logs = sensitivity.map { Foundation.log(max($0, 1e-6)) }
        let mean = logs.reduce(0, +) / Double(blocks)
        let spread = max((logs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(blocks)).squareRoot(), 1e-9)
        var action = [Double](repeating: 0, count: projection.actionCount)
        for block in 0..<blocks {
            let z = (logs[block] - mean) / spread
            action[block] = -scale * z
            action[blocks + block] = -scale * z
        }
        return try projection.project(action: action, targetRatio: ratio)
    }
}

extension MeasuredSearch {
    /// One log line for `event` of the search at `ratio`.
    public static func line(for event: Event, ratio: Double) -> String {
        switch event {
        case .started(let best, let starts):
            String(format: "r %.2f: measured search: %d start(s) measured, best %.3f", ratio, starts, best)
        case .generation(let generation, let total, let best, let measured):
            String(format: "r %.2f: measured search generation %d/%d: best %.3f after %d measurements", ratio, generation,
                   total, best, measured)
        case .halving(let fidelity, let candidates, let best):
            String(format: "r %.2f: measured search: %d finalist(s) at fidelity %d, best %.3f", ratio, candidates, fidelity, best)
        }
    }
}
