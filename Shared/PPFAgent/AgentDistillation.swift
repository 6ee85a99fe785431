import Foundation
import PPFContracts
import PPFTensor

// MARK: - AgentAnchor

/// A policy measured best at one target ratio (the winner of a measured
/// search on validation tokens): what an anchored agent reproduces there.
public struct AgentAnchor: Codable, Sendable, Equatable {
    /// The target ratio the policy was searched at.
    public let ratio: Double
    /// The winning policy.
    public let policy: PruningPolicy
    /// What the search ranked it by (KL divergence from the dense model or
    /// log-perplexity), at the search's highest fidelity; nil when not recorded.
    public let score: Double?
    /// Its measured perplexity at that fidelity; nil when not recorded.
    public let perplexity: Double?

    /// An anchor at `ratio`.
    public init(ratio: Double, policy: PruningPolicy, score: Double? = nil, perplexity: Double? = nil) {
        self.ratio = ratio
        self.policy = policy
        self.score = score
        self.perplexity = perplexity
    }
}

// MARK: - Distillation

/// How an agent is fitted to its anchors.
public struct DistillationConfiguration: Sendable, Equatable {
    /// Adam steps.
    public var steps = 1500
    /// Adam's learning rate.
    public var learningRate = 5e-3
    /// Spacing of the ratio grid the interpolated path is fitted on.
    public var gridSpacing = 0.005

    /// The defaults (chosen on the unit tests' fit error, not on measurements).
    public init() {}
}

extension PruningAgent {
    /// The agent whose mean action follows the measured `anchors`: at each
    /// anchor ratio the action that reproduces its policy
    /// (``PolicySampler/action(imitating:)``), between two anchors the linear
    /// interpolation of their actions, and outside the anchors the nearest
    /// one's. The projection turns those relative logits into a budget-exact
    /// policy at any ratio, so a dynamic answer between two anchors inherits
    /// what was measured at both. The network (its widths, ratio encoding and
    /// log-std) keeps its shape; its weights are fitted by least squares on
    /// a grid over the training range, starting from the current ones.
    ///
    /// - Throws: ``AgentError/Code/invalidConfiguration`` for no anchor, an
    ///   anchor outside the agent's range, two at one ratio, or bad settings;
    ///   ``AgentError/Code/policyShapeMismatch`` for a policy of other shapes.
    public func distilled(toward anchors: [AgentAnchor],
                          configuration settings: DistillationConfiguration = DistillationConfiguration())
        throws(AgentError) -> (agent: PruningAgent, rootMeanSquareError: Double) {
        guard !anchors.isEmpty else { throw AgentError(.invalidConfiguration, "distillation needs at least one anchor") }
        guard settings.steps > 0, settings.learningRate > 0, settings.learningRate.isFinite,
              settings.gridSpacing > 0, settings.gridSpacing.isFinite else {
            throw AgentError(.invalidConfiguration, "distillation needs positive steps, learning rate and grid spacing")
        }
        let sorted = anchors.sorted { $0.ratio < $1.ratio }
        for anchor in sorted where !(anchor.ratio.isFinite && ratioRange.contains(anchor.ratio)) {
            throw AgentError(.invalidConfiguration, "anchor ratio \(anchor.ratio) is outside the agent's range \(ratioRange)")
        }
        for (left, right) in zip(sorted, sorted.dropFirst()) where right.ratio - left.ratio < 1e-9 {
            throw AgentError(.invalidConfiguration, "two anchors at ratio \(left.ratio)")
        }
        let sampler = try PolicySampler(projection: projection)
        let actions = try sorted.map { anchor throws(AgentError) in try sampler.action(imitating: anchor.policy) }
        let grid = Self.distillationGrid(range: ratioRange, spacing: settings.gridSpacing, anchors: sorted.map(\.ratio))
        let targets = grid.map { ratio in Self.interpolate(ratio, ratios: sorted.map(\.ratio), actions: actions) }

        var network = self.network
        let actionCount = network.actionCount
        var optimizer = AdamOptimizer(parameterCount: network.parameters.count)
        var meanSquare = Double.infinity
        for step in 0..<settings.steps {
            let activations = network.forward(ratios: grid)
            var gradient = Matrix(rows: grid.count, cols: actionCount)
            var total = 0.0
            let scale = 2 / Float(grid.count * actionCount)
            for row in grid.indices {
                for column in 0..<actionCount {
                    let error = activations.output[row, column] - Float(targets[row][column])
                    total += Double(error * error)
                    gradient[row, column] = scale * error
                }
            }
            meanSquare = total / Double(grid.count * actionCount)
            var parameterGradient = network.backward(activations, outputGradient: gradient)
            // The log-std is not fitted: it only matters to further RL training.
            for index in network.logStdOffset..<parameterGradient.count { parameterGradient[index] = 0 }
            // Cosine decay to a tenth: the fit settles instead of oscillating.
            let progress = Double(step) / Double(max(1, settings.steps - 1))
            let rate = settings.learningRate * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * progress)))
            optimizer.update(&network.parameters, gradient: parameterGradient, learningRate: rate)
        }
        guard meanSquare.isFinite, network.parameters.allSatisfy(\.isFinite) else {
            throw AgentError(.invalidConfiguration, "distillation diverged (learning rate \(settings.learningRate) too high?)")
        }
        let agent = try PruningAgent(network: network, budget: budget, configuration: configuration)
        return (agent, meanSquare.squareRoot())
    }

    /// The ratios fitted: a regular grid over `range` plus every anchor (weighted by repetition).
    static func distillationGrid(range: ClosedRange<Double>, spacing: Double, anchors: [Double]) -> [Double] {
        let count = max(2, Int(((range.upperBound - range.lowerBound) / spacing).rounded()) + 1)
        let regular = (0..<count).map { range.lowerBound + (range.upperBound - range.lowerBound) * Double($0) / Double(count - 1) }
        // Each anchor counts as much as a tenth of the grid, so the fit is tightest where it was measured.
        let weight = max(1, count / 10)
        return regular + anchors.flatMap { repeatElement($0, count: weight) }
    }

    /// The piecewise-linear path through the anchors' actions at `ratio` (constant beyond the ends).
    static func interpolate(_ ratio: Double, ratios: [Double], actions: [[Double]]) -> [Double] {
        guard let first = ratios.first, let last = ratios.last else { return [] }
        if ratio <= first { return actions[0] }
        if ratio >= last { return actions[actions.count - 1] }
        let upper = ratios.firstIndex { $0 >= ratio }!
        let lower = upper - 1
        let t = (ratio - ratios[lower]) / (ratios[upper] - ratios[lower])
        return zip(actions[lower], actions[upper]).map { $0 + t * ($1 - $0) }
    }
}
