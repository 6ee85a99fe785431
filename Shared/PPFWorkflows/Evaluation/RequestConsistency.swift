import Foundation
import PPFContracts
import PPFStore

// MARK: - A request against its stored row

extension EvaluationRequestRecord {
    /// How `request` differs from this stored row and the policy stored under
    /// its id: one phrase per field that differs, empty when they agree.
    ///
    /// The row is the system of record: a message that carries a real request
    /// id with another policy, split, budget or metric is forged or corrupt,
    /// and measuring it would file a wrong number under the stored request.
    /// Ratios are compared within `ratioTolerance` (they travel through JSON
    /// and `jsonb`, which keep a double exactly, but nothing here needs that).
    public func differences(from request: EvaluationRequest, storedPolicy: PruningPolicy,
                            ratioTolerance: Double = 1e-12) -> [String] {
        var differences: [String] = []
        func compare<Value: Equatable>(_ name: String, _ carried: Value, _ stored: Value) {
            if carried != stored { differences.append("\(name) '\(carried)' (stored '\(stored)')") }
        }
        compare("policy id", request.policyId.uuidString.lowercased(), policyId.uuidString.lowercased())
        compare("model", request.modelId, modelId)
        compare("metric", request.metric, metric)
        compare("split", request.split, split)
        compare("token budget", request.tokenBudget, tokenBudget)
        compare("window", request.window, window)
        compare("reason", request.reason.rawValue, reason)
        if let layer = Self.firstDifferingLayer(request.policy, storedPolicy, tolerance: ratioTolerance) {
            differences.append(layer)
        }
        return differences
    }

    private static func firstDifferingLayer(_ carried: PruningPolicy, _ stored: PruningPolicy, tolerance: Double) -> String? {
        guard carried.layers.count == stored.layers.count else {
            return "policy of \(carried.layers.count) layers (stored \(stored.layers.count))"
        }
        for (index, (mine, theirs)) in zip(carried.layers, stored.layers).enumerated() {
            let agrees = mine.dropped == theirs.dropped
                && abs(mine.attentionRatio - theirs.attentionRatio) <= tolerance
                && abs(mine.mlpRatio - theirs.mlpRatio) <= tolerance
            if !agrees {
                return "policy layer \(index) \(describe(mine)) (stored \(describe(theirs)))"
            }
        }
        return nil
    }

    private static func describe(_ layer: LayerPolicy) -> String {
        layer.dropped ? "dropped" : "attention \(layer.attentionRatio), mlp \(layer.mlpRatio)"
    }
}
