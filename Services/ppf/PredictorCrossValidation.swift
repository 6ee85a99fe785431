import ArgumentParser
import Foundation
import PPFContracts
import PPFPredictor
import PPFStore
import PPFWorkflows

/// `ppf predictor cv`: k-fold cross-validation of predictor settings on the
/// stored measurements, to choose features and sizes on data, not by taste.
struct PredictorCrossValidation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cv",
        abstract: "K-fold cross-validated accuracy of predictor settings on the stored measurements (nothing is stored).",
        discussion: """
            Builds the training set the predictor service would (the largest measurement regime of \
            the model, with the importance profile unless --no-importance), splits it into --folds \
            folds deterministically, trains on k−1 and scores the k-th, and prints the pooled \
            out-of-fold metrics, overall and per kind of policy (baseline, random, perturbation, \
            block drop).
            """)

    @Option(help: "The model id.")
    var modelId: String = CommandLineSettings.current.modelId

    @Option(help: "Folds.")
    var folds: Int = 5

    @Option(help: "Convolution widths, comma-separated.")
    var conv: String = "16,16"

    @Option(help: "Convolution kernel size (odd).")
    var kernel: Int = 3

    @Option(help: "Head width.")
    var head: Int = 32

    @Option(help: "Ensemble members.")
    var ensemble: Int = 5

    @Option(help: "Weight decay.")
    var weightDecay: Double = 0.3

    @Option(help: "Ranking loss weight.")
    var rankingWeight: Double = 0

    @Flag(help: "Ratios only: leave out the retained-importance channels.")
    var noImportance = false

    @Flag(help: "Leave out policies that drop a block.")
    var noBlockDrops = false

    func validate() throws {
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
    }

    func run() async throws {
        let connection = try await StoredPredictor.connect()
        let (measured, profiles) = try await TrainingData.load(modelId: modelId, withImportance: !noImportance,
                                                               on: connection)
        let sources = try await PolicyRepository.sources(modelId: modelId, on: connection)
        let samples = measured.filter { !noBlockDrops || !$0.policy.layers.contains(where: \.dropped) }
        guard let set = try TrainingSet(samples, profiles: profiles) else {
            throw UserFacingError("no measurements of '\(modelId)'")
        }
        var hyperparameters = PredictorHyperparameters(seed: 1)
        let widths = conv.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        hyperparameters.architecture = NetworkArchitecture(kernelSize: kernel, convolutionChannels: widths, headWidth: head)
        hyperparameters.ensembleSize = ensemble
        hyperparameters.weightDecay = weightDecay
        hyperparameters.rankingLossWeight = rankingWeight
        print("\(set.samples.count) policies (\(set.regime)); importance channels: \(set.profile != nil); "
              + "conv \(widths) k=\(kernel) head \(head) ensemble \(ensemble) wd \(weightDecay) ranking \(rankingWeight)")

        // Deterministic fold assignment by a shuffled order.
        var order = Array(set.samples.indices)
        var generator = SplitMix(seed: 17)
        order.shuffle(using: &generator)
        var predicted = [Double](repeating: 0, count: set.samples.count)
        let started = Date()
        for fold in 0..<folds {
            let test = Set(order.enumerated().filter { $0.offset % folds == fold }.map(\.element))
            let training = set.samples.indices.filter { !test.contains($0) }.map { set.samples[$0] }
            let predictor = try PerformancePredictor.train(on: training, hyperparameters: hyperparameters)
            let indices = test.sorted()
            let predictions = try predictor.predict(indices.map { set.samples[$0].features })
            for (index, prediction) in zip(indices, predictions) { predicted[index] = prediction.logPerplexity }
            FileHandle.standardError.write(Data("fold \(fold + 1)/\(folds) done\n".utf8))
        }
        let measuredLog = set.samples.map { log($0.perplexity) }
        print(String(format: "trained %d folds in %.1f s", folds, Date().timeIntervalSince(started)))
        print("| policies | n | Kendall τ | Spearman ρ | MAPE | median APE | RMSE (log) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        func row(_ name: String, _ indices: [Int]) throws {
            guard indices.count >= 3 else { return }
            let m = try RankingMetrics(predictedLogPerplexity: indices.map { predicted[$0] },
                                       measuredLogPerplexity: indices.map { measuredLog[$0] })
            let ape = indices.map { abs(exp(predicted[$0] - measuredLog[$0]) - 1) }.sorted()
            print(String(format: "| %@ | %d | %.3f | %.3f | %.2f %% | %.2f %% | %.4f |", name, m.count, m.kendallTau,
                         m.spearmanRho, 100 * m.perplexityMAPE, 100 * ape[ape.count / 2], m.logPerplexityRMSE))
        }
        try row("all", Array(set.samples.indices))
        let kinds = Dictionary(grouping: set.samples.indices) { index in
            let source = sources[set.samples[index].id] ?? "other"
            return source.hasPrefix("baseline") ? "baseline" : String(source.split(separator: ":").last ?? "other")
        }
        for kind in kinds.keys.sorted() { try row(kind, kinds[kind] ?? []) }
    }
}

/// A small deterministic generator for fold assignment (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
