import Foundation

// MARK: - AgentArtifact

/// Everything needed to restore and audit a trained agent: the network, the
/// budget it answers for, its hyper-parameters (seed and ratio range among
/// them), the predictor version it was trained against, and its training
/// curve. Stored by the agent service as one JSON document per agent version.
public struct AgentArtifact: Codable, Sendable, Equatable {
    /// The schema version this code writes and reads.
    public static let currentSchemaVersion = 1

    /// Schema version of this document.
    public var schemaVersion: Int
    /// The predictor version id the reward came from (given by the caller).
    public var predictorVersion: String
    /// Network weights and ratio encoding.
    public var network: AgentNetwork
    /// The model's parameter budget.
    public var budget: ParameterBudget
    /// Training hyper-parameters, including seed and ratio range.
    public var configuration: TrainingConfiguration
    /// The training report (reward curve, wall time, reward calls).
    public var report: TrainingReport
    /// The measured policies this agent was distilled toward
    /// (``PruningAgent/distilled(toward:configuration:)``); nil for an agent
    /// trained against its predictor only.
    public var anchors: [AgentAnchor]?
    /// The root-mean-square error of that fit, in action logits.
    public var anchorFitError: Double?

    /// Packs a trained agent.
    public init(agent: PruningAgent, report: TrainingReport, predictorVersion: String) {
        schemaVersion = Self.currentSchemaVersion
        self.predictorVersion = predictorVersion
        network = agent.network
        budget = agent.budget
        configuration = agent.configuration
        self.report = report
        anchors = nil
        anchorFitError = nil
    }

    /// Packs an agent distilled toward `anchors` (fit error `fitError`).
    public init(agent: PruningAgent, report: TrainingReport, predictorVersion: String, anchors: [AgentAnchor],
                fitError: Double) {
        self.init(agent: agent, report: report, predictorVersion: predictorVersion)
        self.anchors = anchors
        anchorFitError = fitError
    }

    /// The seed the agent was trained with.
    public var seed: UInt64 { configuration.seed }

    /// The ratio range the agent answers.
    public var ratioRange: ClosedRange<Double> { configuration.ratioRange }

    /// Restores the agent.
    ///
    /// - Throws: ``AgentError`` when the parts do not fit together.
    public func makeAgent() throws(AgentError) -> PruningAgent {
        try PruningAgent(network: network, budget: budget, configuration: configuration)
    }

    // MARK: - JSON

    /// The artifact as JSON with sorted keys (floats print shortest-exact, so
    /// decoding gives back identical weights).
    public func jsonData() throws(AgentError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            return try encoder.encode(self)
        } catch {
            throw AgentError(.invalidArtifact, "the artifact cannot be encoded (non-finite weights?): \(error)")
        }
    }

    /// Decodes an artifact and checks its schema version and shapes.
    ///
    /// - Throws: ``AgentError/Code/invalidArtifact`` for malformed JSON, an
    ///   unknown schema version, or parts that do not fit together.
    public static func decode(jsonData data: Data) throws(AgentError) -> AgentArtifact {
        let artifact: AgentArtifact
        do {
            artifact = try JSONDecoder().decode(AgentArtifact.self, from: data)
        } catch let error as AgentError {
            throw AgentError(.invalidArtifact, "the stored agent is inconsistent: \(error.message)")
        } catch {
            throw AgentError(.invalidArtifact, "the stored agent is not a valid agent artifact: \(error)")
        }
        guard artifact.schemaVersion == currentSchemaVersion else {
            throw AgentError(.invalidArtifact,
                             "agent artifact schema \(artifact.schemaVersion) is not supported (this build reads \(currentSchemaVersion))")
        }
        do {
            _ = try artifact.makeAgent()
        } catch {
            throw AgentError(.invalidArtifact, "the stored agent's parts do not fit together: \(error.message)")
        }
        return artifact
    }
}
