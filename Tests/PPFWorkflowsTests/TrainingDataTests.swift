import Foundation
import PPFContracts
import PPFPredictor
import PPFStore
import PPFTestSupport
import PPFWorkflows
import Testing

/// ``TrainingData``: what the predictor service and `ppf predictor cv` train on.
@Suite struct TrainingDataTests {
    @Test func everyMeasuredPolicyBecomesASampleAndProfilesComeOnlyWhenAsked() async throws {
        try await TestDatabase.withSchema { schema in
            let model = "workflow-tiny"
            try await schema.pool.withTransaction { connection in
                let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.5)
                let stored = try await PolicyRepository.store(policy, modelId: model, source: "t", on: connection).record
                let regime = MeasurementRegime(metric: "wanda-sp", split: "validation", tokenBudget: 256, window: 64)
                let request = try EvaluationRequest(requestId: UUID(), modelId: model, policyId: stored.id, policy: policy,
                                                    regime: regime, reason: .bootstrap)
                try await MeasurementRequests.enqueue(request, correlationId: UUID(), producer: "t", on: connection)
                let measurement = try PerplexityMeasurement(
                    requestId: request.requestId, policyId: stored.id, modelId: model, split: "validation",
                    tokenBudget: 256, window: 64, nll: 3, perplexity: exp(3), tokensCounted: 250, seconds: 1,
                    evaluatorId: "e", engineVersion: "t", achievedRatio: 0.4)
                _ = try await MeasurementRepository.insert(measurement, on: connection)
                let layer = ImportanceProfile.Layer(attentionRemoval: [0, 0.5], attentionKept: [1, 0.6], mlpKept: [1, 0.7])
                try await ImportanceProfileRepository.store(
                    ImportanceProfile(modelId: model, metric: "wanda-sp", layers: Array(repeating: layer, count: 4)),
                    on: connection)
            }
            try await schema.pool.withConnection { connection in
                let loaded = try await TrainingData.load(modelId: model, on: connection)
                let sample = try #require(loaded.samples.first)
                #expect(loaded.samples.count == 1 && loaded.profiles.count == 1)
                #expect(sample.metric == "wanda-sp" && sample.split == "validation" && sample.tokenBudget == 256)
                #expect(sample.window == 64 && abs(sample.perplexity - exp(3)) < 1e-9)
                #expect(try await TrainingData.load(modelId: model, withImportance: false, on: connection).profiles.isEmpty)
                #expect(try await TrainingData.load(modelId: "other", on: connection).samples.isEmpty)
            }
        }
    }
}
