import Foundation
import PPFAgent
import PPFContracts
import Testing

// MARK: - Artifact round trip

private func trainedArtifact() throws -> AgentArtifact {
    let budget = try Budgets.smolLM2(allowsBlockDrop: true)
    let objective = try SeparableQuadraticObjective.random(budget: budget, seed: 4)
    var configuration = TrainingConfiguration()
    configuration.iterations = 5
    configuration.seed = 77
    let (agent, report) = try PruningAgent.train(budget: budget, configuration: configuration, reward: objective.rewardModel)
    return AgentArtifact(agent: agent, report: report, predictorVersion: "predictor-v3")
}

@Test func artifactJSONRoundTripIsExactAndRestoresTheSameAgent() throws {
    let artifact = try trainedArtifact()
    let data = try artifact.jsonData()
    let decoded = try AgentArtifact.decode(jsonData: data)
    #expect(decoded == artifact)
    #expect(try decoded.jsonData() == data)
    #expect(decoded.predictorVersion == "predictor-v3")
    #expect(decoded.seed == 77)
    #expect(decoded.ratioRange == 0.05...0.6)
    #expect(decoded.report.curve.count == 5)
    let original = try artifact.makeAgent()
    let restored = try decoded.makeAgent()
    for ratio in [0.05, 0.31, 0.6] {
        // Exact: bit-identical weights through the same one-ratio forward pass (same gemm shapes).
        #expect(try restored.policy(forRatio: ratio) == original.policy(forRatio: ratio))
    }
}

@Test func corruptOrUnknownArtifactsThrowInvalidArtifact() throws {
    let data = try trainedArtifact().jsonData()
    let text = try #require(String(data: data, encoding: .utf8))
    let cases = [
        Data("{not json".utf8),
        Data(text.replacingOccurrences(of: "\"schemaVersion\":1", with: "\"schemaVersion\":99").utf8),
        Data(text.replacingOccurrences(of: "\"allowsBlockDrop\":true", with: "\"allowsBlockDrop\":false").utf8),
    ]
    for corrupt in cases {
        let error = #expect(throws: AgentError.self) { try AgentArtifact.decode(jsonData: corrupt) }
        #expect(error?.code == .invalidArtifact)
    }
}
