import Foundation
import PPFWorkflows
import Testing

/// `ppf agent anchor` stores the distilled agent only when it measured better.
@Suite struct AnchorVerdictTests {
    @Test func theAnchoredAgentIsKeptOnlyWhenItsHeldOutGeometricMeanIsNoWorse() throws {
        // The demo of 2026-12-04 02:50 UTC: better at 0.2, worse at 0.35 and 0.5.
        let demo = try #require(AgentAnchoring.Verdict(anchored: [38.09, 77.05, 273.72], before: [42.74, 75.43, 256.83]))
        #expect(abs(demo.anchoredGeometricMean - pow(38.09 * 77.05 * 273.72, 1.0 / 3)) < 1e-9)
        #expect(demo.keepsAnchored, "a 4 % win at 0.2 outweighs losses of 2 % and 6.6 % in the geometric mean")
        let worse = try #require(AgentAnchoring.Verdict(anchored: [40, 80, 280], before: [38, 75, 256]))
        #expect(!worse.keepsAnchored)
        #expect(worse.summary.contains("anchored") && worse.summary.contains("+"))
        let tie = try #require(AgentAnchoring.Verdict(anchored: [50, 60], before: [60, 50]))
        #expect(tie.keepsAnchored, "a tie keeps the agent built from measurements")
    }

    @Test func noVerdictWithoutPairedPositiveMeasurements() {
        #expect(AgentAnchoring.Verdict(anchored: [], before: []) == nil)
        #expect(AgentAnchoring.Verdict(anchored: [1, 2], before: [1]) == nil)
        #expect(AgentAnchoring.Verdict(anchored: [1, .nan], before: [1, 2]) == nil)
        #expect(AgentAnchoring.Verdict(anchored: [1, 0], before: [1, 2]) == nil)
    }
}
