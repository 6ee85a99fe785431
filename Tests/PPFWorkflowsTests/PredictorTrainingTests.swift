import Foundation
import PPFContracts
import PPFRuntime
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// Waiting for the version a train command trains, and the refinement's probe arithmetic.
@Suite struct PredictorTrainingTests {
    static let model = "workflow-tiny"

    @Test func theVersionTrainedByTheCommandIsFoundAndASkipIsItsReason() async throws {
        try await TestDatabase.withSchema { schema in
            let command = UUID(), skipped = UUID()
            let other = PredictorVersionRecord(modelId: Self.model, artifact: [], sampleCount: 3, trainingMeasurementIds: [],
                                               heldOut: nil, trainingSeconds: 1, correlationId: UUID())
            let mine = PredictorVersionRecord(modelId: Self.model, artifact: [], sampleCount: 7, trainingMeasurementIds: [],
                                              heldOut: nil, trainingSeconds: 1, correlationId: command)
            try await schema.pool.withTransaction { connection in
                try await PredictorVersionRepository.insert(other, on: connection)
                try await PredictorVersionRepository.insert(mine, on: connection)
                try await AuditLog.record(actor: "predictor/1", action: PredictorTrainer.trainingSkippedAction,
                                          correlationId: skipped, details: ["modelId": Self.model, "reason": "too few"],
                                          on: connection)
            }
            let found = try await PredictorTraining.waitForVersion(pool: schema.pool, modelId: Self.model, command: command,
                                                                   timeout: .seconds(5))
            #expect(found.id == mine.id, "the version of this command, not the newest one")
            await #expect(throws: WorkflowError("the predictor service did not train: too few")) {
                _ = try await PredictorTraining.waitForVersion(pool: schema.pool, modelId: Self.model, command: skipped,
                                                               timeout: .seconds(5))
            }
            await #expect(throws: WorkflowError.self) {
                _ = try await PredictorTraining.waitForVersion(pool: schema.pool, modelId: Self.model, command: UUID(),
                                                               timeout: .milliseconds(100))
            }
        }
    }

    @Test func probeRatiosAreCellMidpointsAndARoundSummarisesItsProbes() {
        #expect(AgentRefinement.probeRatios(4, over: 0.1...0.5) == [0.15, 0.25, 0.35, 0.45])
        let round = AgentRefinement.Round(agentVersion: UUID(), predictorVersion: UUID(), predictorSamples: 9,
                                          probes: [(predicted: 11, measured: 10), (predicted: nil, measured: 40)], rejected: 1)
        #expect(abs(round.mape - 0.1) < 1e-12, "only probes with a prediction count")
        #expect(round.meanPerplexity == 25)
        #expect(abs(round.geometricMeanPerplexity - 20) < 1e-9)
    }
}
