import Dispatch
import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFWorkflows

// MARK: - StaticVerifier

/// Static pruning in one process (design.md): the predictor-guided search
/// from the agent's policy, then each of the top-k candidates planned,
/// applied and measured on the validation split, and the best *measured*
/// one chosen. The agent service does the same with evaluators; `ppf prune
/// --policy static` and `ppf bench results` do it here. Blocks on BLAS.
enum StaticVerifier {
    /// One verified candidate.
    struct Verified: Sendable {
        /// The search's candidate (policy, achieved ratio, prediction).
        let candidate: SearchCandidate
        /// Its validation perplexity.
        let measuredPerplexity: Double
        /// Seconds to plan, apply and measure it.
        let seconds: Double
    }

    /// The search and its verification.
    struct Outcome: Sendable {
        /// The search's result (start, candidates, curve, calls).
        let search: StaticSearchResult
        /// Every measured candidate, in the search's order.
        let verified: [Verified]
        /// Predictor calls and policies scored over every search (the agent's and each start's).
        var rewardCalls = 0
        var policiesScored = 0
        /// The lowest measured perplexity.
        let best: Verified
    }

    /// Searches at `ratio` and measures candidates on `validationTokens`.
    ///
    /// Without `starts`: one CEM search from the agent's policy, and its top
    /// `topK` candidates are measured. With `starts` (other policies at this
    /// ratio, e.g. the hand-made baselines): one search from the agent's
    /// policy and one from each start, and the best candidate of each search
    /// is measured, so the true measurements cover different regions instead
    /// of near-copies of one optimum (the predictor over-rates the agent's
    /// region, docs/agent.md). The best *measured* candidate wins.
    ///
    /// - Parameter log: told one line per phase and per measured candidate.
    static func run(agent: LoadedAgent, session: PruningSession, ratio: Double, topK: Int, seed: UInt64,
                    validationTokens: [Int], window: Int, starts: [(name: String, policy: PruningPolicy)] = [],
                    log: (String) -> Void) throws -> Outcome {
        var configuration = StaticSearchConfiguration()
        configuration.topK = starts.isEmpty ? topK : 1
        configuration.seed = seed
        let search = try agent.agent.search(ratio: ratio, configuration: configuration, reward: agent.reward.model)
        log(String(format: "r %.2f: static search from the agent, %d predictor calls (%d policies) in %.2f s; predicted ppl %.3f (agent) → %.3f (best)",
                   ratio, search.rewardCalls, search.policiesScored, search.wallSeconds, exp(search.start.prediction.mean),
                   exp(search.candidates.first?.prediction.mean ?? search.start.prediction.mean)))
        var pool: [(origin: String, candidate: SearchCandidate)] = search.candidates.map { ("agent", $0) }
        var calls = search.rewardCalls, scored = search.policiesScored
        if !starts.isEmpty {
            let sampler = try PolicySampler(projection: agent.agent.projection)
            for start in starts {
                let action = try sampler.action(imitating: start.policy)
                let seeded = try StaticSearch.run(from: action, targetRatio: ratio, projection: agent.agent.projection,
                                                  configuration: configuration, reward: agent.reward.model)
                if let best = seeded.candidates.first { pool.append((start.name, best)) }
                calls += seeded.rewardCalls
                scored += seeded.policiesScored
                log(String(format: "r %.2f: static search from %@: predicted ppl %.3f → %.3f", ratio, start.name,
                           exp(seeded.start.prediction.mean), exp(seeded.candidates.first?.prediction.mean ?? .nan)))
            }
        }
        var verified: [Verified] = []
        for (index, entry) in pool.enumerated() {
            let start = DispatchTime.now().uptimeNanoseconds
            let perplexity = try measure(entry.candidate.policy, ratio: ratio, session: session, tokens: validationTokens, window: window)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            verified.append(Verified(candidate: entry.candidate, measuredPerplexity: perplexity, seconds: seconds))
            log(String(format: "r %.2f: candidate %d/%d (from %@) predicted %.3f, measured %.3f on validation (%.1f s)", ratio,
                       index + 1, pool.count, entry.origin, exp(entry.candidate.prediction.mean), perplexity, seconds))
        }
        guard let best = verified.min(by: { $0.measuredPerplexity < $1.measuredPerplexity }) else {
            throw UserFacingError("the static search at r = \(ratio) returned no candidate")
        }
        var outcome = Outcome(search: search, verified: verified, best: best)
        outcome.rewardCalls = calls
        outcome.policiesScored = scored
        return outcome
    }

    /// The policies of the named baselines at `ratio` (comma-separated names; empty: none),
    /// as extra starting points for the static search.
    static func baselineStarts(_ names: String, ratio: Double, session: PruningSession) throws
        -> [(name: String, policy: PruningPolicy)] {
        try names.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { name in
                let baseline = try BaselinePolicy(named: name)
                return (name, try session.policy(.baseline(baseline), targetRatio: ratio))
            }
    }

    /// Perplexity of `policy` planned and applied by `session`, on `tokens` in windows of `window`.
    static func measure(_ policy: PruningPolicy, ratio: Double?, session: PruningSession, tokens: [Int], window: Int) throws -> Double {
        let plan = try session.plan(policy, targetRatio: ratio)
        let model = try session.apply(plan)
        return try PerplexityEvaluator(model: model, windowLength: window).evaluate(tokens, tokenBudget: tokens.count).perplexity
    }

    /// Checks that `agent` was trained for `checkpoint`'s shapes.
    static func requireSameShapes(_ agent: LoadedAgent, checkpoint: LlamaCheckpoint) throws {
        let budget = try ParameterBudget(configuration: checkpoint.model.configuration, allowsBlockDrop: false)
        guard budget.layers == agent.agent.budget.layers else {
            throw UserFacingError("agent version \(agent.record.id.uuidString.lowercased()) was trained for other shapes than \(checkpoint.url.lastPathComponent) (\(agent.agent.budget.blockCount) blocks vs \(budget.blockCount)); pass the model it was trained for")
        }
    }
}
