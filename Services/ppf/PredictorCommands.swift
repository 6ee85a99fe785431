import ArgumentParser
import Foundation
import Logging
import PPFContracts
import PPFModel
import PPFPredictor
import PPFPruning
import PPFReport
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - ppf predictor

/// `ppf predictor …`: inspect the stored predictor versions.
struct PredictorGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predictor", abstract: "Inspect the performance predictor.", subcommands: [Report.self, PredictorCrossValidation.self])

    /// `ppf predictor report`: held-out accuracy, a scatter plot and the learning curve.
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Held-out metrics of a predictor version, with a predicted-vs-measured scatter plot and a learning curve (PNG).",
            discussion: """
                The held-out policies were never used for training or early stopping. Ranking \
                metrics (Kendall τ, Spearman ρ) say how well the predictor orders policies — what \
                steers the agent and the search; MAE and MAPE say how far its perplexities are off.
                """)

        @Option(help: "The model id.")
        var modelId: String = CommandLineSettings.current.modelId

        @Option(help: "A version id (default: the newest).")
        var version: String?

        @Option(help: "Directory for predictor-scatter.png and predictor-learning-curve.png.")
        var outDir: String = "docs"

        @Flag(help: "Print JSON instead of text (plots are still written).")
        var json = false

        @Option(help: "Folds of the grouped cross-validation of this version's settings on its policies (0: skip it).")
        var folds: Int = 5

        func validate() throws {
            guard folds == 0 || folds >= 2 else { throw ValidationError("--folds must be 0 or at least 2") }
        }

        func run() async throws {
            let versionId = try version.map { text -> UUID in
                guard let id = UUID(uuidString: text) else { throw ValidationError("--version must be a UUID") }
                return id
            }
            let connection = try await StoredAgents.connect()
            let stored = try await StoredAgents.predictor(modelId: modelId, versionId: versionId, on: connection)
            let (training, heldOut, regime, policies) = try await TrainingData.samples(of: stored, on: connection)
            let predictor = stored.predictor
            let trainingMetrics = training.count >= 3 ? try predictor.evaluate(on: training) : nil
            let heldOutMetrics = heldOut.count >= 3 ? try predictor.evaluate(on: heldOut) : nil

            let directory = URL(fileURLWithPath: outDir)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let scatterURL = directory.appendingPathComponent("predictor-scatter.png")
            let curveURL = directory.appendingPathComponent("predictor-learning-curve.png")
            try Self.scatter(predictor: predictor, training: training, heldOut: heldOut).write(to: scatterURL)
            try Self.learningCurve(stored.artifact.learningCurve).write(to: curveURL)

            if json {
                let report = ReportJSON(
                    versionId: stored.record.id.uuidString.lowercased(), modelId: stored.record.modelId,
                    createdAt: stored.record.createdAt, regime: regime, sampleCount: stored.record.sampleCount,
                    trainingCount: training.count, heldOutCount: heldOut.count,
                    heldOut: heldOutMetrics.map(MetricsJSON.init), training: trainingMetrics.map(MetricsJSON.init),
                    learningCurve: stored.artifact.learningCurve.map {
                        CurveJSON(samples: $0.sampleCount, metrics: MetricsJSON($0.metrics))
                    },
                    ensembleMembers: predictor.members.count, trainingSeconds: stored.record.trainingSeconds,
                    plots: [scatterURL.path, curveURL.path])
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print("predictor \(stored.record.id.uuidString.lowercased()) of '\(stored.record.modelId)' (\(stored.record.createdAt))")
            print("  trained on \(training.count) policies, \(heldOut.count) held out; \(regime)")
            print(String(format: "  ensemble of %d, trained in %.1f s", predictor.members.count, stored.record.trainingSeconds))
            print("")
            print("| set | policies | Kendall τ | Spearman ρ | MAE (ppl) | MAPE | RMSE (log ppl) | R² (log) |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for (name, metrics) in [("held out", heldOutMetrics), ("training", trainingMetrics)] {
                guard let metrics else { continue }
                print(Self.row(name, metrics))
            }
            if let profile = predictor.sensitivityProfile {
                if heldOut.count >= 3 { print(Self.row("held out, additive estimate alone", try profile.evaluate(on: heldOut))) }
                let coverage = profile.coverage
                print(String(format: "\nsensitivity profile: dense log-ppl %.4f (ppl %.3f); %d attention, %d MLP and %d drop probes over %d blocks; "
                             + "the ensemble predicts the residual of its additive estimate",
                             profile.denseLogPerplexity, exp(profile.denseLogPerplexity), coverage.attention, coverage.mlp,
                             coverage.drops, profile.blocks.count))
            }
            print("\nuncertainty penalty: " + (stored.artifact.uncertaintyCalibration?.summary
                ?? "not calibrated (an older version, or too few held-out policies); the agent uses κ = 1"))
            try await Self.printSpotChecks(of: stored, on: connection)
            if folds >= 2 {
                let provenance = try await PolicyRepository.provenance(modelId: stored.record.modelId, on: connection)
                let validation = try PredictorValidation.run(
                    samples: training + heldOut, provenance: provenance, policies: policies,
                    sensitivity: predictor.sensitivityProfile, folds: folds, grouping: .family,
                    hyperparameters: predictor.hyperparameters)
                print("\ncross-validation of this version's settings on its \(training.count + heldOut.count) policies: \(validation.foldDescription)")
                validation.markdownTable().forEach { print($0) }
            }
            if !stored.artifact.learningCurve.isEmpty {
                print("\nlearning curve (held-out error against training policies):")
                print("| training policies | Kendall τ | Spearman ρ | MAPE | MAE (ppl) |")
                print("|---:|---:|---:|---:|---:|")
                for point in stored.artifact.learningCurve {
                    let m = point.metrics
                    print(String(format: "| %d | %.3f | %.3f | %.2f %% | %.3f |", point.sampleCount, m.kendallTau,
                                 m.spearmanRho, 100 * m.perplexityMAPE, m.perplexityMAE))
                }
            }
            print("\nwrote \(scatterURL.path) and \(curveURL.path)")
        }

        /// The agent's dynamic answers against their spot-checks in this version's regime, as predicted when published.
        static func printSpotChecks(of stored: LoadedPredictor, on connection: PGConnection) async throws {
            let regime = stored.regime.measured
            let checks = try await RatioEventHistoryRepository.spotChecks(
                modelId: stored.record.modelId, metric: regime.metric, split: regime.split, tokenBudget: regime.tokenBudget,
                window: regime.window, on: connection)
            guard checks.count >= 3 else {
                print("the agent's spot-checks: \(checks.count) measured in this regime, too few to score")
                return
            }
            let metrics = try RankingMetrics(predictedLogPerplexity: checks.map { log($0.predictedPerplexity) },
                                             measuredLogPerplexity: checks.map { log($0.measuredPerplexity) })
            let optimistic = checks.filter { $0.measuredPerplexity > $0.predictedPerplexity }.count
            print(String(format: "the agent's spot-checked policies, as predicted when published (every predictor version): n = %d, MAPE %.1f %%, Kendall τ %.3f; %d of %d measured worse than predicted",
                         metrics.count, 100 * metrics.perplexityMAPE, metrics.kendallTau, optimistic, checks.count))
        }

        static func row(_ name: String, _ m: RankingMetrics) -> String {
            String(format: "| %@ | %d | %.3f | %.3f | %.3f | %.2f %% | %.4f | %.3f |", name, m.count, m.kendallTau,
                   m.spearmanRho, m.perplexityMAE, 100 * m.perplexityMAPE, m.logPerplexityRMSE, m.rSquared)
        }

        /// Predicted against measured perplexity, log axes, with y = x.
        static func scatter(predictor: PerformancePredictor, training: [TrainingSample],
                            heldOut: [TrainingSample]) throws -> ScatterChart {
            func points(_ samples: [TrainingSample]) throws -> [(x: Double, y: Double)] {
                let predictions = try predictor.predict(samples.map(\.features))
                return zip(samples, predictions).map { (x: $0.perplexity, y: $1.perplexity) }
            }
            return ScatterChart(
                title: "Predicted against measured perplexity", xLabel: "measured perplexity (log)",
                yLabel: "predicted perplexity (log)", xScale: .log10, yScale: .log10,
                series: [Series(name: "training", points: try points(training), color: RGB(170, 170, 170)),
                         Series(name: "held out", points: try points(heldOut))],
                diagonal: true)
        }

        /// Held-out MAPE and Kendall τ against the number of training policies.
        static func learningCurve(_ points: [LearningCurvePoint]) -> LineChart {
            LineChart(title: "Learning curve (held-out policies)", xLabel: "training policies",
                      yLabel: "percent", series: [
                          Series(name: "MAPE of perplexity (%)",
                                 points: points.map { (x: Double($0.sampleCount), y: 100 * $0.metrics.perplexityMAPE) }),
                          Series(name: "100 x (1 - Kendall tau)",
                                 points: points.map { (x: Double($0.sampleCount), y: 100 * (1 - $0.metrics.kendallTau)) }),
                      ])
        }
    }

    struct MetricsJSON: Encodable {
        let count: Int
        let kendallTau, spearman, mae, mape, rmseLog, rSquared: Double
        init(_ m: RankingMetrics) {
            (count, kendallTau, spearman) = (m.count, m.kendallTau, m.spearmanRho)
            (mae, mape, rmseLog, rSquared) = (m.perplexityMAE, m.perplexityMAPE, m.logPerplexityRMSE, m.rSquared)
        }
    }

    struct CurveJSON: Encodable {
        let samples: Int
        let metrics: MetricsJSON
    }

    struct ReportJSON: Encodable {
        let versionId, modelId: String
        let createdAt: Date
        let regime: String
        let sampleCount, trainingCount, heldOutCount: Int
        let heldOut, training: MetricsJSON?
        let learningCurve: [CurveJSON]
        let ensembleMembers: Int
        let trainingSeconds: Double
        let plots: [String]
    }
}

// MARK: - ppf predict

/// `ppf predict`: the predicted perplexity of one policy, with its uncertainty.
struct Predict: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict a policy's perplexity with the newest predictor version (milliseconds, no evaluation).",
        discussion: """
            --policy file:<policy.json> reads a policy file (as written by `ppf prune --save-policy`); \
            a baseline name (uniform, llm-pruner, owl, flap, shortgpt) with --ratio builds that \
            baseline's policy on the model. The uncertainty is the ensemble's spread: the interval \
            is exp(mean ± std) of the members' log-perplexities.
            """)

    @Option(help: "file:<policy.json> or a baseline name.")
    var policy: String

    @Option(help: "Target ratio (for a baseline).")
    var ratio: Double?

    @Option(help: "Importance metric for baselines that need calibration statistics.")
    var metric: MetricKind = .flap

    @Option(help: "The model id.")
    var modelId: String = CommandLineSettings.current.modelId

    @OptionGroup var model: ModelOptions

    func run() async throws {
        let source = try PolicySource(parsing: policy)
        let connection = try await StoredAgents.connect()
        let stored = try await StoredAgents.predictor(modelId: modelId, versionId: nil, on: connection)
        let predictor = stored.predictor
        let chosen: PruningPolicy
        switch source {
        case .file(let url):
            chosen = try PolicyFile.read(from: url).policy(forBlockCount: predictor.spec.layerCount)
        case .baseline:
            guard let ratio else { throw ValidationError("a baseline policy needs --ratio") }
            let checkpoint = try model.load()
            let session = try PruningSession.prepare(
                checkpoint: checkpoint,
                corpus: Corpus(directory: URL(fileURLWithPath: CommandLineSettings.current.corpusDirectory)),
                metric: metric,
                cache: CalibrationCache(directory: URL(fileURLWithPath: CommandLineSettings.current.calibrationCacheDirectory)),
                calibrate: source.needsCalibration)
            chosen = try session.policy(source, targetRatio: ratio)
        }
        let started = ContinuousClock.now
        let features = try predictor.features(for: chosen)
        let prediction = try predictor.predict(features)
        let elapsed = ContinuousClock.now - started
        print(String(format: "predicted perplexity %.3f  (exp(μ ± σ): %.3f … %.3f; σ of log-ppl %.4f)",
                     prediction.perplexity, exp(prediction.logPerplexity - prediction.logPerplexityStd),
                     exp(prediction.logPerplexity + prediction.logPerplexityStd), prediction.logPerplexityStd))
        print("predictor \(stored.record.id.uuidString.lowercased()) (\(stored.record.sampleCount) policies); "
              + "prediction took \(elapsed.formatted(.units(allowed: [.microseconds, .milliseconds])))")
    }
}
