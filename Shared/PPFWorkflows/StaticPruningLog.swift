import Foundation

/// The lines `ppf prune --policy static` and `ppf bench results` print (to
/// stderr) as ``StaticPruning`` reports its phases.
public enum StaticPruningLog {
    /// One line for `event` of the run at `ratio`.
    public static func line(for event: StaticPruningEvent, ratio: Double) -> String {
        switch event {
        case .searched(let origin, let result) where origin == "agent":
            String(format: "r %.2f: static search from the agent, %d predictor calls (%d policies) in %.2f s; predicted ppl %.3f (agent) → %.3f (best)",
                   ratio, result.rewardCalls, result.policiesScored, result.wallSeconds, exp(result.start.prediction.mean),
                   exp(result.candidates.first?.prediction.mean ?? result.start.prediction.mean))
        case .searched(let origin, let result):
            String(format: "r %.2f: static search from %@: predicted ppl %.3f → %.3f", ratio, origin,
                   exp(result.start.prediction.mean), exp(result.candidates.first?.prediction.mean ?? .nan))
        case .verifying(let candidates):
            String(format: "r %.2f: measuring %d candidate(s)", ratio, candidates.count)
        case .measured(let index, let candidates, let measurement, _, _):
            String(format: "r %.2f: candidate %d/%d (from %@) predicted %.3f, measured %.3f on validation (%.1f s)", ratio,
                   index + 1, candidates.count, candidates[index].origin, exp(candidates[index].candidate.prediction.mean),
                   measurement.perplexity, measurement.seconds ?? .nan)
        }
    }
}
