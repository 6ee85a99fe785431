import Foundation

// MARK: - SyntheticExperiment

/// The reproducible experiment behind the numbers in docs/predictor.md:
/// train on policies labelled by `SyntheticPerformanceTask`, score on
/// held-out policies from the same sampler, compare the ensemble's spread on
/// and off the training distribution, and time predictions.
///
/// The `ppf` tool calls ``run(trainingCount:heldOutCount:seed:hyperparameters:learningCurveSizes:)``
/// and prints the report.
public enum SyntheticExperiment {
    /// Everything the experiment measured.
    public struct Report: Codable, Sendable {
        /// The trained artifact (metrics, learning curve, training time inside).
        public let artifact: PredictorArtifact
        /// Mean ensemble std (log-perplexity) on held-out policies from the training distribution.
        public let inDistributionStd: Double
        /// Mean ensemble std on extreme policies outside it.
        public let extremeStd: Double
        /// Prediction speed on the held-out policies.
        public let benchmark: PredictorBenchmark.Result
    }

    /// Runs the experiment: `trainingCount` training and `heldOutCount`
    /// held-out policies over 30 layers, both drawn from `seed`.
    public static func run(
        trainingCount: Int = 300,
        heldOutCount: Int = 200,
        seed: UInt64 = 1,
        hyperparameters: PredictorHyperparameters = PredictorHyperparameters(),
        learningCurveSizes: [Int] = []
    ) throws(PredictorError) -> Report {
        let task = try SyntheticPerformanceTask(layerCount: 30)
        let policies = task.samplePolicies(count: trainingCount + heldOutCount, seed: seed)
        let training = try task.samples(for: Array(policies.prefix(trainingCount)), idPrefix: "train")
        let heldOut = try task.samples(for: Array(policies.dropFirst(trainingCount)), idPrefix: "held-out")
        let artifact = try PredictorArtifact.train(training: training, heldOut: heldOut,
                                                   hyperparameters: hyperparameters,
                                                   learningCurveSizes: learningCurveSizes)
        let predictor = artifact.predictor
        let extreme = try task.extremePolicies(count: 50, seed: seed &+ 1).map { policy throws(PredictorError) in
            try task.features(of: policy)
        }
        func meanStd(_ predictions: [Prediction]) -> Double {
            predictions.map(\.logPerplexityStd).reduce(0, +) / Double(max(1, predictions.count))
        }
        let heldOutFeatures = heldOut.map(\.features)
        return Report(artifact: artifact,
                      inDistributionStd: meanStd(try predictor.predict(heldOutFeatures)),
                      extremeStd: meanStd(try predictor.predict(extreme)),
                      benchmark: try PredictorBenchmark.measure(predictor, policies: heldOutFeatures))
    }
}
