import Foundation
import PPFContracts
import PPFTensor

// MARK: - AgentBenchmark

/// Measures the agent on 30-block budgets with a synthetic predictor whose
/// optimum is known (``SeparableQuadraticObjective``): training wall time and
/// reward calls, the gap to the KKT optimum at ratios inside and between
/// training draws, inference latency, and what static search adds.
///
/// A program, not a test (style habit 15): the `ppf` tool or the gated
/// runner in PPFAgentTests prints ``table(_:)``; docs/agent.md records the numbers.
public enum AgentBenchmark {
    /// One scenario's measurements.
    public struct Row: Codable, Sendable, Hashable {
        /// Scenario name.
        public var scenario: String
        /// Length of the action vector.
        public var actionCount: Int
        /// Training wall time in seconds.
        public var trainingSeconds: Double
        /// Reward calls and policies scored during training.
        public var rewardCalls: Int
        /// Policies scored during training.
        public var policiesScored: Int
        /// Mean relative excess loss of the agent's policy over the
        /// discrete-level Lagrangian lower bound (an upper bound on the true gap).
        public var meanGap: Double
        /// The largest gap over the probe ratios.
        public var maxGap: Double
        /// The probe ratio with the largest gap.
        public var worstRatio: Double
        /// The same for the zero action (near-uniform policy), for scale.
        public var uniformMeanGap: Double
        /// Median and 99th-percentile latency of `policy(forRatio:)`, milliseconds.
        public var latencyMedianMilliseconds: Double
        /// 99th-percentile latency, milliseconds.
        public var latencyP99Milliseconds: Double
        /// Gap after a default static search at ratio 0.4, and its wall time.
        public var searchedGapAt040: Double
        /// The agent's own gap at ratio 0.4.
        public var agentGapAt040: Double
        /// Static search wall time in seconds.
        public var searchSeconds: Double
    }

    /// The probe ratios: range ends plus values no stratified grid hits exactly.
    public static let probeRatios = [0.05, 0.1, 0.1732, 0.25, 0.3141, 0.4, 0.4721, 0.55, 0.6]

    /// Runs every scenario with `configuration` (defaults: the training defaults).
    public static func run(configuration: TrainingConfiguration = TrainingConfiguration()) throws -> [Row] {
        let smol = try ParameterBudget.groupedQueryAttention(
            blocks: 30, hiddenSize: 576, queryHeads: 9, kvHeads: 3, headDimension: 64,
            ffnChannels: 1536, allowsBlockDrop: false)
        // SmolLM2 shapes with attention levels every 1/120 (near-continuous),
        // where the KKT optimum is a tight bound rather than a loose one.
        let layer = smol.layers[0]
        let fine = try ParameterBudget(layers: Array(repeating: LayerBudget(
            attentionParameters: layer.attentionParameters, mlpParameters: layer.mlpParameters,
            attentionLevels: (0...100).map { Double($0) / 120 }, mlpChannels: layer.mlpChannels,
            maxRemovedMLPChannels: layer.maxRemovedMLPChannels), count: 30), allowsBlockDrop: false)
        let drops = try ParameterBudget(layers: smol.layers, allowsBlockDrop: true)
        return try [
            measure("SmolLM2-135M shapes, GQA levels", budget: smol, configuration: configuration),
            measure("SmolLM2-135M shapes, levels every 1/120", budget: fine, configuration: configuration),
            measure("SmolLM2-135M shapes, GQA levels + block drops", budget: drops, configuration: configuration),
        ]
    }

    /// One scenario.
    static func measure(_ name: String, budget: ParameterBudget, configuration: TrainingConfiguration) throws -> Row {
        let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 2024)
        let (agent, report) = try PruningAgent.train(budget: budget, configuration: configuration,
                                                     reward: objective.rewardModel)
        // Against the discrete-level dual bound (≥ the continuous KKT optimum);
        // with block drops the no-drop bound is only a reference point.
        func gap(_ policy: PruningPolicy) throws -> Double {
            objective.loss(policy) / (try objective.discreteLowerBound(ratio: try budget.achievedRatio(policy))) - 1
        }
        var gaps: [Double] = [], uniformGaps: [Double] = []
        let zero = [Double](repeating: 0, count: budget.actionCount)
        for ratio in probeRatios {
            gaps.append(try gap(agent.policy(forRatio: ratio)))
            uniformGaps.append(try gap(agent.projection.project(action: zero, targetRatio: ratio)))
        }

        // Latency of the deterministic policy over 1000 random in-range ratios.
        var generator = SeededGenerator(seed: 7)
        var latencies: [Double] = []
        for _ in 0..<1000 {
            let ratio = generator.nextUniform(in: agent.ratioRange)
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try agent.policy(forRatio: ratio)
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }

        let search = try agent.search(ratio: 0.4, reward: objective.rewardModel)
        let searched = try gap(search.candidates.first?.policy ?? agent.policy(forRatio: 0.4))
        return Row(scenario: name, actionCount: budget.actionCount, trainingSeconds: report.wallSeconds,
                   rewardCalls: report.rewardCalls, policiesScored: report.policiesScored,
                   meanGap: gaps.reduce(0, +) / Double(gaps.count), maxGap: gaps.max() ?? 0,
                   worstRatio: zip(probeRatios, gaps).max { $0.1 < $1.1 }?.0 ?? 0,
                   uniformMeanGap: uniformGaps.reduce(0, +) / Double(uniformGaps.count),
                   latencyMedianMilliseconds: Statistics.median(latencies),
                   latencyP99Milliseconds: Statistics.quantile(latencies, 0.99),
                   searchedGapAt040: searched, agentGapAt040: try gap(agent.policy(forRatio: 0.4)),
                   searchSeconds: search.wallSeconds)
    }

    /// A Markdown table of `rows`.
    public static func table(_ rows: [Row]) -> String {
        func percent(_ value: Double) -> String { String(format: "%.2f%%", 100 * value) }
        var lines = [
            "| scenario | actions | train s | reward calls (policies) | gap mean / max (at r) | uniform gap | policy latency median / p99 | gap @0.4 agent → searched (search s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows {
            lines.append("| \(row.scenario) | \(row.actionCount) | \(String(format: "%.1f", row.trainingSeconds)) | "
                + "\(row.rewardCalls) (\(row.policiesScored)) | \(percent(row.meanGap)) / \(percent(row.maxGap)) (\(row.worstRatio)) | "
                + "\(percent(row.uniformMeanGap)) | \(String(format: "%.3f / %.3f ms", row.latencyMedianMilliseconds, row.latencyP99Milliseconds)) | "
                + "\(percent(row.agentGapAt040)) → \(percent(row.searchedGapAt040)) (\(String(format: "%.1f", row.searchSeconds))) |")
        }
        return lines.joined(separator: "\n")
    }
}
