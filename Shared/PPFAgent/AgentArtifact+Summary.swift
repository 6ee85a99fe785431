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
        let base = Self.configurationKey(configuration, allowsBlockDrop: budget.allowsBlockDrop)
        return anchors.map { Self.anchoredKey(base: base, anchors: $0) } ?? base
    }

    /// The marker that ends the key of every anchored agent (`LIKE '%' || marker || '%'` finds them).
    public static let anchoredKeyMarker = " anchored="

    /// The key of the agent distilled toward `anchors` from a run of key
    /// `base`: `base`, the marker, then a 64-bit FNV-1a digest of the anchors'
    /// sorted-key JSON, so the same anchors give the same key on any machine.
    public static func anchoredKey(base: String, anchors: [AgentAnchor]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(anchors)) ?? Data(anchors.map { "\($0.ratio)" }.joined().utf8)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return base + anchoredKeyMarker + String(hash, radix: 16)
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
