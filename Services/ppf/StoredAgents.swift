import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore

// MARK: - Loaded versions

/// A stored predictor version, decoded, with the regime of its measurements.
struct LoadedPredictor: Sendable {
    /// Its row (id, model, sample count, held-out metrics).
    let record: PredictorVersionRecord
    /// The ensemble.
    let predictor: PerformancePredictor
    /// The metric, split, tokens and window its measurements were taken with.
    let regime: PredictorRegime
}

/// A stored agent version, restored, with the predictor it was trained against.
struct LoadedAgent: Sendable {
    /// Its row (id, summary).
    let record: AgentVersionRecord
    /// The trained agent.
    let agent: PruningAgent
    /// Its predictor, as the reward that scores its policies.
    let reward: PredictorReward
    /// The regime of that predictor's measurements (the metric policies are meant for).
    let regime: PredictorRegime
    /// The predictor version id.
    var predictorVersionId: UUID { record.predictorVersionId }
}

// MARK: - StoredAgents

/// Reads predictor and agent versions from PostgreSQL for the CLI.
enum StoredAgents {
    /// A connection to the configured database, or a clear error.
    static func connect() async throws -> PGConnection {
        let settings = CommandLineSettings.current
        do {
            return try await PGConnection.connect(try PostgresConfiguration(url: settings.postgresURL),
                                                  logger: Logger(label: "ppf.agents"))
        } catch {
            throw UserFacingError("PostgreSQL is not reachable (\(error)); is the stack up? (`make up`)")
        }
    }

    /// The newest predictor version of `modelId`, decoded.
    static func newestPredictor(modelId: String, on connection: PGConnection) async throws -> LoadedPredictor {
        guard let record = try await PredictorVersionRepository.latest(modelId: modelId, on: connection) else {
            throw UserFacingError("model '\(modelId)' has no predictor version yet; bootstrap its predictor first")
        }
        return try await load(record, on: connection)
    }

    /// The newest agent version of `modelId` with its predictor.
    static func newestAgent(modelId: String, on connection: PGConnection) async throws -> LoadedAgent {
        guard let record = try await AgentVersionRepository.latest(modelId: modelId, on: connection) else {
            throw UserFacingError("model '\(modelId)' has no agent version yet; train one with `ppf agent train --model \(modelId)` (or start the agent service)")
        }
        guard let predictorRecord = try await PredictorVersionRepository.find(id: record.predictorVersionId, on: connection) else {
            throw UserFacingError("agent version \(record.id.uuidString.lowercased()) names predictor \(record.predictorVersionId.uuidString.lowercased()), which is not stored")
        }
        let predictor = try await load(predictorRecord, on: connection)
        let bytes = record.artifact
        let agent = try await BlockingQueue(label: "ppf.agent.decode").run {
            try AgentArtifact.decode(jsonData: Data(bytes)).makeAgent()
        }
        return LoadedAgent(record: record, agent: agent,
                           reward: try PredictorReward(predictor: predictor.predictor, blockCount: agent.budget.blockCount),
                           regime: predictor.regime)
    }

    private static func load(_ record: PredictorVersionRecord, on connection: PGConnection) async throws -> LoadedPredictor {
        let bytes = record.artifact
        let predictor = try await BlockingQueue(label: "ppf.predictor.decode").run {
            try PredictorArtifact.decode(jsonData: Data(bytes)).predictor
        }
        let regime = try await PredictorVersionRepository.regime(versionId: record.id, on: connection)
        return LoadedPredictor(record: record, predictor: predictor, regime: regime ?? .assumedForUnstoredMeasurements)
    }
}
