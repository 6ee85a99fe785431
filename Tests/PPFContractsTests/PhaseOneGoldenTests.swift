import Foundation
import Testing
@testable import PPFContracts

/// Golden files pin the phase-1 message schemas (evaluation, measurement,
/// predictor): each decodes, validates, and re-encodes byte for byte.
@Suite struct PhaseOneGoldenTests {
    /// Decodes a golden envelope and checks it re-encodes to the same bytes.
    static func roundTrip<Payload: MessagePayload>(_ name: String, as _: Payload.Type) throws -> Envelope<Payload> {
        let bytes = try GoldenMessageTests.golden(name)
        let envelope = try Envelope<Payload>.decode(bytes)
        let reencoded = try envelope.encoded()
        #expect(String(decoding: reencoded, as: UTF8.self) == String(decoding: bytes, as: UTF8.self))
        return envelope
    }

    @Test func evaluationRequestV1DecodesValidatesAndReencodesByteForByte() throws {
        let envelope = try Self.roundTrip("evaluation-request.v1", as: EvaluationRequest.self)
        let request = envelope.payload
        try request.validate()
        #expect(request.reason == .spotCheck)
        #expect(request.tokenBudget == 4096 && request.window == 256)
        #expect(request.policy.layers.count == 4)
        #expect(request.policy.layers[2].dropped)
        #expect(request.requestId == UUID(uuidString: "3c4d5e6f-0000-4000-8000-000000000033"))
    }

    @Test func measurementV1DecodesValidatesAndReencodesByteForByte() throws {
        let measurement = try Self.roundTrip("measurement.v1", as: PerplexityMeasurement.self).payload
        try measurement.validate()
        #expect(measurement.nll == 2.75)
        #expect(abs(measurement.perplexity - exp(2.75)) < 1e-12)
        #expect(measurement.tokensCounted == 4080)
        #expect(measurement.evaluatorId == "host-7")
    }

    @Test func predictorVersionV1DecodesValidatesAndReencodesByteForByte() throws {
        let event = try Self.roundTrip("predictor-version.v1", as: PredictorVersionPublished.self).payload
        try event.validate()
        #expect(event.sampleCount == 300)
        #expect(event.heldOut?.kendallTau == 0.91)
        #expect(event.heldOut?.mape == 0.025)
    }

    @Test func aPredictorVersionWithoutSamplesOrWithAbsurdMetricsFailsValidation() throws {
        let event = try Self.roundTrip("predictor-version.v1", as: PredictorVersionPublished.self).payload
        var noSamples = event
        noSamples.sampleCount = -3
        #expect(throws: EnvelopeRejection.invalidPayload("sample count -3 must be positive")) { try noSamples.validate() }
        var negativeTime = event
        negativeTime.trainingSeconds = -1
        #expect(throws: EnvelopeRejection.self) { try negativeTime.validate() }
        var heldTooMany = event
        heldTooMany.heldOut?.count = 301
        #expect(throws: EnvelopeRejection.invalidPayload("held-out count 301 must lie in 1...300")) { try heldTooMany.validate() }
        var notANumber = event
        notANumber.heldOut?.kendallTau = .nan
        #expect(throws: EnvelopeRejection.invalidPayload("held-out metrics must be finite")) { try notANumber.validate() }
        var unnamed = event
        unnamed.modelId = ""
        #expect(throws: EnvelopeRejection.invalidPayload("model id is empty")) { try unnamed.validate() }
    }

    @Test func predictorCommandV1DecodesAndReencodesByteForByte() throws {
        let command = try Self.roundTrip("predictor-command.v1", as: PredictorCommand.self).payload
        #expect(command.action == .train)
        #expect(command.requestedBy == "alice")
    }

    @Test func predictionRequestV1DecodesValidatesAndReencodesByteForByte() throws {
        let request = try Self.roundTrip("prediction-request.v1", as: PredictionRequest.self).payload
        try request.validate()
        #expect(request.policies.count == 1)
    }

    @Test func predictionRepliesV1WithPredictionsOrAnErrorReencodeByteForByte() throws {
        let reply = try Self.roundTrip("prediction-reply.v1", as: PredictionReply.self).payload
        #expect(reply.error == nil)
        #expect(reply.predictions.first?.logPerplexityStd == 0.03125)
        #expect(reply.predictorVersion != nil)
        let failed = try Self.roundTrip("prediction-reply-error.v1", as: PredictionReply.self).payload
        #expect(failed.predictorVersion == nil)
        #expect(failed.predictions.isEmpty)
        #expect(failed.error?.contains("llama-9b") == true)
    }

    @Test func payloadIdsAreWrittenInLowercaseLikeEnvelopeIds() throws {
        let id = UUID()
        let request = try PredictionRequest(requestId: id, modelId: "m",
                                            policies: [.uniform(blocks: 2, attention: 0.1, mlp: 0.2)])
        let text = String(decoding: try Envelope(correlationId: id, producer: "t", payload: request).encoded(), as: UTF8.self)
        #expect(text.contains("\"requestId\":\"\(id.uuidString.lowercased())\""))
        #expect(!text.contains(id.uuidString.uppercased()))
    }

    @Test func thePredictorCommandTopicIsCreatedWithTheOthers() {
        #expect(Topic.all.contains { $0.name == Topic.predictorCommands && $0.partitions >= 1 })
        #expect(Set(Topic.all.map(\.name)).count == Topic.all.count, "topic names must be unique")
    }
}

/// Values a decoder accepts but a consumer must not: each is a named rejection.
@Suite struct PhaseOneValidationTests {
    static let policy = PruningPolicy.uniform(blocks: 4, attention: 0.25, mlp: 0.5)

    static func request(tokenBudget: Int = 1024, window: Int = 128, policy: PruningPolicy = policy,
                        split: String = "validation") throws(EnvelopeRejection) -> EvaluationRequest {
        try EvaluationRequest(requestId: UUID(), modelId: "m", policyId: UUID(), policy: policy, metric: "wanda-sp",
                              split: split, tokenBudget: tokenBudget, window: window, reason: .bootstrap)
    }

    static func measurement(perplexity: Double = 12, nll: Double = log(12), tokens: Int = 512,
                            ratio: Double = 0.3) throws(EnvelopeRejection) -> PerplexityMeasurement {
        try PerplexityMeasurement(requestId: UUID(), policyId: UUID(), modelId: "m", split: "validation", tokenBudget: 512,
                        window: 128, nll: nll, perplexity: perplexity, tokensCounted: tokens, seconds: 1.5,
                        evaluatorId: "e1", engineVersion: "0.1.0", achievedRatio: ratio)
    }

    @Test func aValidEvaluationRequestAndMeasurementAreAccepted() throws {
        _ = try Self.request()
        _ = try Self.measurement()
    }

    @Test(arguments: [(0, 128), (-5, 128), (1024, 0), (128, 256), (1 << 31, 128), (Int.max, 128)])
    func evaluationRequestsNeedPositiveBudgetsAndAWindowWithinTheBudget(_ budget: Int, _ window: Int) {
        #expect(throws: EnvelopeRejection.self) { try Self.request(tokenBudget: budget, window: window) }
    }

    @Test(arguments: [-0.1, 1.5, Double.nan, Double.infinity])
    func aPolicyRatioOutsideTheUnitIntervalIsRejectedWithItsBlock(_ ratio: Double) {
        var policy = Self.policy
        policy.layers[2].mlpRatio = ratio
        do {
            _ = try Self.request(policy: policy)
            Issue.record("expected a rejection for ratio \(ratio)")
        } catch {
            #expect(error.description.contains("block 2"))
        }
    }

    @Test func anEmptyPolicyOrSplitIsRejected() {
        #expect(throws: EnvelopeRejection.self) { try Self.request(policy: PruningPolicy(layers: [])) }
        #expect(throws: EnvelopeRejection.self) { try Self.request(split: "") }
    }

    @Test func measurementsNeedAPositivePerplexityCountedTokensAndARatioBelowOne() {
        #expect(throws: EnvelopeRejection.self) { try Self.measurement(perplexity: 0) }
        #expect(throws: EnvelopeRejection.self) { try Self.measurement(perplexity: .nan) }
        #expect(throws: EnvelopeRejection.self) { try Self.measurement(nll: .infinity) }
        #expect(throws: EnvelopeRejection.self) { try Self.measurement(tokens: 0) }
        #expect(throws: EnvelopeRejection.self) { try Self.measurement(ratio: 1) }
    }

    @Test func predictionRequestsNeedAtLeastOneValidPolicy() throws {
        #expect(throws: EnvelopeRejection.self) { try PredictionRequest(requestId: UUID(), modelId: "m", policies: []) }
        var bad = Self.policy
        bad.layers[0].attentionRatio = 2
        #expect(throws: EnvelopeRejection.self) {
            try PredictionRequest(requestId: UUID(), modelId: "m", policies: [Self.policy, bad])
        }
        #expect(throws: EnvelopeRejection.self) { try PredictorCommand(modelId: "", action: .train, requestedBy: "t") }
    }

    @Test func canonicalKeysAgreeAfterRoundingAndIgnoreADroppedBlocksRatios() {
        var a = Self.policy
        var b = Self.policy
        b.layers[1].mlpRatio += 0.00001
        #expect(a.canonicalKey() == b.canonicalKey())
        b.layers[1].mlpRatio += 0.001
        #expect(a.canonicalKey() != b.canonicalKey())
        #expect(a.canonicalKey(decimals: 2) == b.canonicalKey(decimals: 2))
        a.layers[3] = LayerPolicy(attentionRatio: 1, mlpRatio: 1, dropped: true)
        b = a
        b.layers[3].attentionRatio = 0.3
        #expect(a.canonicalKey() == b.canonicalKey())
        #expect(a.canonicalKey() != Self.policy.canonicalKey())
    }
}

/// Golden files pin the run-time policy messages the agent publishes.
@Suite struct PolicyGoldenTests {
    @Test func policyV1DecodesValidatesAndReencodesByteForByte() throws {
        let event = try PhaseOneGoldenTests.roundTrip("policy.v1", as: PolicyPublished.self).payload
        try event.validate()
        #expect(event.source == .agent && event.mode == .dynamic)
        #expect(event.policy.layers[1].dropped)
        #expect(event.predictedLogPerplexityStd == 0.0625)
        #expect(event.measuredPerplexity == nil)
    }

    @Test func ratioEventRejectedV1DecodesAndReencodesByteForByte() throws {
        let event = try PhaseOneGoldenTests.roundTrip("ratio-event-rejected.v1", as: RatioEventRejected.self).payload
        #expect(event.reason == .ratioOutOfRange)
        #expect(event.targetRatio == 0.95)
    }

    @Test func policyWithAnImpossiblePerplexityIsRejected() throws {
        let policy = PruningPolicy.uniform(blocks: 2, attention: 0.25, mlp: 0.25)
        #expect(throws: EnvelopeRejection.self) {
            try PolicyPublished(ratioEventId: UUID(), modelId: "m", mode: .dynamic, targetRatio: 0.25,
                                achievedRatio: 0.25, policyId: UUID(), policy: policy, metric: "flap",
                                source: .agent, predictedPerplexity: 0.5)
        }
        #expect(throws: EnvelopeRejection.self) {
            try PolicyPublished(ratioEventId: UUID(), modelId: "m", mode: .dynamic, targetRatio: 1.2,
                                achievedRatio: 0.25, policyId: UUID(), policy: policy, metric: "flap", source: .agent)
        }
    }
}
