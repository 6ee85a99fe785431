import Foundation
import PPFContracts
import PPFTensor

// MARK: - PolicySampler

/// Draws the policies whose true perplexities train the predictor: the
/// paper's "mask-performance dataset" (arXiv 2508.02381, §3.2).
///
/// A good training set covers what the agent will later explore, so the
/// sampler mixes three kinds of policy, at target ratios spread evenly
/// (stratified) over ``Configuration/ratioRange``:
/// - **random allocations**: a random action (independent per-block logits
///   plus a random depth trend, so some policies prune early blocks harder and
///   some late ones) projected with ``BudgetProjection`` onto the target;
/// - **perturbations** of policies the caller knows to be good (baselines
///   from the pruning engine, the agent's best): the seed's shape in logit
///   space plus noise, projected onto the sample's target ratio;
/// - **block drops** (when the budget allows them): a few whole blocks
///   removed, the rest pruned at random.
///
/// Everything is deterministic from the seed. Policies are deduplicated
/// against the caller's already-measured policies and among themselves, on
/// ``PruningPolicy/canonicalKey(decimals:)`` at ``Configuration/dedupDecimals``.
public struct PolicySampler: Sendable {
    /// How many policies of each kind, and how varied.
    public struct Configuration: Sendable, Hashable, Codable {
        /// Target ratios to cover (intersected with the budget's feasible
        /// ratios). Default 0.05...0.7, the paper's range.
        public var ratioRange: ClosedRange<Double>
        /// Share of perturbations when seed policies are given. Default 0.3.
        public var perturbationShare: Double
        /// Share of block-drop policies when the budget allows drops. Default 0.15.
        public var blockDropShare: Double
        /// Standard deviation of a random allocation's per-block logits, drawn
        /// per policy from this range (small: near uniform; large: very uneven).
        /// Default 0.25...2.
        public var allocationSpread: ClosedRange<Double>
        /// Standard deviation of the depth trend's slope in logit units across
        /// the model (first to last block). Default 1.5.
        public var depthTrendScale: Double
        /// Standard deviation of the logit noise added to a seed policy. Default 0.35.
        public var perturbationScale: Double
        /// Decimals of the ratios two policies must share to count as the
        /// same. Default 3: closer policies teach the predictor nothing new.
        public var dedupDecimals: Int
        /// Draws per policy before a slot is given up as exhausted (when the
        /// budget's levels are too coarse for more distinct policies). Default 50.
        public var attemptsPerPolicy: Int

        /// Creates a configuration; every default is documented on its property.
        public init(ratioRange: ClosedRange<Double> = 0.05...0.7, perturbationShare: Double = 0.3,
                    blockDropShare: Double = 0.15, allocationSpread: ClosedRange<Double> = 0.25...2,
                    depthTrendScale: Double = 1.5, perturbationScale: Double = 0.35, dedupDecimals: Int = 3,
                    attemptsPerPolicy: Int = 50) {
            self.ratioRange = ratioRange
            self.perturbationShare = perturbationShare
            self.blockDropShare = blockDropShare
            self.allocationSpread = allocationSpread
            self.depthTrendScale = depthTrendScale
            self.perturbationScale = perturbationScale
            self.dedupDecimals = dedupDecimals
            self.attemptsPerPolicy = attemptsPerPolicy
        }

        func validate() throws(AgentError) {
            func require(_ condition: Bool, _ message: String) throws(AgentError) {
                if !condition { throw AgentError(.invalidConfiguration, message) }
            }
            try require(ratioRange.lowerBound >= 0 && ratioRange.upperBound < 1,
                        "ratio range \(ratioRange) must lie in [0, 1)")
            try require((0...1).contains(perturbationShare) && (0...1).contains(blockDropShare)
                        && perturbationShare + blockDropShare <= 1,
                        "perturbation share \(perturbationShare) and block-drop share \(blockDropShare) must be in [0, 1] and sum to at most 1")
            try require(allocationSpread.lowerBound >= 0 && allocationSpread.upperBound.isFinite,
                        "allocation spread \(allocationSpread) must be finite and ≥ 0")
            try require(depthTrendScale >= 0 && depthTrendScale.isFinite, "depth trend scale must be finite and ≥ 0")
            try require(perturbationScale >= 0 && perturbationScale.isFinite, "perturbation scale must be finite and ≥ 0")
            try require((0...9).contains(dedupDecimals), "dedup decimals \(dedupDecimals) must be in 0...9")
            try require(attemptsPerPolicy >= 1, "attempts per policy must be at least 1")
        }
    }

    /// How a sampled policy was made.
    public enum Kind: String, Codable, Sendable, Hashable, CaseIterable {
        /// A random action projected onto the target ratio.
        case randomAllocation = "random"
        /// A seed policy's shape with noise, at the target ratio.
        case perturbation
        /// Some whole blocks dropped, the rest pruned at random.
        case blockDrop = "block-drop"
    }

    /// One sampled policy.
    public struct Sample: Sendable, Hashable {
        /// The policy.
        public let policy: PruningPolicy
        /// How it was made.
        public let kind: Kind
        /// The ratio it was projected onto.
        public let targetRatio: Double
        /// The ratio it achieves on the budget (within the projection's tolerance of the target).
        public let achievedRatio: Double
        /// Index into the seed policies for a perturbation, else nil.
        public let seedIndex: Int?
    }

    /// The budget's projection, which makes every sample hit its target ratio.
    public let projection: BudgetProjection
    /// The sampler's settings.
    public let configuration: Configuration
    /// The target ratios actually sampled: the configured range within the budget's feasible ratios.
    public let effectiveRange: ClosedRange<Double>

    /// Creates a sampler for `projection`'s budget.
    /// - Throws: ``AgentError/Code/invalidConfiguration`` for a bad setting or
    ///   a ratio range the budget cannot reach at all.
    public init(projection: BudgetProjection, configuration: Configuration = Configuration()) throws(AgentError) {
        try configuration.validate()
        let feasible = projection.feasibleRatios
        let lower = max(configuration.ratioRange.lowerBound, feasible.lowerBound)
        let upper = min(configuration.ratioRange.upperBound, feasible.upperBound)
        guard lower <= upper else {
            throw AgentError(.invalidConfiguration,
                             "ratio range \(configuration.ratioRange) does not meet the budget's feasible ratios \(feasible)")
        }
        self.projection = projection
        self.configuration = configuration
        self.effectiveRange = lower...upper
    }

    // MARK: - Sampling

    /// Draws up to `count` distinct policies, deterministically from `seed`.
    ///
    /// - Parameters:
    ///   - seedPolicies: good policies to perturb (e.g. the pruning engine's
    ///     baselines); none means no perturbations.
    ///   - measured: policies already measured; none of them is returned again.
    /// - Returns: `count` samples, or fewer when the budget's levels leave too
    ///   few distinct policies (each slot gets ``Configuration/attemptsPerPolicy`` draws).
    /// - Throws: ``AgentError/Code/policyShapeMismatch`` when a seed policy has
    ///   the wrong number of blocks, ``AgentError/Code/invalidConfiguration``
    ///   for a negative count.
    public func sample(count: Int, seed: UInt64, seedPolicies: [PruningPolicy] = [],
                       excluding measured: [PruningPolicy] = []) throws(AgentError) -> [Sample] {
        guard count >= 0 else { throw AgentError(.invalidConfiguration, "sample count \(count) must be ≥ 0") }
        let seedActions = try seedPolicies.map { policy throws(AgentError) in try action(imitating: policy) }
        var generator = SeededGenerator(seed: seed)
        let kinds = kindSchedule(count: count, hasSeeds: !seedActions.isEmpty, generator: &generator)
        var seen = Set(measured.map { $0.canonicalKey(decimals: configuration.dedupDecimals) })
        var samples: [Sample] = []
        samples.reserveCapacity(count)
        let width = effectiveRange.upperBound - effectiveRange.lowerBound
        for (slot, kind) in kinds.enumerated() {
            for _ in 0..<configuration.attemptsPerPolicy {
                // Stratified: slot i draws its ratio from the i-th of `count` equal strata.
                let fraction = (Double(slot) + generator.nextUniform()) / Double(count)
                let target = min(effectiveRange.lowerBound + fraction * width, effectiveRange.upperBound)
                let drawn = try draw(kind, target: target, seedActions: seedActions, generator: &generator)
                guard seen.insert(drawn.policy.canonicalKey(decimals: configuration.dedupDecimals)).inserted else {
                    continue
                }
                samples.append(drawn)
                break
            }
        }
        return samples
    }

    /// Which kind each slot gets: the configured shares, shuffled over the
    /// slots so every kind spans the whole ratio range.
    private func kindSchedule(count: Int, hasSeeds: Bool, generator: inout SeededGenerator) -> [Kind] {
        let perturbations = hasSeeds ? Int((configuration.perturbationShare * Double(count)).rounded()) : 0
        let drops = projection.budget.allowsBlockDrop
            ? min(count - perturbations, Int((configuration.blockDropShare * Double(count)).rounded())) : 0
        var kinds = Array(repeating: Kind.perturbation, count: perturbations)
            + Array(repeating: Kind.blockDrop, count: drops)
            + Array(repeating: Kind.randomAllocation, count: max(0, count - perturbations - drops))
        generator.shuffle(&kinds)
        return kinds
    }

    // MARK: - One draw

    private func draw(_ kind: Kind, target: Double, seedActions: [[Double]],
                      generator: inout SeededGenerator) throws(AgentError) -> Sample {
        let blocks = projection.budget.blockCount
        var action = [Double](repeating: 0, count: projection.actionCount)
        var seedIndex: Int?
        switch kind {
        case .randomAllocation, .blockDrop:
            let spread = generator.nextUniform(in: configuration.allocationSpread)
            // Attention and MLP share one depth trend half the time, so both
            // "protect the early blocks" and "trade attention for MLP" shapes occur.
            let slope = configuration.depthTrendScale * generator.nextGaussian()
            let mlpSlope = generator.nextBool()
                ? slope : configuration.depthTrendScale * generator.nextGaussian()
            for block in 0..<blocks {
                let depth = blocks > 1 ? Double(block) / Double(blocks - 1) - 0.5 : 0
                action[block] = spread * generator.nextGaussian() + slope * depth
                action[blocks + block] = spread * generator.nextGaussian() + mlpSlope * depth
            }
            if projection.budget.allowsBlockDrop {
                for block in 0..<blocks { action[2 * blocks + block] = -Self.saturated }
                if kind == .blockDrop {
                    for block in chooseDrops(target: target, generator: &generator) {
                        action[2 * blocks + block] = Self.saturated
                    }
                }
            }
        case .perturbation:
            let index = generator.next(below: seedActions.count)
            seedIndex = index
            action = seedActions[index]
            for entry in 0..<(2 * blocks) {
                action[entry] += configuration.perturbationScale * generator.nextGaussian()
            }
        }
        let policy = try projection.project(action: action, targetRatio: target)
        let achieved = try projection.budget.achievedRatio(policy)
        // A block-drop draw whose drops did not fit the target is a random allocation.
        let actualKind: Kind = kind == .blockDrop && !policy.layers.contains(where: \.dropped) ? .randomAllocation : kind
        return Sample(policy: policy, kind: actualKind, targetRatio: target, achievedRatio: achieved, seedIndex: seedIndex)
    }

    /// A drop logit the projection treats as certain (σ(±8) is within 3.4e-4 of 0 or 1).
    static let saturated = 8.0

    /// 1…k distinct blocks to drop, where k is how many whole blocks fit in the target removal.
    private func chooseDrops(target: Double, generator: inout SeededGenerator) -> [Int] {
        let budget = projection.budget
        let largest = Double(budget.layers.map(\.blockParameters).max() ?? 1)
        let fitting = Int((target * Double(budget.totalParameters) / largest).rounded(.down))
        let most = max(1, min(fitting, budget.blockCount - 1))
        let count = generator.next(in: 1...most)
        return Array(generator.shuffled(0..<budget.blockCount).prefix(count))
    }

    // MARK: - Seeds as actions

    /// The action whose projection reproduces `policy`'s shape: per block,
    /// the logit of its attention share of the top level (relative to the
    /// policy's own ratio, since the projection adds `logit(r / top)`) and of
    /// its MLP share of the removable channels. Dropped blocks get a
    /// saturated drop logit (or, without drops, maximal pruning).
    public func action(imitating policy: PruningPolicy) throws(AgentError) -> [Double] {
        let budget = projection.budget
        let blocks = budget.blockCount
        guard policy.layers.count == blocks else {
            throw AgentError(.policyShapeMismatch, "seed policy has \(policy.layers.count) blocks but the budget has \(blocks)")
        }
        let ratio = min(max(Self.approximateRatio(policy, budget: budget), 1e-3), 0.999)
        var action = [Double](repeating: 0, count: projection.actionCount)
        for (block, layer) in policy.layers.enumerated() {
            let limits = budget.layers[block]
            let top = max(limits.maxAttentionLevel, 1e-6)
            let mlpShare = limits.maxRemovedMLPChannels > 0
                ? layer.mlpRatio * Double(limits.mlpChannels) / Double(limits.maxRemovedMLPChannels) : 0
            if layer.dropped && !budget.allowsBlockDrop {
                action[block] = Self.saturated
                action[blocks + block] = Self.saturated
                continue
            }
            action[block] = Self.clampedLogit(layer.attentionRatio / top) - Self.clampedLogit(ratio / top)
            action[blocks + block] = Self.clampedLogit(mlpShare)
            if budget.allowsBlockDrop { action[2 * blocks + block] = layer.dropped ? Self.saturated : -Self.saturated }
        }
        return action
    }

    /// The share of prunable parameters `policy` removes, computed from the
    /// budget's sizes without requiring its ratios to be exact levels (a
    /// seed may come from another engine's rounding).
    static func approximateRatio(_ policy: PruningPolicy, budget: ParameterBudget) -> Double {
        var removed = 0.0
        for (layer, limits) in zip(policy.layers, budget.layers) {
            removed += layer.dropped
                ? Double(limits.blockParameters)
                : layer.attentionRatio * Double(limits.attentionParameters) + layer.mlpRatio * Double(limits.mlpParameters)
        }
        return removed / Double(budget.totalParameters)
    }

    /// `logit(p)` with `p` kept inside [0.01, 0.99], so extreme seeds stay finite and perturbable.
    static func clampedLogit(_ p: Double) -> Double {
        let q = min(max(p, 0.01), 0.99)
        return log(q / (1 - q))
    }
}
