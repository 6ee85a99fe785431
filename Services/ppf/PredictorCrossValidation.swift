import ArgumentParser
import Foundation
import PPFContracts
import PPFPredictor
import PPFStore
import PPFWorkflows

extension PredictorValidation.Grouping: ExpressibleByArgument {}

/// `ppf predictor cv`: k-fold cross-validation of predictor settings on the
/// stored measurements, to choose features and sizes on data, not by taste.
struct PredictorCrossValidation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cv",
        abstract: "K-fold cross-validated accuracy of predictor settings on the stored measurements (nothing is stored).",
        discussion: """
            Builds the training set the predictor service would (the largest measurement regime of \
            the model, with the importance profile unless --no-importance), splits it into --folds \
            folds deterministically (grouped by hand-made rule unless --grouping none), trains on \
            k−1 and scores the k-th, and prints the pooled out-of-fold metrics with their spread \
            across folds, Kendall τ and top-k regret within a ratio, overall and per kind of policy \
            (baseline, random, perturbation, block drop, agent).
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

    @Option(help: "Seed of the fold assignment and of training (another seed shows how much a result is noise).")
    var seed: UInt64 = 17

    @Option(help: "Fold groups: family (a hand-made rule at every ratio and its perturbations share a fold) or none.")
    var grouping: PredictorValidation.Grouping = .family

    func validate() throws {
        guard folds >= 2 else { throw ValidationError("--folds must be at least 2") }
    }

    func run() async throws {
        let connection = try await StoredAgents.connect()
        let (measured, profiles) = try await TrainingData.load(modelId: modelId, withImportance: !noImportance,
                                                               on: connection)
        let provenance = try await PolicyRepository.provenance(modelId: modelId, on: connection)
        let samples = measured.filter { !noBlockDrops || !$0.policy.layers.contains(where: \.dropped) }
        guard let set = try TrainingSet(samples, profiles: profiles, withSensitivity: !noSensitivity) else {
            throw UserFacingError("no measurements of '\(modelId)'")
        }
        var hyperparameters = PredictorHyperparameters(seed: seed == 17 ? 1 : seed)
        let widths = conv.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        hyperparameters.architecture = NetworkArchitecture(kernelSize: kernel, convolutionChannels: widths, headWidth: head)
        hyperparameters.ensembleSize = ensemble
        hyperparameters.weightDecay = weightDecay
        hyperparameters.rankingLossWeight = rankingWeight
        print("\(set.samples.count) policies (\(set.regime)); importance channels: \(set.profile != nil); "
              + "sensitivity profile: \(set.sensitivity.map { "\(set.probeCount) probes, \($0.coverage)" } ?? "none"); "
              + "conv \(widths) k=\(kernel) head \(head) ensemble \(ensemble) wd \(weightDecay) ranking \(rankingWeight)")

        let policies = Dictionary(samples.map { ($0.policyId.uuidString.lowercased(), $0.policy) },
                                  uniquingKeysWith: { first, _ in first })
        let validation = try PredictorValidation.run(
            samples: set.samples, provenance: provenance, policies: policies, sensitivity: set.sensitivity, folds: folds,
            grouping: grouping, hyperparameters: hyperparameters, seed: seed) { fold in
            FileHandle.standardError.write(Data("fold \(fold)/\(folds) done\n".utf8))
        }
        print(validation.foldDescription)
        validation.markdownTable().forEach { print($0) }
    }
}
