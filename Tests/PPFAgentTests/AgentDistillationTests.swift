import Foundation
import PPFContracts
import PPFTensor
import Testing
@testable import PPFAgent

/// Distilling an agent toward measured anchors: it reproduces each anchor's
/// policy there, follows the interpolated path between them, and keeps the
/// budget exact everywhere.
@Suite struct AgentDistillationTests {
    static func agent() throws -> PruningAgent {
        try PruningAgent.untrained(budget: Budgets.smolLM2(), configuration: TrainingConfiguration())
    }

    /// A policy at `ratio` with a random per-block preference (what a search might have found).
    static func anchorPolicy(_ agent: PruningAgent, ratio: Double, seed: UInt64) throws -> PruningPolicy {
        var generator = SeededGenerator(seed: seed)
        let action = (0..<agent.budget.actionCount).map { _ in 1.5 * generator.nextGaussian() }
        return try agent.projection.project(action: action, targetRatio: ratio)
    }

    /// Per-block largest |MLP ratio difference| and how many blocks' attention levels differ.
    static func difference(_ left: PruningPolicy, _ right: PruningPolicy) -> (mlp: Double, attentionBlocks: Int) {
        let pairs = zip(left.layers, right.layers)
        return (pairs.map { abs($0.mlpRatio - $1.mlpRatio) }.max() ?? 0,
                pairs.filter { abs($0.attentionRatio - $1.attentionRatio) > 1e-9 }.count)
    }

    @Test func theDistilledAgentReproducesEachAnchorAndFollowsThePathBetweenThem() throws {
        let agent = try Self.agent()
        let anchors = try [(0.15, 11), (0.3, 12), (0.45, 13)].map { ratio, seed in
            AgentAnchor(ratio: ratio, policy: try Self.anchorPolicy(agent, ratio: ratio, seed: UInt64(seed)))
        }
        let (distilled, error) = try agent.distilled(toward: anchors)
        #expect(error < 0.15)
        for anchor in anchors {
            let policy = try distilled.policy(forRatio: anchor.ratio)
            let (mlp, attention) = Self.difference(policy, anchor.policy)
            #expect(mlp < 0.04, "r \(anchor.ratio): MLP ratios differ by up to \(mlp)")
            #expect(attention <= 2, "r \(anchor.ratio): \(attention) blocks' attention differs")
            #expect(abs(try distilled.budget.achievedRatio(policy) - anchor.ratio) <= distilled.projection.tolerance)
        }
        // Halfway between two anchors: the projection of the interpolated actions.
        let sampler = try PolicySampler(projection: agent.projection)
        let low = try sampler.action(imitating: anchors[0].policy), high = try sampler.action(imitating: anchors[1].policy)
        let middle = try agent.projection.project(action: zip(low, high).map { ($0 + $1) / 2 }, targetRatio: 0.225)
        let answered = try distilled.policy(forRatio: 0.225)
        #expect(Self.difference(answered, middle).mlp < 0.05)
        // Unlike the untrained agent, which answers near-uniform there.
        #expect(Self.difference(try agent.policy(forRatio: 0.225), middle).mlp > 0.1)
        // Beyond the last anchor the path holds its action, and the budget stays exact.
        let beyond = try distilled.policy(forRatio: 0.58)
        #expect(abs(try distilled.budget.achievedRatio(beyond) - 0.58) <= distilled.projection.tolerance)
    }

    @Test func anchorsThatCannotBeFittedAreNamedErrors() throws {
        let agent = try Self.agent()
        let policy = try Self.anchorPolicy(agent, ratio: 0.3, seed: 1)
        let cases: [[AgentAnchor]] = [
            [],
            [AgentAnchor(ratio: 0.9, policy: policy)],
            [AgentAnchor(ratio: 0.3, policy: policy), AgentAnchor(ratio: 0.3, policy: policy)],
        ]
        for anchors in cases {
            #expect { _ = try agent.distilled(toward: anchors) } throws: { error in
                (error as? AgentError)?.code == .invalidConfiguration
            }
        }
        let foreign = PruningPolicy.uniform(blocks: 4, attention: 0, mlp: 0.3)
        #expect { _ = try agent.distilled(toward: [AgentAnchor(ratio: 0.3, policy: foreign)]) } throws: { error in
            (error as? AgentError)?.code == .policyShapeMismatch
        }
    }

    @Test func anAnchoredArtifactRoundTripsAndIsKeyedByItsAnchors() throws {
        let agent = try Self.agent()
        let anchors = [AgentAnchor(ratio: 0.3, policy: try Self.anchorPolicy(agent, ratio: 0.3, seed: 4), score: 0.21,
                                   perplexity: 41.5)]
        let (distilled, error) = try agent.distilled(toward: anchors, configuration: {
            var settings = DistillationConfiguration()
            settings.steps = 200
            return settings
        }())
        let report = TrainingReport(curve: [], wallSeconds: 0, rewardCalls: 0, policiesScored: 0)
        let plain = AgentArtifact(agent: agent, report: report, predictorVersion: "p")
        let anchored = AgentArtifact(agent: distilled, report: report, predictorVersion: "p", anchors: anchors, fitError: error)
        let decoded = try AgentArtifact.decode(jsonData: anchored.jsonData())
        #expect(decoded == anchored)
        #expect(decoded.anchors == anchors)
        #expect(try AgentArtifact.decode(jsonData: plain.jsonData()).anchors == nil)
        #expect(anchored.configurationKey.hasPrefix(plain.configurationKey + AgentArtifact.anchoredKeyMarker))
        #expect(!plain.configurationKey.contains(AgentArtifact.anchoredKeyMarker))
        let other = [AgentAnchor(ratio: 0.31, policy: anchors[0].policy)]
        #expect(AgentArtifact.anchoredKey(base: "k", anchors: anchors) == AgentArtifact.anchoredKey(base: "k", anchors: anchors))
        #expect(AgentArtifact.anchoredKey(base: "k", anchors: anchors) != AgentArtifact.anchoredKey(base: "k", anchors: other))
    }
}
