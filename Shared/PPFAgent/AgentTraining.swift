import Foundation
import PPFContracts
import PPFTensor

// MARK: - Training (one-shot Gaussian policy, REINFORCE with RLOO)

extension PruningAgent {
    /// Trains an agent against a reward model (the predictor).
    ///
    /// Each step is a batch of contextual-bandit episodes: draw
    /// ``TrainingConfiguration/ratiosPerIteration`` target ratios (stratified
    /// over the range), sample ``TrainingConfiguration/samplesPerRatio``
    /// actions per ratio — attention and MLP logits from `N(μ(r), σ²)`, each
    /// block's drop from `Bernoulli(σ(d_l(r)))` — project each onto the budget,
    /// score all policies in ONE reward call, and take a REINFORCE step with
    /// the leave-one-out (RLOO) baseline of its ratio group, normalised by the
    /// group's reward spread. See docs/agent.md for why.
    ///
    /// Training blocks the calling thread (it is pure computation plus the
    /// reward calls); services run it on a dedicated thread.
    ///
    /// - Parameter progress: told each step's statistics as it ends (on the training thread).
    /// - Returns: the trained agent and its report.
    /// - Throws: ``AgentError`` for invalid settings or reward answers; errors
    ///   thrown by `reward` pass through unchanged.
    public static func train(
        budget: ParameterBudget, configuration: TrainingConfiguration,
        progress onIteration: ((IterationRecord) -> Void)? = nil, reward: @escaping RewardModel
    ) throws -> (agent: PruningAgent, report: TrainingReport) {
        let start = DispatchTime.now().uptimeNanoseconds
        let initial = try PruningAgent.untrained(budget: budget, configuration: configuration)
        var network = initial.network
        let projection = initial.projection
        let config = configuration
        let actionCount = budget.actionCount
        // Attention and MLP logits are Gaussian; drop logits (if any) Bernoulli.
        let continuousCount = 2 * budget.blockCount
        let groups = config.ratiosPerIteration
        let samples = config.samplesPerRatio
        let episodes = groups * samples

        var random = SeededGenerator(seed: config.seed ^ 0x5EED_0F_A6E7)
        var optimizer = AdamOptimizer(parameterCount: network.parameters.count)
        var scorer = RewardScorer(model: reward)
        var curve: [IterationRecord] = []
        curve.reserveCapacity(config.iterations)

        for iteration in 0..<config.iterations {
            let progress = config.iterations > 1 ? Double(iteration) / Double(config.iterations - 1) : 1

            // Stratified ratios: one uniform draw in each of `groups` equal slices.
            let width = config.maximumRatio - config.minimumRatio
            let ratios = (0..<groups).map { group in
                config.minimumRatio + width * (Double(group) + random.nextUniform()) / Double(groups)
            }
            let activations = network.forward(ratios: ratios)
            let means = activations.output
            let logStd = network.logStd
            let std = logStd.map { exp($0) }

            // Sample, project, score in one batch.
            var noise = [Double](repeating: 0, count: episodes * actionCount)
            var policies: [PruningPolicy] = []
            var policyRatios: [Double] = []
            policies.reserveCapacity(episodes)
            for group in 0..<groups {
                for sample in 0..<samples {
                    let episode = group * samples + sample
                    var action = [Double](repeating: 0, count: actionCount)
                    for entry in 0..<continuousCount {
                        let epsilon = random.nextGaussian()
                        noise[episode * actionCount + entry] = epsilon
                        action[entry] = Double(means[group, entry]) + std[entry] * epsilon
                    }
                    // Drops: z ~ Bernoulli(σ(d)). The projection drops blocks with a
                    // positive entry; encoding p keeps its ordering by confidence.
                    for entry in continuousCount..<actionCount {
                        let probability = sigmoid(Double(means[group, entry]))
                        let drop = random.nextUniform() < probability
                        noise[episode * actionCount + entry] = drop ? 1 : 0
                        action[entry] = drop ? 1 + probability : probability - 2
                    }
                    policies.append(try projection.project(action: action, targetRatio: ratios[group]))
                    policyRatios.append(ratios[group])
                }
            }
            let predictions = try scorer.predict(policies, ratios: policyRatios)
            let rewards = predictions.map { $0.reward(uncertaintyPenalty: config.uncertaintyPenalty) }

            // RLOO advantages, normalised per ratio group.
            var advantages = [Double](repeating: 0, count: episodes)
            for group in 0..<groups {
                let slice = rewards[(group * samples)..<((group + 1) * samples)]
                let sum = slice.reduce(0, +)
                let mean = sum / Double(samples)
                let spread = (slice.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples)).squareRoot()
                guard spread > 1e-12 else { continue }
                for sample in 0..<samples {
                    let episode = group * samples + sample
                    let baseline = (sum - rewards[episode]) / Double(samples - 1)
                    advantages[episode] = (rewards[episode] - baseline) / spread
                }
            }

            // Loss = −(1/N) Σ A·log π(a). Gaussian entries: ∂/∂μ = −A·ε/σ / N and
            // ∂/∂logσ = −A·(ε² − 1) / N. Bernoulli drop entries: ∂/∂d = −A·(z − p) / N.
            var meanGradient = Matrix(rows: groups, cols: actionCount)
            var logStdGradient = [Double](repeating: 0, count: actionCount)
            for episode in 0..<episodes {
                let advantage = advantages[episode]
                guard advantage != 0 else { continue }
                let group = episode / samples
                for entry in 0..<continuousCount {
                    let epsilon = noise[episode * actionCount + entry]
                    meanGradient[group, entry] -= Float(advantage * epsilon / std[entry] / Double(episodes))
                    logStdGradient[entry] -= advantage * (epsilon * epsilon - 1) / Double(episodes)
                }
                for entry in continuousCount..<actionCount {
                    let score = noise[episode * actionCount + entry] - sigmoid(Double(means[group, entry]))
                    meanGradient[group, entry] -= Float(advantage * score / Double(episodes))
                }
            }
            var gradient = network.backward(activations, outputGradient: meanGradient)
            for entry in 0..<actionCount { gradient[network.logStdOffset + entry] = Float(logStdGradient[entry]) }
            optimizer.update(&network.parameters, gradient: gradient, learningRate: config.learningRate(progress: progress))

            // Keep the learned log-std inside the annealed band (projected gradient step).
            let nextProgress = config.iterations > 1 ? Double(iteration + 1) / Double(config.iterations - 1) : 1
            let band = config.logStdBounds(progress: min(1, nextProgress))
            for entry in 0..<actionCount {
                let index = network.logStdOffset + entry
                network.parameters[index] = min(max(network.parameters[index], Float(band.lowerBound)),
                                                Float(band.upperBound))
            }

            curve.append(IterationRecord(
                iteration: iteration,
                meanReward: rewards.reduce(0, +) / Double(episodes),
                bestReward: rewards.max() ?? 0,
                meanPredictedLogPerplexity: predictions.reduce(0) { $0 + $1.mean } / Double(episodes),
                meanUncertainty: predictions.reduce(0) { $0 + $1.std } / Double(episodes),
                explorationStd: std[0..<continuousCount].reduce(0, +) / Double(continuousCount)))
            if let onIteration, let record = curve.last { onIteration(record) }
        }

        let agent = try PruningAgent(network: network, budget: budget, configuration: configuration)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let report = TrainingReport(curve: curve, wallSeconds: seconds,
                                    rewardCalls: scorer.calls, policiesScored: scorer.policiesScored)
        return (agent, report)
    }
}
