import Foundation
import PPFContracts
import PPFPredictor
import PPFStore

/// Turns stored measurements into the predictor's training samples.
///
/// Perplexities are only comparable on one split, token budget and window,
/// so a model's training set is its largest such *regime* (ties: the one
/// measured most recently). Within it, a policy measured more than once
/// (spot-checks repeat policies) is one sample at the mean log-perplexity,
/// and the features follow the model's block count (the most common one;
/// policies with another count are left out and counted).
struct TrainingSet {
    /// Which measurements are comparable.
    struct Regime: Hashable, CustomStringConvertible {
        let split: String
        let tokenBudget: Int
        let window: Int
        var description: String { "\(split)/\(tokenBudget) tokens/window \(window)" }
    }

    let samples: [TrainingSample]
    /// Every measurement behind `samples`.
    let measurementIds: [Int64]
    let regime: Regime
    /// Measurements of the model outside the regime or with another block count.
    let leftOut: Int

    /// Builds the set, or nil when the model has no measurements.
    /// - Throws: `PredictorError` when a stored policy cannot be turned into features.
    init?(_ measured: [MeasuredPolicy]) throws {
        func regime(_ item: MeasuredPolicy) -> Regime {
            Regime(split: item.measurement.split, tokenBudget: item.measurement.tokenBudget,
                   window: item.measurement.window)
        }
        let byRegime = Dictionary(grouping: measured, by: regime)
        // Rows come ordered by id, so the last index of a regime says how recent it is.
        let lastSeen = Dictionary(measured.enumerated().map { (regime($0.element), $0.offset) }) { max($0, $1) }
        guard let chosen = byRegime.keys.max(by: {
            (byRegime[$0]?.count ?? 0, lastSeen[$0] ?? 0) < (byRegime[$1]?.count ?? 0, lastSeen[$1] ?? 0)
        }), let inRegime = byRegime[chosen] else { return nil }

        let layerCounts = Dictionary(grouping: inRegime, by: \.policy.layers.count).mapValues(\.count)
        guard let layerCount = layerCounts.max(by: { ($0.value, $0.key) < ($1.value, $1.key) })?.key else { return nil }
        let usable = inRegime.filter { $0.policy.layers.count == layerCount }
        let spec = try FeatureSpec(layerCount: layerCount)

        // One sample per policy, in order of first measurement.
        var order: [UUID] = []
        var byPolicy: [UUID: [MeasuredPolicy]] = [:]
        for item in usable {
            if byPolicy[item.measurement.policyId] == nil { order.append(item.measurement.policyId) }
            byPolicy[item.measurement.policyId, default: []].append(item)
        }
        var samples: [TrainingSample] = []
        for policyId in order {
            guard let group = byPolicy[policyId], let first = group.first else { continue }
            let meanLog = group.map { Foundation.log($0.measurement.perplexity) }.reduce(0, +) / Double(group.count)
            samples.append(TrainingSample(id: policyId.uuidString.lowercased(),
                                          features: try PolicyFeatures(policy: first.policy, spec: spec),
                                          perplexity: Foundation.exp(meanLog)))
        }
        self.samples = samples
        self.measurementIds = usable.map(\.measurement.id)
        self.regime = chosen
        self.leftOut = measured.count - usable.count
    }
}
