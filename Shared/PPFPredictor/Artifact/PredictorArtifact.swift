import Foundation
import PPFContracts

// MARK: - PredictorArtifact

/// One predictor version as it is stored (the integrator keeps it in
/// Postgres): the trained ensemble with its feature spec, normalisation and
/// hyper-parameters, which measurements trained it, how well it does on
/// held-out policies, its learning curve and when it was made.
///
/// JSON round trips exactly: weights travel as raw float bits, so a decoded
/// artifact predicts bit-identically.
public struct PredictorArtifact: Codable, Sendable, Hashable {
    /// The schema version this build writes and reads.
    public static let currentSchemaVersion = 1

    /// Schema version of this value.
    public let schemaVersion: Int
    /// When the artifact was made.
    public let createdAt: Date
    /// The trained ensemble (weights, normalisation, feature spec, hyper-parameters).
    public let predictor: PerformancePredictor
    /// Ids of the measurements it was trained on.
    public let trainingSampleIds: [String]
    /// Ids of the measurements held out for `heldOutMetrics`.
    public let heldOutSampleIds: [String]
    /// Accuracy on the held-out measurements (nil when none were held out).
    public let heldOutMetrics: RankingMetrics?
    /// Held-out accuracy against training-set size (empty when not measured).
    public let learningCurve: [LearningCurvePoint]
    /// Wall-clock seconds spent training `predictor` (not the learning curve).
    public let trainingSeconds: Double
    /// The uncertainty penalty `κ` calibrated on the held-out measurements
    /// (nil when too few were held out, and in artifacts written before it existed).
    public let uncertaintyCalibration: UncertaintyCalibration?

    /// Wraps a predictor trained elsewhere.
    public init(predictor: PerformancePredictor, trainingSampleIds: [String], heldOutSampleIds: [String],
                heldOutMetrics: RankingMetrics?, learningCurve: [LearningCurvePoint], trainingSeconds: Double,
                uncertaintyCalibration: UncertaintyCalibration? = nil, createdAt: Date = Date()) {
        schemaVersion = Self.currentSchemaVersion
        self.createdAt = createdAt
        self.predictor = predictor
        self.trainingSampleIds = trainingSampleIds
        self.heldOutSampleIds = heldOutSampleIds
        self.heldOutMetrics = heldOutMetrics
        self.learningCurve = learningCurve
        self.trainingSeconds = trainingSeconds
        self.uncertaintyCalibration = uncertaintyCalibration
    }

    /// Trains a predictor on `training`, scores it on `heldOut` (skipped when
    /// fewer than 2), calibrates the uncertainty penalty on them and on the
    /// agent's `spotChecks` (see ``UncertaintyCalibration``), and measures the learning curve at
    /// `learningCurveSizes` (none when empty) on the same held-out fold.
    public static func train(
        training: [TrainingSample],
        heldOut: [TrainingSample],
        hyperparameters: PredictorHyperparameters = PredictorHyperparameters(),
        learningCurveSizes: [Int] = [],
        spotChecks: [UncertaintyCalibration.Residual] = [],
        createdAt: Date = Date()
    ) throws(PredictorError) -> PredictorArtifact {
        let start = DispatchTime.now().uptimeNanoseconds
        let predictor = try PerformancePredictor.train(on: training, hyperparameters: hyperparameters)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let metrics = heldOut.count >= 2 ? try predictor.evaluate(on: heldOut) : nil
        let calibration = UncertaintyCalibration.calibrate(
            heldOut: try UncertaintyCalibration.residuals(of: predictor, on: heldOut), spotChecks: spotChecks)
        let curve = heldOut.count >= 2 && !learningCurveSizes.isEmpty
            ? try LearningCurve.measure(training: training, heldOut: heldOut, sizes: learningCurveSizes,
                                        hyperparameters: hyperparameters)
            : []
        return PredictorArtifact(predictor: predictor, trainingSampleIds: training.map(\.id),
                                 heldOutSampleIds: heldOut.map(\.id), heldOutMetrics: metrics,
                                 learningCurve: curve, trainingSeconds: seconds, uncertaintyCalibration: calibration,
                                 createdAt: createdAt)
    }

    // MARK: JSON

    /// The artifact as JSON (sorted keys, so equal artifacts give equal bytes).
    public func jsonData() throws(PredictorError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return try encoder.encode(self)
        } catch {
            throw PredictorError(.invalidArtifact, "the artifact could not be encoded: \(error)")
        }
    }

    /// Decodes an artifact written by `jsonData()`, checking its schema version
    /// and that every part agrees with the others.
    /// - Throws: `unsupportedSchemaVersion`, or `invalidArtifact` with the reason.
    public static func decode(jsonData data: Data) throws(PredictorError) -> PredictorArtifact {
        struct Header: Decodable { let schemaVersion: Int }
        let decoder = JSONDecoder()
        let version: Int
        do {
            version = try decoder.decode(Header.self, from: data).schemaVersion
        } catch {
            throw PredictorError(.invalidArtifact, "not a predictor artifact (no readable schemaVersion): \(error)")
        }
        guard version == currentSchemaVersion else {
            throw PredictorError(.unsupportedSchemaVersion,
                                 "artifact schema version \(version) is not supported; this build reads version \(currentSchemaVersion)")
        }
        do {
            return try decoder.decode(PredictorArtifact.self, from: data)
        } catch let error as PredictorError {
            throw error
        } catch {
            throw PredictorError(.invalidArtifact, "the artifact could not be decoded: \(error)")
        }
    }
}

extension PredictorArtifact {
    /// The same artifact whose predictor featurises with `profile` (see ``PerformancePredictor/attaching(_:)``).
    public func attaching(_ profile: ImportanceProfile?) -> PredictorArtifact {
        replacingPredictor(predictor.attaching(profile))
    }

    /// The same artifact whose predictor featurises with `sensitivity` (see
    /// ``PerformancePredictor/attaching(sensitivity:)``).
    public func attaching(sensitivity: SensitivityProfile?) -> PredictorArtifact {
        replacingPredictor(predictor.attaching(sensitivity: sensitivity))
    }

    /// This artifact with `predictor` in place of its own, everything else kept.
    private func replacingPredictor(_ predictor: PerformancePredictor) -> PredictorArtifact {
        PredictorArtifact(predictor: predictor, trainingSampleIds: trainingSampleIds,
                          heldOutSampleIds: heldOutSampleIds, heldOutMetrics: heldOutMetrics,
                          learningCurve: learningCurve, trainingSeconds: trainingSeconds,
                          uncertaintyCalibration: uncertaintyCalibration, createdAt: createdAt)
    }
}
