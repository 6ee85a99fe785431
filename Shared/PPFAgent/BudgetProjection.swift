import Foundation
import PPFContracts

// MARK: - BudgetProjection

/// Maps any unconstrained action vector onto a policy that removes exactly
/// the target ratio of prunable parameters (within ``tolerance``), by
/// construction: no action is ever rejected.
///
/// The action holds, per block, an attention logit `a_l`, an MLP logit `b_l`
/// and, when the budget allows drops, a drop logit `d_l`, laid out as
/// `[a_0…a_{L−1}, b_0…b_{L−1}, d_0…d_{L−1}]`. A zero action gives a near-uniform
/// policy at the target ratio, which is why the policy network starts there.
///
/// The projection runs in three stages, each keeping the rest feasible:
/// 1. **Drops.** Blocks with `d_l > 0` are dropped, largest first (then by
///    `d_l`), while the block fits in the remaining removal `D`. If the
///    survivors still cannot remove `D`, further blocks are dropped by
///    descending `d_l` (forced). Every drop lowers `D` by more than it lowers
///    the survivors' capacity.
/// 2. **Attention.** `u_l = maxLevel_l · σ(a_l + λ₀)` with `λ₀ = logit(r / maxLevel)`,
///    rounded to the nearest allowed level. If the attention total leaves the
///    MLP a share outside `[0, MLP capacity]`, `λ` is swept (down or up) one
///    level crossing at a time until it does not; one crossing never exceeds
///    a block's MLP capacity (``ParameterBudget`` checks this), so the sweep
///    cannot jump over the feasible window.
/// 3. **MLP.** `channels_l = maxRemoved_l · σ(b_l + λ)` with `λ` found by
///    bisection so the MLP removes exactly the rest, then rounded to whole
///    channels by largest remainder. The error is at most half the largest
///    channel (``ParameterBudget/ratioResolution``).
public struct BudgetProjection: Sendable, Hashable, Codable {
    /// The budget the policies are projected onto.
    public let budget: ParameterBudget
    /// The largest allowed `|achieved − target|`, as a fraction of all
    /// prunable parameters (default 1e-3).
    public let tolerance: Double

    /// Creates a projection.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` when `tolerance` is
    ///   not positive or is finer than the budget's channel granularity
    ///   (``ParameterBudget/ratioResolution``).
    public init(budget: ParameterBudget, tolerance: Double = 1e-3) throws(AgentError) {
        guard tolerance.isFinite, tolerance > 0, tolerance < 1 else {
            throw AgentError(.invalidConfiguration, "projection tolerance \(tolerance) must be in (0, 1)")
        }
        guard tolerance >= budget.ratioResolution * (1 + 1e-9) else {
            throw AgentError(.invalidConfiguration,
                             "tolerance \(tolerance) is finer than one MLP channel allows (\(budget.ratioResolution)); use a larger tolerance")
        }
        self.budget = budget
        self.tolerance = tolerance
    }

    /// The target ratios ``project(action:targetRatio:)`` accepts.
    public var feasibleRatios: ClosedRange<Double> { budget.feasibleRatios }

    /// Length of an action vector.
    public var actionCount: Int { budget.actionCount }

    /// Checks that `ratio` is one the projection can reach.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange``.
    public func checkRatio(_ ratio: Double) throws(AgentError) {
        let range = feasibleRatios
        guard ratio.isFinite, range.contains(ratio) else {
            throw AgentError(.ratioOutOfRange,
                             "target ratio \(ratio) is outside the feasible range \(range.lowerBound)...\(range.upperBound) of this budget")
        }
    }

    // MARK: - Projection

    /// The policy for `action` that removes `targetRatio` of the prunable
    /// parameters, within ``tolerance``.
    ///
    /// - Throws: ``AgentError/Code/ratioOutOfRange`` outside ``feasibleRatios``,
    ///   ``AgentError/Code/actionShapeMismatch`` when `action` has the wrong
    ///   length or non-finite entries.
    public func project(action: [Double], targetRatio: Double) throws(AgentError) -> PruningPolicy {
        try checkRatio(targetRatio)
        guard action.count == actionCount else {
            throw AgentError(.actionShapeMismatch, "action has \(action.count) entries but the budget needs \(actionCount)")
        }
        guard action.allSatisfy(\.isFinite) else {
            throw AgentError(.actionShapeMismatch, "action has non-finite entries")
        }
        let count = budget.blockCount
        let total = Double(budget.totalParameters)
        let target = targetRatio * total
        // A slack far below any tolerance absorbs summation-order rounding.
        let slack = 1e-9 * total

        // Stage 1: drops.
        var dropped = [Bool](repeating: false, count: count)
        var remaining = target
        if budget.allowsBlockDrop {
            remaining = planDrops(dropLogits: Array(action[(2 * count)...]), target: target,
                                  slack: slack, dropped: &dropped)
        }
        let survivors = (0..<count).filter { !dropped[$0] }
        let mlpCapacity = survivors.reduce(0.0) { $0 + budget.layers[$1].mlpCapacity }

        // Stage 2: attention levels.
        let levels = attentionLevels(logits: Array(action[0..<count]), ratio: targetRatio, survivors: survivors,
                                     window: (remaining - mlpCapacity - slack)...(remaining + slack))
        let attentionRemoved = survivors.reduce(0.0) {
            $0 + budget.layers[$1].attentionLevels[levels[$1]] * Double(budget.layers[$1].attentionParameters)
        }

        // Stage 3: MLP channels.
        let channels = mlpChannels(logits: Array(action[count..<(2 * count)]), survivors: survivors,
                                   removal: min(max(remaining - attentionRemoved, 0), mlpCapacity))

        var layers: [LayerPolicy] = []
        layers.reserveCapacity(count)
        for index in 0..<count {
            if dropped[index] {
                layers.append(LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true))
            } else {
                let layer = budget.layers[index]
                layers.append(LayerPolicy(attentionRatio: layer.attentionLevels[levels[index]],
                                          mlpRatio: Double(channels[index]) / Double(layer.mlpChannels)))
            }
        }
        let policy = PruningPolicy(layers: layers)
        let achieved = try budget.achievedRatio(policy)
        guard abs(achieved - targetRatio) <= tolerance else {
            throw AgentError(.projectionFailed,
                             "projection reached \(achieved) for target \(targetRatio) (tolerance \(tolerance)); this is a bug in BudgetProjection")
        }
        return policy
    }

    // MARK: - Stage 1: drops

    /// Marks dropped blocks and returns the removal left for the survivors.
    private func planDrops(dropLogits: [Double], target: Double, slack: Double, dropped: inout [Bool]) -> Double {
        let layers = budget.layers
        // Highest drop logit first; ties go to the later block (deterministic).
        let order = dropLogits.indices.sorted { (dropLogits[$0], $0) > (dropLogits[$1], $1) }
        var remaining = target
        var survivorCount = layers.count
        var capacity = layers.reduce(0.0) { $0 + $1.attentionCapacity + $1.mlpCapacity }
        func drop(_ index: Int) {
            dropped[index] = true
            remaining -= Double(layers[index].blockParameters)
            capacity -= layers[index].attentionCapacity + layers[index].mlpCapacity
            survivorCount -= 1
        }
        // Voluntary drops: the action asks for them and they fit. When not all
        // requested blocks fit, the largest go first (drop as much of what was
        // asked as possible); equal sizes go by logit. Ordering by logit alone
        // would hinge on differences between saturated drop probabilities,
        // which training cannot resolve.
        let requested = order.filter { dropLogits[$0] > 0 }
            .sorted { (layers[$0].blockParameters, dropLogits[$0], $0) > (layers[$1].blockParameters, dropLogits[$1], $1) }
        for index in requested where survivorCount > 1
            && Double(layers[index].blockParameters) <= remaining + slack {
            drop(index)
        }
        // Forced drops: the survivors cannot remove the rest by pruning alone.
        while remaining > capacity + slack, survivorCount > 1 {
            guard let index = order.first(where: {
                !dropped[$0] && Double(layers[$0].blockParameters) <= remaining + slack
            }) else { break }
            drop(index)
        }
        return max(remaining, 0)
    }

    // MARK: - Stage 2: attention

    /// The level index per block (survivors only are meaningful).
    ///
    /// Block `l` reaches level `k` once `λ ≥ t_{l,k} = logit(mid_k / maxLevel) − a_l`,
    /// where `mid_k` is the midpoint between levels `k−1` and `k`; sweeping
    /// `λ` therefore applies or undoes these crossings in order of `t`.
    private func attentionLevels(logits: [Double], ratio: Double, survivors: [Int],
                                 window: ClosedRange<Double>) -> [Int] {
        struct Crossing { let threshold: Double; let block: Int }
        var levels = [Int](repeating: 0, count: logits.count)
        var applied: [Crossing] = []
        var pending: [Crossing] = []
        var removed = 0.0
        for block in survivors {
            let layer = budget.layers[block]
            let top = layer.maxAttentionLevel
            guard top > 0 else { continue }
            let start = logit(min(max(ratio / top, 1e-6), 1 - 1e-6))
            for k in 1..<layer.attentionLevels.count {
                let midpoint = (layer.attentionLevels[k - 1] + layer.attentionLevels[k]) / 2
                let crossing = Crossing(threshold: logit(midpoint / top) - logits[block], block: block)
                if crossing.threshold <= start {
                    applied.append(crossing)
                    levels[block] = k
                } else {
                    pending.append(crossing)
                }
            }
            removed += layer.attentionLevels[levels[block]] * Double(layer.attentionParameters)
        }
        func change(_ block: Int, by step: Int) {
            let layer = budget.layers[block]
            let before = layer.attentionLevels[levels[block]]
            levels[block] += step
            removed += (layer.attentionLevels[levels[block]] - before) * Double(layer.attentionParameters)
        }
        if removed > window.upperBound {
            // Lower λ: undo the latest crossings first (per block that is its highest level).
            applied.sort { ($0.threshold, $0.block) > ($1.threshold, $1.block) }
            for crossing in applied where removed > window.upperBound { change(crossing.block, by: -1) }
        } else if removed < window.lowerBound {
            // Raise λ: apply the next crossings in order.
            pending.sort { ($0.threshold, $0.block) < ($1.threshold, $1.block) }
            for crossing in pending where removed < window.lowerBound { change(crossing.block, by: 1) }
        }
        return levels
    }

    // MARK: - Stage 3: MLP

    /// Whole removed channels per block so that the MLP removes `removal` parameters.
    private func mlpChannels(logits: [Double], survivors: [Int], removal: Double) -> [Int] {
        let layers = budget.layers
        var channels = [Int](repeating: 0, count: logits.count)
        guard !survivors.isEmpty, removal > 0 else { return channels }
        func removed(at shift: Double) -> Double {
            survivors.reduce(0.0) {
                $0 + layers[$1].mlpCapacity * sigmoid(logits[$1] + shift)
            }
        }
        // Bracket wide enough that σ saturates to ~1e-18 at both ends.
        let spread = survivors.map { abs(logits[$0]) }.max() ?? 0
        var low = -spread - 45, high = spread + 45
        for _ in 0..<200 where high - low > 1e-13 {
            let middle = (low + high) / 2
            if removed(at: middle) < removal { low = middle } else { high = middle }
        }
        let shift = (low + high) / 2
        // Largest remainder: floor everything, then add single channels where
        // the fractional part is largest while that moves closer to `removal`.
        var residual = removal
        var fractions: [(fraction: Double, block: Int)] = []
        for block in survivors {
            let layer = layers[block]
            let exact = min(Double(layer.maxRemovedMLPChannels) * sigmoid(logits[block] + shift),
                            Double(layer.maxRemovedMLPChannels))
            let whole = Int(exact.rounded(.down))
            channels[block] = whole
            residual -= Double(whole) * layer.parametersPerChannel
            if whole < layer.maxRemovedMLPChannels { fractions.append((exact - Double(whole), block)) }
        }
        fractions.sort { ($0.fraction, $0.block) > ($1.fraction, $1.block) }
        for (_, block) in fractions where residual > layers[block].parametersPerChannel / 2 {
            channels[block] += 1
            residual -= layers[block].parametersPerChannel
        }
        return channels
    }
}

// MARK: - Scalar helpers

/// The logistic function, stable for large `|x|`.
@inline(__always)
func sigmoid(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}

/// The inverse of ``sigmoid(_:)`` for `p` in (0, 1).
@inline(__always)
func logit(_ p: Double) -> Double { log(p / (1 - p)) }
