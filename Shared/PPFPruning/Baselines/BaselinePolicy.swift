import PPFContracts
import PPFModel

// MARK: - BaselinePolicy

/// The manually designed layer-wise policies PPF must beat (issue 4 §6);
/// docs/pruning.md cites each one's source. Every policy is fitted with
/// `PolicyFitter`, so it achieves the target ratio within tolerance.
public enum BaselinePolicy: String, Codable, Sendable, CaseIterable {
    /// The same ratio for every block's attention and MLP.
    case uniform
    /// LLM-Pruner (Ma et al. 2023): uniform over the middle blocks; the first and last blocks untouched.
    case llmPruner = "llm-pruner"
    /// OWL (Yin et al. 2024): layers with more activation outliers keep more.
    case owl
    /// FLAP (An et al. 2024): standardised scores compared across layers, one global threshold.
    case flap
    /// ShortGPT (Men et al. 2024): drop the blocks with the lowest Block Influence.
    case shortGPT = "shortgpt"

    /// The baseline named `name`; throws `unknownName` listing the valid names.
    public init(named name: String) throws(PruningError) {
        guard let kind = BaselinePolicy(rawValue: name) else {
            throw PruningError(.unknownName,
                               "unknown policy '\(name)'; use one of \(BaselinePolicy.allCases.map(\.rawValue).joined(separator: ", ")) or file:<policy.json>")
        }
        self = kind
    }

    /// Whether the baseline reads calibration statistics (OWL's outliers, ShortGPT's Block Influence).
    public var needsStatistics: Bool { self == .owl || self == .shortGPT }
}

// MARK: - Options

/// The hyperparameters of the baselines, with the values their papers use.
public struct BaselineOptions: Sendable, Hashable {
    /// LLM-Pruner's untouched leading blocks; `nil`: 4 of 32 scaled to the model (SmolLM2: 4 of 30).
    public var llmPrunerFirstBlocks: Int?
    /// LLM-Pruner's untouched trailing blocks; `nil`: 2 of 32 scaled (SmolLM2: 2).
    public var llmPrunerLastBlocks: Int?
    /// OWL's outlier threshold `M`: a weight is an outlier when its Wanda score exceeds `M`× the block mean (paper: 5).
    public var owlOutlierMultiplier: Double
    /// OWL's `λ`: layer ratios spread over `[r − λ, r + λ]` (paper: 0.08).
    public var owlLambda: Double
    /// Largest MLP ratio of a kept block (default 0.9; see `PolicyFitter`).
    public var maximumMLPRatio: Double
    /// Largest gap between the target and the achieved ratio.
    public var tolerance: Double

    /// The papers' values.
    public init(llmPrunerFirstBlocks: Int? = nil, llmPrunerLastBlocks: Int? = nil, owlOutlierMultiplier: Double = 5,
                owlLambda: Double = 0.08, maximumMLPRatio: Double = 0.9, tolerance: Double = PlanBuilder.defaultTolerance) {
        self.llmPrunerFirstBlocks = llmPrunerFirstBlocks
        self.llmPrunerLastBlocks = llmPrunerLastBlocks
        self.owlOutlierMultiplier = owlOutlierMultiplier
        self.owlLambda = owlLambda
        self.maximumMLPRatio = maximumMLPRatio
        self.tolerance = tolerance
    }
}

// MARK: - Making a policy

extension BaselinePolicy {
    /// The baseline's policy for `targetRatio` on `weights`.
    ///
    /// - Parameters:
    ///   - statistics: calibration statistics (needed by `owl` and `shortgpt`).
    ///   - scores: the importance scores of the metric in use (FLAP's global
    ///     structure ranks them; the others ignore them).
    /// - Throws: `invalidRatio`, `missingStatistics`, `scoresMismatch`, `targetNotReached`.
    public func policy(targetRatio: Double, weights: LlamaWeights, statistics: CalibrationStatistics?,
                       scores: ImportanceScores, options: BaselineOptions = BaselineOptions()) throws(PruningError) -> PruningPolicy {
        try PlanBuilder.validateTarget(targetRatio)
        try scores.validate(against: weights.configuration)
        let accounting = ParameterAccounting(configuration: weights.configuration)
        let fitter = PolicyFitter(accounting: accounting, maximumMLPRatio: options.maximumMLPRatio)
        if needsStatistics {
            guard let statistics else {
                throw PruningError(.missingStatistics, "the \(rawValue) policy needs calibration statistics; run calibration first")
            }
            try statistics.validate(against: weights.configuration)
        }
        let desired: [LayerPolicy]
        switch self {
        case .uniform:
            desired = Self.blockRatios(Array(repeating: targetRatio, count: accounting.layers.count))
        case .llmPruner:
            desired = LayerwiseBaselines.llmPruner(targetRatio, accounting, options)
        case .owl:
            // `needsStatistics` guaranteed the statistics above.
            desired = try LayerwiseBaselines.owl(targetRatio, weights, statistics, options)
        case .flap:
            desired = LayerwiseBaselines.flapGlobal(targetRatio, accounting, scores)
        case .shortGPT:
            desired = try LayerwiseBaselines.shortGPT(targetRatio, accounting, statistics, options)
        }
        return try fitter.fit(desired, targetRatio: targetRatio, tolerance: options.tolerance)
    }

    /// Each block loses `ratios[l]` of its attention and of its MLP.
    static func blockRatios(_ ratios: [Double]) -> [LayerPolicy] {
        ratios.map { LayerPolicy(attentionRatio: $0, mlpRatio: $0) }
    }
}
