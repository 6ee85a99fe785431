import Foundation
import Logging
import PPFAgent
import PPFContracts
import PPFPredictor
import PPFRuntime
import PPFStore
import PPFWorkflows

// MARK: - StoredAgents

/// Reads predictor and agent versions from PostgreSQL for the CLI, with its errors.
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

    /// Predictor version `versionId`, or the newest of `modelId`, decoded.
    static func predictor(modelId: String, versionId: UUID?, on connection: PGConnection) async throws -> LoadedPredictor {
        let found: PredictorVersionRecord?
        if let versionId {
            found = try await PredictorVersionRepository.find(id: versionId, on: connection)
        } else {
            found = try await PredictorVersionRepository.latest(modelId: modelId, on: connection)
        }
        guard let record = found else {
            throw UserFacingError(versionId.map { "no predictor version \($0.uuidString.lowercased())" }
                ?? "no predictor version for '\(modelId)' yet; run `ppf bootstrap` with the services up (`make up`)")
        }
        do {
            return try await AgentVersions.loadPredictor(record, queue: BlockingQueue(label: "ppf.predictor.decode"),
                                                         on: connection)
        } catch let error as PredictorError {
            throw UserFacingError("predictor version \(record.id.uuidString.lowercased()) cannot be read: \(error)")
        }
    }

    /// The newest predictor version of `modelId`, decoded.
    static func newestPredictor(modelId: String, on connection: PGConnection) async throws -> LoadedPredictor {
        guard let record = try await PredictorVersionRepository.latest(modelId: modelId, on: connection) else {
            throw UserFacingError("model '\(modelId)' has no predictor version yet; bootstrap its predictor first")
        }
        return try await AgentVersions.loadPredictor(record, queue: BlockingQueue(label: "ppf.predictor.decode"),
                                                     on: connection)
    }

    /// The newest agent version of `modelId` with its predictor.
    static func newestAgent(modelId: String, on connection: PGConnection) async throws -> LoadedAgent {
        guard let record = try await AgentVersionRepository.latest(modelId: modelId, on: connection) else {
            throw UserFacingError("model '\(modelId)' has no agent version yet; train one with `ppf agent train --model \(modelId)` (or start the agent service)")
        }
        guard let predictorRecord = try await PredictorVersionRepository.find(id: record.predictorVersionId, on: connection) else {
            throw UserFacingError("agent version \(record.id.uuidString.lowercased()) names predictor \(record.predictorVersionId.uuidString.lowercased()), which is not stored")
        }
        let queue = BlockingQueue(label: "ppf.agent.decode")
        let predictor = try await AgentVersions.loadPredictor(predictorRecord, queue: queue, on: connection)
        return try await AgentVersions.restore(record, predictor: predictor, queue: queue)
    }
}
