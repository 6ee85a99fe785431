import Foundation
import PPFContracts
import PPFPredictor
import PPFStore

// MARK: - Training data

extension MeasuredSample {
    /// The predictor's view of a stored measurement.
    public init(_ stored: MeasuredPolicy) {
        self.init(measurementId: stored.measurement.id, policyId: stored.measurement.policyId, policy: stored.policy,
                  metric: stored.metric, split: stored.measurement.split, tokenBudget: stored.measurement.tokenBudget,
                  window: stored.measurement.window, perplexity: stored.measurement.perplexity)
    }
}

/// What the predictor trains on, read the one way the predictor service and
/// `ppf predictor cv` read it.
public enum TrainingData {
    /// Every measured policy of `modelId` as a sample, oldest first, and the
    /// model's importance profiles (empty when `withImportance` is false).
    public static func load(modelId: String, withImportance: Bool = true,
                            on connection: PGConnection) async throws -> (samples: [MeasuredSample], profiles: [ImportanceProfile]) {
        let measured = try await MeasurementRepository.measuredPolicies(modelId: modelId, on: connection)
        let profiles = withImportance ? try await ImportanceProfileRepository.all(modelId: modelId, on: connection) : []
        return (measured.map(MeasuredSample.init), profiles)
    }
}
