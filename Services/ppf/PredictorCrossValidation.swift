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

    @Flag(help: "No sensitivity profile: the network predicts the log-perplexity itself, not the residual of the additive estimate, and the profile's probes are samples.")
    var noSensitivity = false

    @Flag(help: "Leave out policies that drop a block.")
    var noBlockDrops = false

    func validate() throws {
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
    }

    func run() async throws {
        let connection = try await StoredAgents.connect()
        let (measured, profiles) = try await TrainingData.load(modelId: modelId, withImportance: !noImportance,
                                                               on: connection)
        let sources = try await PolicyRepository.sources(modelId: modelId, on: connection)
        let samples = measured.filter { !noBlockDrops || !$0.policy.layers.contains(where: \.dropped) }
        guard let set = try TrainingSet(samples, profiles: profiles, withSensitivity: !noSensitivity) else {
            throw UserFacingError("no measurements of '\(modelId)'")
        }
        var hyperparameters = PredictorHyperparameters(seed: 1)
        let widths = conv.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        hyperparameters.architecture = NetworkArchitecture(kernelSize: kernel, convolutionChannels: widths, headWidth: head)
        hyperparameters.ensembleSize = ensemble
        hyperparameters.weightDecay = weightDecay
        hyperparameters.rankingLossWeight = rankingWeight
        print("\(set.samples.count) policies (\(set.regime)); importance channels: \(set.profile != nil); "
              + "sensitivity profile: \(set.sensitivity.map { "\(set.probeCount) probes, \($0.coverage)" } ?? "none"); "
              + "conv \(widths) k=\(kernel) head \(head) ensemble \(ensemble) wd \(weightDecay) ranking \(rankingWeight)")

        let validation = try CrossValidation.run(set.samples, folds: folds, hyperparameters: hyperparameters) { fold in
            FileHandle.standardError.write(Data("fold \(fold)/\(folds) done\n".utf8))
        }
        print(String(format: "trained %d folds in %.1f s", folds, validation.seconds))
        print("| policies | n | Kendall τ | Spearman ρ | MAPE | median APE | RMSE (log) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        func row(_ name: String, _ indices: [Int]) throws {
            guard let summary = try validation.summary(of: indices) else { return }
            let m = summary.metrics
            print(String(format: "| %@ | %d | %.3f | %.3f | %.2f %% | %.2f %% | %.4f |", name, m.count, m.kendallTau,
                         m.spearmanRho, 100 * m.perplexityMAPE, 100 * summary.medianAPE, m.logPerplexityRMSE))
        }
        try row("all", Array(set.samples.indices))
        if let profile = set.sensitivity, set.samples.count >= 2 {
            let m = try profile.evaluate(on: set.samples)
            print(String(format: "| all, additive estimate alone (no training) | %d | %.3f | %.3f | %.2f %% | – | %.4f |", m.count,
                         m.kendallTau, m.spearmanRho, 100 * m.perplexityMAPE, m.logPerplexityRMSE))
        }
        let kinds = Dictionary(grouping: set.samples.indices) { index in
            let source = sources[set.samples[index].id] ?? "other"
            return source.hasPrefix("baseline") ? "baseline" : String(source.split(separator: ":").last ?? "other")
        }
        for kind in kinds.keys.sorted() { try row(kind, kinds[kind] ?? []) }
    }
}
