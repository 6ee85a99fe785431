import Foundation
import Testing
@testable import PPFPredictor

/// A small trained artifact with held-out metrics and a two-point learning curve.
private func smallArtifact() throws -> (PredictorArtifact, [TrainingSample]) {
    let training = try syntheticSamples(count: 40)
    let heldOut = try syntheticSamples(count: 12, seed: 9, idPrefix: "h")
    let artifact = try PredictorArtifact.train(training: training, heldOut: heldOut,
                                               hyperparameters: quickHyperparameters,
                                               learningCurveSizes: [20, 40])
    return (artifact, heldOut)
}

@Test func artifactJSONRoundTripPredictsBitIdentically() throws {
    let (artifact, probes) = try smallArtifact()
    let data = try artifact.jsonData()
    let decoded = try PredictorArtifact.decode(jsonData: data)
    #expect(decoded == artifact)
    let before = try artifact.predictor.predict(probes.map(\.features))
    let after = try decoded.predictor.predict(probes.map(\.features))
    // Exact Double equality, mean and std: bit-identical weights, the same batch
    // through the same kernels (a different batch would need a tolerance).
    #expect(before == after)
    #expect(try decoded.jsonData() == data)
}

@Test func artifactRecordsWhatTrainedItAndHowWellItDoes() throws {
    let (artifact, heldOut) = try smallArtifact()
    #expect(artifact.schemaVersion == PredictorArtifact.currentSchemaVersion)
    #expect(artifact.trainingSampleIds == (0..<40).map { "s-\($0)" })
    #expect(artifact.heldOutSampleIds == heldOut.map(\.id))
    #expect(artifact.heldOutMetrics?.count == 12)
    #expect(artifact.learningCurve.map(\.sampleCount) == [20, 40])
    #expect(artifact.predictor.members.count == 2)
    #expect(artifact.predictor.spec.globalChannels == [SyntheticPerformanceTask.achievedRatio])
    #expect(artifact.trainingSeconds > 0)
}

@Test func artifactWithAnotherSchemaVersionThrowsUnsupportedSchemaVersion() throws {
    let (artifact, _) = try smallArtifact()
    var object = try #require(try JSONSerialization.jsonObject(with: artifact.jsonData()) as? [String: Any])
    object["schemaVersion"] = 99
    let error = #expect(throws: PredictorError.self) {
        try PredictorArtifact.decode(jsonData: try JSONSerialization.data(withJSONObject: object))
    }
    #expect(error?.code == .unsupportedSchemaVersion)
}

@Test func corruptArtifactsThrowInvalidArtifact() throws {
    let (artifact, _) = try smallArtifact()
    let text = try #require(String(data: try artifact.jsonData(), encoding: .utf8))
    // Cut the first member's weights short.
    let marker = try #require(text.range(of: "\"values\":\""))
    let truncated = text.replacingCharacters(in: marker.upperBound..<text.index(marker.upperBound, offsetBy: 8), with: "")
    let short = #expect(throws: PredictorError.self) { try PredictorArtifact.decode(jsonData: Data(truncated.utf8)) }
    #expect(short?.code == .invalidArtifact)
    let garbage = #expect(throws: PredictorError.self) { try PredictorArtifact.decode(jsonData: Data("{\"x\":1}".utf8)) }
    #expect(garbage?.code == .invalidArtifact)
}
