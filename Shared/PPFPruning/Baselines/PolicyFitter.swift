import PPFContracts
import PPFModel

// MARK: - PolicyFitter

/// Turns desired (continuous) per-block ratios into a policy the model's
/// layout allows and that achieves a target ratio within tolerance.
///
/// 1. Each kept block's attention goes to the nearest partial level (never 1:
///    only dropping removes every head).
/// 2. Its MLP absorbs the rounding, so the block loses what was desired for it
///    as closely as whole channels allow (at most `maximumMLPRatio` of them).
/// 3. The last few channels of the global gap are added or removed one per
///    block, in block order, until the achieved ratio is the nearest to the
///    target that channels allow.
///
/// The results are exact `ParameterBudget` levels: attention ratios are
/// `1 − g(m+1)/(Q+G)` and MLP ratios whole channels over `F`.
public struct PolicyFitter: Sendable {
    /// The model's exact counts.
    public let accounting: ParameterAccounting
    /// Largest MLP ratio a kept block may get (default 0.9, the agent budget's
    /// `minimumKeptMLPFraction` of 0.1).
    public let maximumMLPRatio: Double

    /// A fitter for `accounting`.
    public init(accounting: ParameterAccounting, maximumMLPRatio: Double = 0.9) {
        self.accounting = accounting
        self.maximumMLPRatio = maximumMLPRatio
    }

    /// The most channels block `a` may lose.
    private func maximumRemovedChannels(_ a: LayerAccounting) -> Int {
        let kept = max(1, Int(((1 - maximumMLPRatio) * Double(a.feedForwardLength)).rounded(.up)))
        return max(0, a.feedForwardLength - kept)
    }

    /// Fits `desired` (one entry per block; `dropped` is kept as is) to `targetRatio`.
    ///
    /// - Throws: `invalidRatio`, `policyShapeMismatch`, `dropsEveryBlock`, or
    ///   `targetNotReached` when the kept blocks cannot lose enough (or the
    ///   dropped ones already remove too much).
    public func fit(_ desired: [LayerPolicy], targetRatio: Double,
                    tolerance: Double = PlanBuilder.defaultTolerance) throws(PruningError) -> PruningPolicy {
        try PlanBuilder.validateTarget(targetRatio)
        guard desired.count == accounting.layers.count else {
            throw PruningError(.policyShapeMismatch, "\(desired.count) desired block ratios for \(accounting.layers.count) blocks")
        }
        guard desired.contains(where: { !$0.dropped }) else {
            throw PruningError(.dropsEveryBlock, "the desired policy drops every block")
        }
        let total = Double(accounting.prunableParameters)
        let needed = targetRatio * total
        var attention = [Double](repeating: 0, count: desired.count)
        var channels = [Int](repeating: 0, count: desired.count)
        var removed = 0.0
        for (index, (a, layer)) in zip(accounting.layers, desired).enumerated() {
            if layer.dropped { removed += Double(a.blockParameters); continue }
            let partial = a.attentionLevels.filter { !$0.shapes.isEmpty || a.queryHeads == 0 }
            let wanted = min(max(layer.attentionRatio, 0), 1)
            let level = partial.min { abs($0.removal - wanted) < abs($1.removal - wanted) } ?? a.attentionLevels[0]
            attention[index] = level.removal
            let desiredRemoval = wanted * Double(a.attentionParameters) + min(max(layer.mlpRatio, 0), 1) * Double(a.mlpParameters)
            let attentionRemoval = Double(a.attentionParameters - level.keptParameters)
            let count = ((desiredRemoval - attentionRemoval) / Double(a.parametersPerChannel)).rounded()
            channels[index] = min(maximumRemovedChannels(a), max(0, Int(count)))
            removed += attentionRemoval + Double(channels[index] * a.parametersPerChannel)
        }
        // Close the remaining gap one channel per block at a time.
        let kept = desired.indices.filter { !desired[$0].dropped }
        var stalled = false
        while !stalled {
            stalled = true
            for index in kept {
                let a = accounting.layers[index]
                let step = Double(a.parametersPerChannel)
                if needed - removed > step / 2, channels[index] < maximumRemovedChannels(a) {
                    channels[index] += 1; removed += step; stalled = false
                } else if removed - needed > step / 2, channels[index] > 0 {
                    channels[index] -= 1; removed -= step; stalled = false
                }
            }
        }
        let layers = desired.indices.map { index in
            desired[index].dropped
                ? LayerPolicy(attentionRatio: 0, mlpRatio: 0, dropped: true)
                : LayerPolicy(attentionRatio: attention[index],
                              mlpRatio: Double(channels[index]) / Double(max(1, accounting.layers[index].feedForwardLength)))
        }
        let policy = PruningPolicy(layers: layers)
        let achieved: Double
        do { achieved = try accounting.achievedRatio(policy) } catch { throw PruningError(wrapping: error) }
        guard abs(achieved - targetRatio) <= tolerance else {
            throw PruningError(.targetNotReached,
                               "the closest policy achieves ratio \(achieved), not \(targetRatio) ± \(tolerance): the kept blocks cannot lose that much (MLP at most \(maximumMLPRatio)) or the dropped blocks already remove more")
        }
        return policy
    }
}
