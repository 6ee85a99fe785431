import Foundation
import Testing
@testable import PPFContracts

/// Golden files pin the serving schemas (plans, inference, model-host status):
/// each decodes, validates, and re-encodes byte for byte.
@Suite struct ServingGoldenTests {
    @Test func planV1DecodesValidatesAndReencodesByteForByte() throws {
        let envelope = try PhaseOneGoldenTests.roundTrip("plan.v1", as: PlanPublished.self)
        let plan = envelope.payload
        try plan.validate()
        #expect(envelope.correlationId == plan.ratioEventId, "the correlation id is the ratio event's id")
        #expect(plan.keptParameters == 75 && plan.totalParameters == 100 && plan.achievedRatio == 0.25)
        #expect(plan.layers.count == 2)
        #expect(plan.layers[0] == PlannedLayer(dropped: false, queryHeads: 6, keyValueGroups: 2, channels: 1152))
        #expect(plan.layers[1].dropped)
        #expect(plan.exportPath?.hasSuffix(".gguf") == true)
    }

    @Test func inferenceRequestsOfBothKindsDecodeValidateAndReencodeByteForByte() throws {
        let perplexity = try PhaseOneGoldenTests.roundTrip("inference-request-perplexity.v1", as: InferenceRequest.self).payload
        try perplexity.validate()
        #expect(perplexity.task == .perplexity(text: "The quick brown fox jumps over the lazy dog."))
        let generate = try PhaseOneGoldenTests.roundTrip("inference-request-generate.v1", as: InferenceRequest.self).payload
        try generate.validate()
        #expect(generate.task == .generate(prompt: "Once upon a time", maxTokens: 32))
        #expect(generate.task.kind == "generate")
    }

    @Test func inferenceRepliesWithAResultOrAnErrorReencodeByteForByte() throws {
        let generation = try PhaseOneGoldenTests.roundTrip("inference-reply-generation.v1", as: InferenceReply.self).payload
        #expect(generation.result == .generation(text: ", there was a little girl", promptTokens: 4, generatedTokens: 32))
        #expect(generation.modelVersion == ModelVersion.plan(UUID(uuidString: "7a8b9c0d-0000-4000-8000-000000000077")!))
        #expect(generation.error == nil)
        let perplexity = try PhaseOneGoldenTests.roundTrip("inference-reply-perplexity.v1", as: InferenceReply.self).payload
        #expect(perplexity.modelVersion == ModelVersion.dense)
        guard case .perplexity(let nll, let value, let counted) = perplexity.result else {
            Issue.record("expected a perplexity result, got \(String(describing: perplexity.result))")
            return
        }
        #expect(nll == 2.5 && abs(value - exp(2.5)) < 1e-12 && counted == 9)
        let failed = try PhaseOneGoldenTests.roundTrip("inference-reply-error.v1", as: InferenceReply.self).payload
        #expect(failed.result == nil)
        #expect(failed.error?.contains("context") == true)
    }

    @Test func modelHostStatusV1DecodesAndReencodesByteForByte() throws {
        let status = try PhaseOneGoldenTests.roundTrip("model-host-status.v1", as: ModelHostStatus.self).payload
        #expect(status.swapCount == 2)
        #expect(status.planId.map(ModelVersion.plan) == status.modelVersion)
        #expect(status.buildSeconds == 1.5)
    }

    @Test func theServingTopicsAreCreatedWithTheOthersAndStatusHasItsOwnTopic() {
        let names = Topic.all.map(\.name)
        for topic in [Topic.plans, Topic.inferenceRequests, Topic.inferenceReplies, Topic.modelHostStatus] {
            #expect(names.contains(topic), "\(topic) must be in Topic.all")
        }
        #expect(Topic.modelHostStatus != Topic.status, "one message type per topic: heartbeats own ppf.status")
        #expect(Set(names).count == names.count, "topic names must be unique")
    }
}

/// Values a decoder accepts but a consumer must not: each is a named rejection.
@Suite struct ServingValidationTests {
    static func plan(kept: Int = 75, total: Int = 100, achieved: Double = 0.25,
                     layers: [PlannedLayer] = [PlannedLayer(dropped: false, queryHeads: 3, keyValueGroups: 1, channels: 10)],
                     exportPath: String? = nil) throws(EnvelopeRejection) -> PlanPublished {
        try PlanPublished(planId: UUID(), ratioEventId: UUID(), policyId: UUID(), modelId: "m", metric: "magnitude",
                          targetRatio: 0.25, achievedRatio: achieved, keptParameters: kept, totalParameters: total,
                          layers: layers, exportPath: exportPath)
    }

    @Test func aConsistentPlanIsAccepted() throws {
        _ = try Self.plan()
    }

    @Test func aPlanWhoseRatioDisagreesWithItsCountsIsRejected() {
        #expect(throws: EnvelopeRejection.self) { try Self.plan(achieved: 0.3) }
        #expect(throws: EnvelopeRejection.self) { try Self.plan(kept: 101, achieved: -0.01) }
        #expect(throws: EnvelopeRejection.self) { try Self.plan(kept: 0, total: 0, achieved: 0) }
    }

    @Test func aPlanDroppingEveryBlockOrKeepingPartsOfADroppedBlockIsRejected() {
        let dropped = PlannedLayer(dropped: true, queryHeads: 0, keyValueGroups: 0, channels: 0)
        #expect(throws: EnvelopeRejection.self) { try Self.plan(layers: [dropped, dropped]) }
        let inconsistent = PlannedLayer(dropped: true, queryHeads: 2, keyValueGroups: 1, channels: 0)
        #expect(throws: EnvelopeRejection.self) { try Self.plan(layers: [inconsistent]) }
        #expect(throws: EnvelopeRejection.self) { try Self.plan(layers: []) }
        #expect(throws: EnvelopeRejection.self) { try Self.plan(exportPath: "") }
    }

    @Test func inferenceRequestsWithinTheLimitsAreAccepted() throws {
        _ = try InferenceRequest(requestId: UUID(), modelId: "m", task: .perplexity(text: "hello world"))
        _ = try InferenceRequest(requestId: UUID(), modelId: "m",
                                 task: .generate(prompt: "hi", maxTokens: InferenceRequest.maximumNewTokens))
    }

    @Test(arguments: [0, -3, InferenceRequest.maximumNewTokens + 1])
    func aGenerationOutsideTheTokenLimitIsRejectedWithTheLimit(_ maxTokens: Int) {
        do {
            _ = try InferenceRequest(requestId: UUID(), modelId: "m", task: .generate(prompt: "hi", maxTokens: maxTokens))
            Issue.record("expected a rejection for maxTokens \(maxTokens)")
        } catch {
            #expect(error.description.contains("\(InferenceRequest.maximumNewTokens)"))
        }
    }

    @Test func emptyOrOversizedTextAndPromptsAreRejected() {
        let big = String(repeating: "a", count: InferenceRequest.maximumTextBytes + 1)
        #expect(throws: EnvelopeRejection.self) { try InferenceRequest(requestId: UUID(), modelId: "m", task: .perplexity(text: "")) }
        #expect(throws: EnvelopeRejection.self) { try InferenceRequest(requestId: UUID(), modelId: "m", task: .perplexity(text: big)) }
        #expect(throws: EnvelopeRejection.self) {
            try InferenceRequest(requestId: UUID(), modelId: "m", task: .generate(prompt: "", maxTokens: 4))
        }
        #expect(throws: EnvelopeRejection.self) {
            try InferenceRequest(requestId: UUID(), modelId: "", task: .perplexity(text: "x"))
        }
    }

    @Test func anUnknownTaskKindIsRejectedAsAnInvalidPayloadNamingTheKind() throws {
        let text = String(decoding: try GoldenMessageTests.golden("inference-request-generate.v1"), as: UTF8.self)
            .replacingOccurrences(of: "\"kind\":\"generate\"", with: "\"kind\":\"translate\"")
        do {
            _ = try Envelope<InferenceRequest>.decode(Array(text.utf8))
            Issue.record("expected a rejection")
        } catch {
            guard case .invalidPayload(let why) = error else {
                Issue.record("expected invalidPayload, got \(error)")
                return
            }
            #expect(why.contains("translate"))
        }
    }

    @Test func aPlanMessageIsNotAcceptedWhereAPolicyIsExpected() throws {
        let bytes = try GoldenMessageTests.golden("plan.v1")
        #expect(throws: EnvelopeRejection.unexpectedType(expected: "policy", actual: "plan")) {
            try Envelope<PolicyPublished>.decode(bytes)
        }
    }
}
