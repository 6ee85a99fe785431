import Foundation

// MARK: - PlanTable

/// The per-layer table `ppf prune` prints: what each block kept, its
/// parameters before and after, then the achieved ratio and totals.
public enum PlanTable {
    /// The table of `plan` as GitHub markdown, one row per dense block, then a summary line.
    public static func markdown(_ plan: PruningPlan) -> String {
        var lines = [
            "| block | q heads | kv heads | layout (g×m) | kept groups | MLP channels | params before | params after | removed | bias |",
            "|---:|---:|---:|:---:|:---|---:|---:|---:|---:|:---:|",
        ]
        for layer in plan.layers {
            let removed = layer.parametersBefore > 0
                ? 100 * Double(layer.parametersBefore - layer.parametersAfter) / Double(layer.parametersBefore) : 0
            if layer.dropped {
                lines.append("| \(layer.layer) | dropped | | | | | \(layer.parametersBefore) | 0 | 100.0% | |")
                continue
            }
            let bias = [layer.compensatesAttentionBias ? "attn" : nil, layer.compensatesMLPBias ? "ffn" : nil]
                .compactMap { $0 }.joined(separator: "+")
            lines.append("| \(layer.layer) | \(layer.keptHeads.count)/\(layer.denseQueryHeads) | \(layer.keptGroups.count)/\(layer.denseKeyValueGroups) | \(layer.attentionShape?.description ?? "-") | \(layer.keptGroups.map(String.init).joined(separator: ",")) | \(layer.keptChannels.count)/\(layer.denseFeedForwardLength) | \(layer.parametersBefore) | \(layer.parametersAfter) | \(String(format: "%.1f%%", removed)) | \(bias.isEmpty ? "" : bias) |")
        }
        lines.append("")
        let target = plan.targetRatio.map { String(format: " (target %.4f)", $0) } ?? ""
        let dropped = plan.droppedBlocks.isEmpty ? "none" : plan.droppedBlocks.map(String.init).joined(separator: ",")
        lines.append(String(format: "achieved ratio %.4f", plan.achievedRatio) + target
                     + " · prunable parameters \(plan.prunableParametersBefore) → \(plan.prunableParametersAfter)"
                     + " · metric \(plan.metric) · dropped blocks \(dropped)")
        return lines.joined(separator: "\n")
    }
}
