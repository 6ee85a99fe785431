import Foundation
import PPFContracts
import PPFStore
import PPFWorkflows

/// What `ppf ratio set --wait` prints of a followed event.
enum RatioWaitOutput {
    /// The answer: the policy, block by block, with its prediction.
    static func printAnswer(_ answer: RatioEventHistoryEntry, policy record: PolicyRecord?) {
        guard let record else { return }
        let short = { (id: UUID?) in id.map { String($0.uuidString.lowercased().prefix(8)) } ?? "–" }
        print(String(format: "policy %@ (agent %@, predictor %@): achieved ratio %.4f, answered in %.0f ms",
                     short(record.id), short(answer.agentVersionId), short(answer.predictorVersionId),
                     answer.achievedRatio ?? .nan, answer.answerMilliseconds ?? .nan))
        if let predicted = answer.predictedPerplexity {
            print(String(format: "  predicted perplexity %.2f (σ of log-ppl %.3f)", predicted, answer.predictedLogPerplexityStd ?? .nan))
        }
        if let verified = answer.verifiedPerplexity {
            print(String(format: "  verified on validation: perplexity %.2f", verified))
        }
        // Compact: blocks on one line each for attention and MLP removal, in percent.
        let layers = record.policy.layers
        let attention = layers.map { $0.dropped ? "  D" : String(format: "%3.0f", 100 * $0.attentionRatio) }
        let mlp = layers.map { $0.dropped ? "  D" : String(format: "%3.0f", 100 * $0.mlpRatio) }
        print("  removed %, block 0 → \(layers.count - 1) (D = block dropped):")
        print("    attention " + attention.joined(separator: ""))
        print("    MLP       " + mlp.joined(separator: ""))
    }

    /// The pruner's plan, or that none came.
    static func printPlan(_ entry: RatioEventHistoryEntry?, timeout: Duration) {
        guard let entry, let planId = entry.planId else {
            return print("no plan within \(timeout) (is the pruner running? `ppf status`)")
        }
        print("plan \(planId.uuidString.lowercased().prefix(8)) by the pruner: keeps "
              + "\(entry.keptParameters ?? 0) of \(entry.totalParameters ?? 0) prunable parameters (model-host swaps to it)")
    }
}
