import ArgumentParser
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPredictor
import PPFPruning
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - ppf agent

/// `ppf agent …`: train and query the RL agent against stored predictor versions.
struct Agent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the agent against the newest predictor version, or ask it for a policy.",
        subcommands: [Train.self, Policy.self, AgentRefine.self, AgentAnchorCommand.self])

    // MARK: - ppf agent train

    /// `ppf agent train`: trains an agent version and stores it (with its event, through the outbox).
    struct Train: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train an agent against the model's newest predictor version and store it as an agent version.",
            discussion: """
                The reward is −predicted log-perplexity − κ·ensemble std (docs/agent.md). Shapes come from \
                --checkpoint, else the configured model file (--model-dir/--model-file) when --model is the \
                configured model (--model-id), else the model's newest stored agent version. Block drops follow \
                the predictor: allowed only when its training policies dropped blocks (--block-drops to force). \
                Training is deterministic, so a configuration already stored for that predictor is not trained again.
                """)

        @Option(help: "The model id whose predictor to train against (default: the configured --model-id).")
        var model: String?

        @Option(help: "Target ratios the agent answers, low..high.")
        var ratios: String = "0.05..0.6"

        @Option(help: "Training seed.")
        var seed: UInt64 = 1

        @Option(help: "Gradient steps.")
        var iterations: Int = 300

        @Option(help: "κ, the uncertainty penalty of the reward: calibrated (on the predictor's held-out policies; 1 when it has no calibration) or a number ≥ 0.")
        var uncertaintyPenalty: String = "calibrated"

        /// The number given, or nil for the predictor's calibration.
        private var fixedPenalty: Double? { Double(uncertaintyPenalty) }

        @Option(help: "A GGUF whose shapes give the parameter budget.", completion: .file(extensions: ["gguf"]))
        var checkpoint: String?

        @Option(help: "auto (as the predictor's data), on or off.")
        var blockDrops: BlockDrops = .auto

        enum BlockDrops: String, ExpressibleByArgument { case auto, on, off }

        func validate() throws {
            guard Settings.ratioRange(ratios) != nil else {
                throw ValidationError("--ratios must be low..high with 0 ≤ low < high < 1, got \(ratios)")
            }
            guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
            guard uncertaintyPenalty.lowercased() == "calibrated" || fixedPenalty.map({ $0.isFinite && $0 >= 0 }) == true else {
                throw ValidationError("--uncertainty-penalty must be calibrated or a number ≥ 0, got \(uncertaintyPenalty)")
            }
        }

        func run() async throws {
            let settings = CommandLineSettings.current
            let modelId = model ?? settings.modelId
            let context = try await ServiceContext.start(serviceName: "ppf", settings: settings)
            let predictor = try await context.pool.withConnection {
                try await StoredAgents.newestPredictor(modelId: modelId, on: $0)
            }
            let layers = try await budgetLayers(modelId: modelId, context: context)
            let drops = blockDrops == .on || (blockDrops == .auto && predictor.regime.includesBlockDrops)
            let budget: ParameterBudget
            do {
                budget = try ParameterBudget(layers: layers, allowsBlockDrop: drops)
            } catch {
                throw UserFacingError("block drops cannot be planned on '\(modelId)': \(error.message); use --block-drops off")
            }
            var configuration = TrainingConfiguration()
            let range = Settings.ratioRange(ratios) ?? 0.05...0.6
            configuration.minimumRatio = range.lowerBound
            configuration.maximumRatio = range.upperBound
            configuration.seed = seed
            configuration.iterations = iterations
            configuration.uncertaintyPenalty = predictor.uncertaintyPenalty(override: fixedPenalty)
            let predictorId = predictor.record.id.uuidString.lowercased()
            // Written at once, ahead of the training progress on stderr (print() buffers when piped).
            FileHandle.standardOutput.write(Data("model '\(modelId)': predictor \(predictorId) (\(predictor.record.sampleCount) measured policies, metric \(predictor.regime.metric)); \(budget.blockCount) blocks, block drops \(budget.allowsBlockDrop ? "on" : "off"); κ \(String(format: "%.2f", configuration.uncertaintyPenalty))\(fixedPenalty == nil ? " (" + (predictor.artifact.uncertaintyCalibration?.summary ?? "default: the predictor has no calibration") + ")" : "")\n".utf8))

            let steps = iterations
            let obtained = try await AgentVersions.obtain(
                modelId: modelId, predictor: predictor, budget: budget, configuration: configuration, correlationId: nil,
                producer: context.producerName, pool: context.pool, queue: BlockingQueue(label: "ppf.agent.train"),
                progress: { record in
                    let step = record.iteration + 1
                    if step % 25 == 0 || step == steps || step == 1 {
                        let line = String(format: "step %4d/%d  mean reward %.4f  best %.4f  predicted ppl %.3f ± %.4f (log std)  exploration σ %.3f\n",
                                          step, steps, record.meanReward, record.bestReward,
                                          exp(record.meanPredictedLogPerplexity), record.meanUncertainty, record.explorationStd)
                        FileHandle.standardError.write(Data(line.utf8))
                    }
                })
            _ = try? await context.makeOutboxRelay().publishPending()
            await context.shutdown()
            let agent = obtained.agent
            switch obtained.origin {
            case .stored:
                print("this training is stored already as agent version \(agent.versionId.uuidString.lowercased()) (\(agent.record.createdAt)); nothing to do")
                Self.printSummary(agent.record.summary)
                return
            case .trained:
                print("agent version \(agent.versionId.uuidString.lowercased())")
            case .storedMeanwhile:
                print("agent version \(agent.versionId.uuidString.lowercased()) (stored meanwhile by another trainer)")
            }
            Self.printSummary(agent.record.summary)
            try Self.printRatioTable(agent: agent.agent, reward: agent.reward)
        }

        /// The prunable layers of `modelId`: from `--checkpoint`, the configured model's file, or its newest agent.
        private func budgetLayers(modelId: String, context: ServiceContext) async throws -> [LayerBudget] {
            let settings = CommandLineSettings.current
            let file: URL? = checkpoint.map { URL(fileURLWithPath: $0) }
                ?? (modelId == settings.modelId
                    ? URL(fileURLWithPath: settings.modelDirectory).appendingPathComponent(settings.modelFile) : nil)
            var configuration: LlamaConfiguration?
            if let file {
                guard FileManager.default.fileExists(atPath: file.path) else {
                    throw UserFacingError("no checkpoint at \(file.path); run `make setup` or pass --checkpoint <file.gguf>")
                }
                let gguf = try GGUFFile.open(file)
                configuration = try LlamaConfiguration(metadata: gguf.metadata, tensors: gguf.tensors)
            }
            guard let layers = try await AgentVersions.layers(modelId: modelId, checkpoint: configuration, pool: context.pool,
                                                              queue: BlockingQueue(label: "ppf.agent.shapes")) else {
                throw UserFacingError("the shapes of '\(modelId)' are unknown: pass --checkpoint <file.gguf>")
            }
            return layers
        }

        static func printSummary(_ summary: AgentTrainingSummary) {
            print(String(format: "  ratios %.2f…%.2f, seed %llu, κ %.2f, %d steps, %d predictor calls (%d policies), %.1f s",
                         summary.minimumRatio, summary.maximumRatio, summary.seed, summary.uncertaintyPenalty,
                         summary.iterations, summary.rewardCalls, summary.policiesScored, summary.trainingSeconds))
            print(String(format: "  last step: mean reward %.4f, predicted ppl %.3f, mean log std %.4f",
                         summary.finalMeanReward, exp(summary.finalMeanPredictedLogPerplexity), summary.finalMeanUncertainty))
        }

        /// Predicted perplexity of the agent's policy against the uniform one, across its range.
        static func printRatioTable(agent: PruningAgent, reward: PredictorReward) throws {
            let range = agent.ratioRange
            let ratios = (0...5).map { range.lowerBound + (range.upperBound - range.lowerBound) * Double($0) / 5 }
            print("\n| r | agent: predicted ppl (log std) | uniform: predicted ppl (log std) |")
            print("|---:|---:|---:|")
            let zero = [Double](repeating: 0, count: agent.budget.actionCount)
            for ratio in ratios {
                let mine = try reward.prediction(for: agent.policy(forRatio: ratio))
                let uniform = try reward.prediction(for: agent.projection.project(action: zero, targetRatio: ratio))
                print(String(format: "| %.3f | %.3f (%.4f) | %.3f (%.4f) |", ratio, exp(mine.mean), mine.std,
                             exp(uniform.mean), uniform.std))
            }
        }
    }

    // MARK: - ppf agent policy

    /// `ppf agent policy --ratio r`: the newest agent's policy, block by block, with its prediction.
    struct Policy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the newest stored agent's policy for a ratio, block by block, with predicted perplexity ± std.",
            discussion: "--save-policy writes it in the format `ppf prune --policy file:<path>` reads.")

        @Option(help: "Target ratio, inside the agent's trained range.")
        var ratio: Double

        @Option(help: "The model id (default: the configured --model-id).")
        var model: String?

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        @Option(help: "Also write the policy as an editable policy file.")
        var savePolicy: String?

        func validate() throws {
            guard ratio.isFinite, ratio >= 0, ratio < 1 else { throw ValidationError("--ratio must be in [0, 1), got \(ratio)") }
        }

        /// What `--json` prints.
        struct Output: Encodable {
            let modelId: String
            let agentVersionId: String
            let predictorVersionId: String
            let metric: String
            let targetRatio: Double
            let achievedRatio: Double
            let predictedPerplexity: Double
            let predictedLogPerplexity: Double
            let predictedLogPerplexityStd: Double
            let uniformPredictedPerplexity: Double
            let policyMilliseconds: Double
            let policy: PruningPolicy
        }

        func run() async throws {
            let modelId = model ?? CommandLineSettings.current.modelId
            let connection = try await StoredAgents.connect()
            let loaded = try await StoredAgents.newestAgent(modelId: modelId, on: connection)
            guard loaded.agent.ratioRange.contains(ratio) else {
                throw UserFacingError("r = \(ratio) is outside \(loaded.agent.ratioRange.lowerBound)...\(loaded.agent.ratioRange.upperBound), the range agent version \(loaded.record.id.uuidString.lowercased()) was trained for")
            }
            let target = ratio
            let answer = try await BlockingQueue(label: "ppf.agent.policy").run { () throws -> (PruningPolicy, Double, PPFAgent.Prediction, PPFAgent.Prediction, Double) in
                let start = DispatchTime.now().uptimeNanoseconds
                let policy = try loaded.agent.policy(forRatio: target)
                let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                let zero = [Double](repeating: 0, count: loaded.agent.budget.actionCount)
                let uniform = try loaded.agent.projection.project(action: zero, targetRatio: target)
                return (policy, try loaded.agent.budget.achievedRatio(policy), try loaded.reward.prediction(for: policy),
                        try loaded.reward.prediction(for: uniform), milliseconds)
            }
            let (policy, achieved, prediction, uniform, milliseconds) = answer
            if let savePolicy {
                try PolicyFile(policy: policy, source: "agent \(loaded.record.id.uuidString.lowercased())", targetRatio: ratio)
                    .write(to: URL(fileURLWithPath: savePolicy))
            }
            if json {
                let output = Output(
                    modelId: modelId, agentVersionId: loaded.record.id.uuidString.lowercased(),
                    predictorVersionId: loaded.predictorVersionId.uuidString.lowercased(), metric: loaded.regime.metric,
                    targetRatio: ratio, achievedRatio: achieved, predictedPerplexity: exp(prediction.mean),
                    predictedLogPerplexity: prediction.mean, predictedLogPerplexityStd: prediction.std,
                    uniformPredictedPerplexity: exp(uniform.mean), policyMilliseconds: milliseconds, policy: policy)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
                return
            }
            print("agent \(loaded.record.id.uuidString.lowercased()) of '\(modelId)' (predictor \(loaded.predictorVersionId.uuidString.lowercased()), ratios \(loaded.agent.ratioRange.lowerBound)…\(loaded.agent.ratioRange.upperBound), metric \(loaded.regime.metric))")
            print(Self.table(policy, budget: loaded.agent.budget))
            let perplexity = exp(prediction.mean)
            print(String(format: "target ratio %.4f, achieved %.4f", ratio, achieved))
            print(String(format: "predicted perplexity %.3f ± %.3f (log-ppl %.4f ± %.4f, the ensemble's std)",
                         perplexity, perplexity * prediction.std, prediction.mean, prediction.std))
            print(String(format: "uniform policy at this ratio: predicted perplexity %.3f (log std %.4f)", exp(uniform.mean), uniform.std))
            print(String(format: "the agent answered in %.3f ms", milliseconds))
            if let savePolicy { print("policy written to \(savePolicy)") }
        }

        /// One row per block: attention and MLP removed, MLP channels removed, dropped, share of the block removed.
        static func table(_ policy: PruningPolicy, budget: ParameterBudget) -> String {
            var lines = ["| block | attention removed | MLP removed | MLP channels removed | dropped | block removed |",
                         "|---:|---:|---:|---:|:---:|---:|"]
            for (index, (layer, block)) in zip(policy.layers, budget.layers).enumerated() {
                let removed = layer.dropped ? 1
                    : (layer.attentionRatio * Double(block.attentionParameters) + layer.mlpRatio * Double(block.mlpParameters))
                        / Double(block.blockParameters)
                let channels = Int((layer.mlpRatio * Double(block.mlpChannels)).rounded())
                lines.append(String(format: "| %d | %.3f | %.3f | %d / %d | %@ | %.3f |", index, layer.attentionRatio,
                                    layer.mlpRatio, channels, block.mlpChannels, layer.dropped ? "yes" : "", removed))
            }
            return lines.joined(separator: "\n")
        }
    }
}
