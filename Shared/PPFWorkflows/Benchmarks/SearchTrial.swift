import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFRuntime

// MARK: - SearchTrial

/// One trial of the measured search's settings on the validation split
/// alone (`ppf bench search`), so its design is chosen without reading the
/// test split: the search selects on a prefix of the validation tokens, and
/// its winner, its starts and the hand-made policies are then scored on
/// validation tokens it never saw (a later slice), all with the same plans.
public struct SearchTrial: Sendable {
    /// The model's session (plans under the predictor's metric).
    public let session: PruningSession
    /// The agent (its projection, screen and dynamic policy).
    public let agent: LoadedAgent
    /// The validation split's tokens, at least `evaluationRange.upperBound` of them.
    public let validationTokens: [Int]
    /// Cheap-fidelity tokens (a prefix); the finalists get 4× as many.
    public let searchTokens: Int
    /// Scoring window for every measurement.
    public let window: Int
    /// The held-out slice of the validation tokens every policy is scored on.
    public let evaluationRange: Range<Int>

    /// A trial; `evaluationRange` must not overlap the search's 4 × `searchTokens` prefix.
    /// - Throws: ``WorkflowError`` when it does, or the tokens are too few.
    public init(session: PruningSession, agent: LoadedAgent, validationTokens: [Int], searchTokens: Int, window: Int,
                evaluationRange: Range<Int>) throws {
        guard evaluationRange.lowerBound >= 4 * searchTokens, evaluationRange.upperBound <= validationTokens.count,
              evaluationRange.count >= 2 * window, searchTokens >= window else {
            throw WorkflowError("the evaluation slice \(evaluationRange) must lie after the search's \(4 * searchTokens) tokens, inside the \(validationTokens.count) validation tokens, and hold two windows; and the search needs at least one window")
        }
        self.session = session
        self.agent = agent
        self.validationTokens = validationTokens
        self.searchTokens = searchTokens
        self.window = window
        self.evaluationRange = evaluationRange
    }

    /// What one trial found.
    public struct Result: Sendable {
        /// The search's outcome.
        public let search: MeasuredSearch.Outcome
        /// Held-out validation perplexity of the winner and of each reference (`uniform`, `agent`, the baselines).
        public let heldOut: [(name: String, perplexity: Double)]
    }

    /// The model's sensitivity profile on the search's cheap tokens (``MeasuredSearch/sensitivity(projection:measurer:probe:)``),
    /// by `objective`.
    public func sensitivity(objective: SearchObjective = .perplexity) async throws -> [Double] {
        let queue = BlockingQueue(label: "ppf.bench.search.profile")
        let cheap = try MeasuredSearch.inProcessFidelities(session: session, validation: validationTokens, tokens: searchTokens,
                                                           window: window, objective: objective, queue: queue)[0]
        return try await MeasuredSearch.sensitivity(projection: agent.agent.projection, measurer: cheap)
    }

    /// Runs the search with `configuration` at `ratio` (with a sensitivity
    /// start when `sensitivity` is given) and scores the winner and the references.
    public func run(ratio: Double, configuration: MeasuredSearchConfiguration, sensitivity: [Double]? = nil,
                    baselines: [BaselinePolicy], log: @escaping @Sendable (String) -> Void) async throws -> Result {
        let queue = BlockingQueue(label: "ppf.bench.search")
        let fidelities = try MeasuredSearch.inProcessFidelities(session: session, validation: validationTokens,
                                                                tokens: searchTokens, window: window,
                                                                objective: configuration.objective, queue: queue)
        let search = try await MeasuredSearch.run(agent: agent, ratio: ratio, fidelities: fidelities,
                                                  configuration: configuration, sensitivity: sensitivity, queue: queue,
                                                  events: { log(MeasuredSearch.line(for: $0, ratio: ratio)) })
        let held = InProcessMeasurer(session: session, tokens: Array(validationTokens[evaluationRange]), window: window,
                                     queue: queue)
        let projection = agent.agent.projection
        var references: [(String, PruningPolicy)] = [
            ("measured search", search.best.candidate.candidate.policy),
            ("uniform (projected)", try projection.project(action: [Double](repeating: 0, count: projection.actionCount),
                                                           targetRatio: ratio)),
            ("agent", try agent.agent.policy(forRatio: ratio)),
        ]
        if let sensitivity {
            references.append(("sensitivity start", try MeasuredSearch.sensitivityStart(
                sensitivity, projection: projection, ratio: ratio, scale: configuration.profileScale)))
        }
        for baseline in baselines {
            references.append((baseline.rawValue, try session.policy(.baseline(baseline), targetRatio: ratio)))
        }
        var scored: [(name: String, perplexity: Double)] = []
        for (name, policy) in references {
            let perplexity = try await queue.run { try held.timedPerplexity(of: policy, ratio: ratio).perplexity }
            scored.append((name, perplexity))
            log(String(format: "r %.2f: %@ held-out validation ppl %.3f", ratio, name, perplexity))
        }
        return Result(search: search, heldOut: scored)
    }
}
