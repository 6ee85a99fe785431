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

    /// The samples a stored predictor version was trained and held out on,
    /// rebuilt from the measurements it lists (with its own importance
    /// profile), in the artifact's order, plus the regime's description and
    /// each policy by sample id.
    public static func samples(of loaded: LoadedPredictor, on connection: PGConnection) async throws
        -> (training: [TrainingSample], heldOut: [TrainingSample], regime: String, policies: [String: PruningPolicy]) {
        let artifact = loaded.artifact
        let measured = try await MeasurementRepository.measuredPolicies(modelId: loaded.record.modelId, on: connection)
        let profiles = artifact.predictor.importanceProfile.map { [$0] } ?? []
        let trainedOn = Set(loaded.record.trainingMeasurementIds)
        let mine = measured.filter { trainedOn.contains($0.measurement.id) }.map(MeasuredSample.init)
        // Rebuilt the way it was built: with the sensitivity profile only if the version reads one.
        guard let set = try TrainingSet(mine, profiles: profiles,
                                        withSensitivity: artifact.predictor.sensitivityProfile != nil) else { return ([], [], "none", [:]) }
        let policies = Dictionary(mine.map { ($0.policyId.uuidString.lowercased(), $0.policy) },
                                  uniquingKeysWith: { first, _ in first })
        let byId = Dictionary(set.samples.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return (artifact.trainingSampleIds.compactMap { byId[$0] }, artifact.heldOutSampleIds.compactMap { byId[$0] },
                set.regime.description, policies)
    }
}
