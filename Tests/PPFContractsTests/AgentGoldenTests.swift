import Foundation
import Testing
@testable import PPFContracts

/// Golden files pin the agent service's own messages: agent versions and
/// static-search progress.
@Suite struct AgentGoldenTests {
    @Test func agentVersionV1DecodesValidatesAndReencodesByteForByte() throws {
        let event = try PhaseOneGoldenTests.roundTrip("agent-version.v1", as: AgentVersionPublished.self).payload
        try event.validate()
        #expect(event.versionId == UUID(uuidString: "3c4d5e6f-0000-4000-8000-000000000033"))
        #expect(event.summary.minimumRatio == 0.05 && event.summary.maximumRatio == 0.6)
        #expect(event.summary.policiesScored == 38400)
        #expect(!event.summary.allowsBlockDrop)
    }

    @Test func staticSearchProgressV1DecodesValidatesAndReencodesByteForByte() throws {
        let progress = try PhaseOneGoldenTests.roundTrip("static-search-progress.v1", as: StaticSearchProgress.self).payload
        try progress.validate()
        #expect(progress.phase == .measured)
        #expect(progress.completed == 2 && progress.total == 3)
        #expect(progress.bestMeasuredPerplexity == 61.5)
        #expect(progress.message == nil)
    }

    @Test func anAgentSummaryWithAnEmptyRatioRangeIsRejected() {
        let summary = AgentTrainingSummary(
            minimumRatio: 0.6, maximumRatio: 0.6, allowsBlockDrop: false, seed: 1, uncertaintyPenalty: 1,
            iterations: 10, rewardCalls: 10, policiesScored: 1280, trainingSeconds: 1, finalMeanReward: -3,
            finalMeanPredictedLogPerplexity: 3, finalMeanUncertainty: 0.1)
        #expect(throws: EnvelopeRejection.self) {
            try AgentVersionPublished(modelId: "m", versionId: UUID(), predictorVersionId: UUID(), summary: summary)
        }
    }

    @Test(arguments: [(3, 2), (-1, 2)])
    func progressThatCountsPastItsTotalIsRejected(_ counts: (Int, Int)) {
        #expect(throws: EnvelopeRejection.self) {
            try StaticSearchProgress(ratioEventId: UUID(), modelId: "m", targetRatio: 0.4, phase: .searching,
                                     completed: counts.0, total: counts.1)
        }
    }

    @Test func theSearchProgressTopicIsCreatedWithTheOthers() {
        #expect(Topic.all.contains { $0.name == Topic.searchProgress && $0.partitions == 1 })
        #expect(Topic.all.contains { $0.name == Topic.agentVersions })
    }
}
