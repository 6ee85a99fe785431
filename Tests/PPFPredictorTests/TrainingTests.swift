import Foundation
import PPFContracts
import Testing
@testable import PPFPredictor

// MARK: - Learning the synthetic task

@Test func predictorRecoversTheSyntheticFunctionOnHeldOutPolicies() throws {
    let report = try syntheticReport.get()
    let metrics = try #require(report.artifact.heldOutMetrics)
    print("synthetic held-out metrics:", metrics, "training seconds:", report.artifact.trainingSeconds)
    #expect(report.artifact.trainingSampleIds.count == 300)
    #expect(metrics.count == 200)
    #expect(metrics.kendallTau >= 0.9)
    #expect(metrics.spearmanRho >= 0.98)
    #expect(metrics.perplexityMAPE < 0.08)
    #expect(metrics.rSquared > 0.99)
}

@Test func ensembleIsLessSureFarFromTheTrainingData() throws {
    let report = try syntheticReport.get()
    print("ensemble std in distribution:", report.inDistributionStd, "extreme:", report.extremeStd)
    #expect(report.inDistributionStd > 0)
    #expect(report.extremeStd > 3 * report.inDistributionStd)
}

@Test func benchmarkReportsLatencyAndThroughput() throws {
    let benchmark = try syntheticReport.get().benchmark
    print("benchmark:", benchmark)
    #expect(benchmark.memberCount == 5 && benchmark.batchSize == 200)
    #expect(benchmark.singlePolicyLatencySeconds > 0 && benchmark.policiesPerSecond > 0)
    #expect(benchmark.speedup(overMeasurementSeconds: 60) == 60 / benchmark.singlePolicyLatencySeconds)
}

// MARK: - Determinism

@Test func sameSeedGivesIdenticalWeightsAndAnotherSeedDoesNot() throws {
    let samples = try syntheticSamples(count: 40)
    var hyperparameters = quickHyperparameters
    hyperparameters.rankingLossWeight = 0.3
    hyperparameters.bootstrap = true
    let first = try PerformancePredictor.train(on: samples, hyperparameters: hyperparameters)
    let second = try PerformancePredictor.train(on: samples, hyperparameters: hyperparameters)
    // Exact: the same training run twice in one process (same shapes, kernels and thread count).
    #expect(first.members.map(\.values) == second.members.map(\.values))
    #expect(first == second)
    hyperparameters.seed = 8
    let other = try PerformancePredictor.train(on: samples, hyperparameters: hyperparameters)
    #expect(other.members[0].values != first.members[0].values)
    // Members differ from each other: that spread is the uncertainty.
    #expect(first.members[0].values != first.members[1].values)
}

@Test func batchedAndSinglePredictionsAgree() throws {
    let samples = try syntheticSamples(count: 30)
    let predictor = try PerformancePredictor.train(on: samples, hyperparameters: quickHyperparameters)
    let batch = try predictor.predict(samples.map(\.features))
    for (index, sample) in samples.enumerated().prefix(5) {
        let single = try predictor.predict(sample.features)
        #expect(abs(single.logPerplexity - batch[index].logPerplexity) < 1e-5)
        #expect(abs(single.perplexity - exp(single.logPerplexity)) < 1e-9)
    }
}

// MARK: - Bad input

@Test func trainingWithTooFewSamplesThrowsTooFewSamples() throws {
    let error = #expect(throws: PredictorError.self) {
        try PerformancePredictor.train(on: try syntheticSamples(count: 5))
    }
    #expect(error?.code == .tooFewSamples)
    #expect(error?.message.contains("at least 10") == true)
    let none = #expect(throws: PredictorError.self) { try PerformancePredictor.train(on: []) }
    #expect(none?.code == .tooFewSamples)
}

@Test func badTrainingSamplesAreRejectedByName() throws {
    var samples = try syntheticSamples(count: 12)
    let bad = TrainingSample(id: "bad", features: samples[0].features, perplexity: -3)
    let negative = #expect(throws: PredictorError.self) { try PerformancePredictor.train(on: samples + [bad]) }
    #expect(negative?.code == .invalidPerplexity)
    let duplicate = #expect(throws: PredictorError.self) { try PerformancePredictor.train(on: samples + [samples[0]]) }
    #expect(duplicate?.code == .duplicateSampleId)
    samples.append(contentsOf: try syntheticSamples(count: 1, layers: 9, idPrefix: "other"))
    let mixed = #expect(throws: PredictorError.self) { try PerformancePredictor.train(on: samples) }
    #expect(mixed?.code == .layerCountMismatch)
}

@Test func invalidHyperparametersThrowInvalidHyperparameter() throws {
    let samples = try syntheticSamples(count: 12)
    for broken in [PredictorHyperparameters(ensembleSize: 0), PredictorHyperparameters(learningRate: -1),
                   PredictorHyperparameters(architecture: NetworkArchitecture(kernelSize: 2)),
                   PredictorHyperparameters(validationFraction: 0.9)] {
        let error = #expect(throws: PredictorError.self) { try PerformancePredictor.train(on: samples, hyperparameters: broken) }
        #expect(error?.code == .invalidHyperparameter)
    }
}

@Test func predictingFeaturesOfAnotherSpecThrowsANamedMismatch() throws {
    let predictor = try PerformancePredictor.train(on: try syntheticSamples(count: 20), hyperparameters: quickHyperparameters)
    let otherDepth = try syntheticSamples(count: 1, layers: 7)[0].features
    let layers = #expect(throws: PredictorError.self) { try predictor.predict(otherDepth) }
    #expect(layers?.code == .layerCountMismatch)

    let fewerChannels = try PolicyFeatures(policy: .uniform(blocks: 8, attention: 0.2, mlp: 0.2),
                                           spec: try FeatureSpec(layerCount: 8, globalChannels: ["achievedRatio"]),
                                           globals: ["achievedRatio": 0.2])
    let channels = #expect(throws: PredictorError.self) { try predictor.predict([fewerChannels]) }
    #expect(channels?.code == .channelCountMismatch)

    let renamed = try PolicyFeatures(policy: .uniform(blocks: 8, attention: 0.2, mlp: 0.2),
                                     spec: try FeatureSpec(layerCount: 8, extraLayerChannels: ["wanda"],
                                                           globalChannels: ["achievedRatio"]),
                                     extraLayerChannels: ["wanda": Array(repeating: 1, count: 8)],
                                     globals: ["achievedRatio": 0.2])
    let names = #expect(throws: PredictorError.self) { try predictor.predict([renamed]) }
    #expect(names?.code == .featureSpecMismatch)
}

// MARK: - Learning curve

@Test func learningCurveErrorShrinksWithMoreSamples() throws {
    let training = try syntheticSamples(count: 160, seed: 5)
    let heldOut = try syntheticSamples(count: 60, seed: 6, idPrefix: "h")
    let hyperparameters = PredictorHyperparameters(ensembleSize: 1, seed: 2, maxEpochs: 150, patience: 30)
    let curve = try LearningCurve.measure(training: training, heldOut: heldOut, sizes: [12, 160],
                                          hyperparameters: hyperparameters)
    #expect(curve.map(\.sampleCount) == [12, 160])
    #expect(curve[1].metrics.logPerplexityRMSE < curve[0].metrics.logPerplexityRMSE)
    #expect(LearningCurve.defaultSizes(trainingCount: 300) == [75, 150, 225, 300])
    #expect(LearningCurve.defaultSizes(trainingCount: 30) == [15, 22, 30])
}

@Test func holdoutSplitIsDeterministicAndRefusesTinySets() throws {
    let samples = try syntheticSamples(count: 50)
    let (training, heldOut) = try HoldoutSplit.split(samples, heldOutFraction: 0.2, seed: 4)
    let again = try HoldoutSplit.split(samples, heldOutFraction: 0.2, seed: 4)
    #expect(training.count == 40 && heldOut.count == 10)
    #expect(training.map(\.id) == again.training.map(\.id))
    #expect(Set(training.map(\.id)).isDisjoint(with: heldOut.map(\.id)))
    let error = #expect(throws: PredictorError.self) {
        try HoldoutSplit.split(Array(samples.prefix(11)), heldOutFraction: 0.2, seed: 4)
    }
    #expect(error?.code == .tooFewSamples)
}
