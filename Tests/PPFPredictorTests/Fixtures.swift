import PPFContracts
@testable import PPFPredictor

// MARK: - Fixtures

/// A small, fast configuration for tests that only need *a* trained predictor.
let quickHyperparameters = PredictorHyperparameters(ensembleSize: 2, seed: 7, maxEpochs: 40, patience: 10)

/// Labelled synthetic samples over `layers` blocks.
func syntheticSamples(count: Int, layers: Int = 8, seed: UInt64 = 3, idPrefix: String = "s") throws -> [TrainingSample] {
    let task = try SyntheticPerformanceTask(layerCount: layers)
    return try task.samples(for: task.samplePolicies(count: count, seed: seed), idPrefix: idPrefix)
}

/// The full synthetic experiment (300 training policies, 200 held out, 30
/// layers, default hyper-parameters), run once and shared by the tests that
/// check what it found.
let syntheticReport: Result<SyntheticExperiment.Report, PredictorError> = Result {
    () throws(PredictorError) -> SyntheticExperiment.Report in
    try SyntheticExperiment.run()
}
