import Foundation
import PPFContracts

// MARK: - Summary and identity

extension AgentArtifact {
    /// How this agent was trained, for the version event and the stored row.
    public var summary: AgentTrainingSummary {
        let last = report.curve.last
        return AgentTrainingSummary(
            minimumRatio: configuration.minimumRatio, maximumRatio: configuration.maximumRatio,
            allowsBlockDrop: budget.allowsBlockDrop, seed: configuration.seed,
            uncertaintyPenalty: configuration.uncertaintyPenalty, iterations: report.curve.count,
            rewardCalls: report.rewardCalls, policiesScored: report.policiesScored, trainingSeconds: report.wallSeconds,
            finalMeanReward: last?.meanReward ?? 0, finalMeanPredictedLogPerplexity: last?.meanPredictedLogPerplexity ?? 0,
            finalMeanUncertainty: last?.meanUncertainty ?? 0)
    }

    /// What identifies a training run against one predictor version: the
    /// configuration and whether drops were allowed. Equal keys train the
    /// same agent up to floating-point rounding (training is seeded; its BLAS
    /// calls may round differently on another CPU or thread count), so a
    /// store keeps one per key.
    public var configurationKey: String {
        Self.configurationKey(configuration, allowsBlockDrop: budget.allowsBlockDrop)
    }

    /// The key of a training run with `configuration` (sorted-key JSON, so it is stable).
    public static func configurationKey(_ configuration: TrainingConfiguration, allowsBlockDrop: Bool) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // A configuration of plain numbers always encodes; the fallback keeps the key total.
        let json = (try? encoder.encode(configuration)).map { String(decoding: $0, as: UTF8.self) }
            ?? "seed=\(configuration.seed)"
        return "v1 drops=\(allowsBlockDrop) \(json)"
    }
}
