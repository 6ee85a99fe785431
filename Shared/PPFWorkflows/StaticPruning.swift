import Dispatch
import Foundation
import PPFAgent
import PPFContracts
import PPFPruning
import PPFRuntime

// MARK: - StaticCandidate

/// A policy the static search proposes for a true measurement, with the
/// search it came from.
public struct StaticCandidate: Sendable {
    /// `"agent"` for the search from the agent's policy, else the name of the start (e.g. `llm-pruner`).
    public let origin: String
    /// The policy, its achieved ratio and its prediction.
    public let candidate: SearchCandidate

    /// Pairs a candidate with its origin.
    public init(origin: String, candidate: SearchCandidate) {
        self.origin = origin
        self.candidate = candidate
    }
}

// MARK: - CandidateMeasurement

/// One true measurement of a candidate.
public struct CandidateMeasurement: Sendable, Equatable {
    /// Perplexity in the measurer's regime.
    public let perplexity: Double
    /// Seconds it took, where the measurer timed it (in-process); nil when another process measured it.
    public let seconds: Double?
    /// Mean KL divergence per prediction from the dense model on the same
    /// tokens (nats), where the measurer holds a ``DenseReference``; nil otherwise.
    public let divergence: Double?

    /// Creates a measurement.
    public init(perplexity: Double, seconds: Double? = nil, divergence: Double? = nil) {
        self.perplexity = perplexity
        self.seconds = seconds
        self.divergence = divergence
    }

    /// What a search minimises: the divergence where it was measured, else the log-perplexity.
    public var selectionScore: Double { divergence ?? Foundation.log(perplexity) }
}

// MARK: - PolicyMeasurer

/// Takes the true measurements static pruning trusts over predictions:
/// ``InProcessMeasurer`` plans, applies and scores in this process (`ppf
/// prune --policy static`, `ppf bench results`); ``EvaluatorMeasurer`` asks
/// the evaluators over the bus (the agent service's static mode).
public protocol PolicyMeasurer: Sendable {
    /// Measures each candidate of a search at `ratio` and calls `onMeasured`
    /// (candidate index, measurement) as each arrives.
    /// - Returns: one entry per candidate, in order; nil for a candidate
    ///   whose measurement did not arrive (a timeout).
    func measure(_ candidates: [StaticCandidate], ratio: Double,
                 onMeasured: @Sendable (Int, CandidateMeasurement) async -> Void) async throws -> [CandidateMeasurement?]
}

// MARK: - StaticPruningEvent

/// What a static pruning run reports as it goes, for logs and progress topics.
public enum StaticPruningEvent: Sendable {
    /// One predictor-guided search finished (`origin` as in ``StaticCandidate``).
    case searched(origin: String, result: StaticSearchResult)
    /// These candidates go to the measurer.
    case verifying(candidates: [StaticCandidate])
    /// `candidates[index]` was measured; `measuredSoFar` of them are, and
    /// `bestSoFar` is the lowest perplexity among those.
    case measured(index: Int, candidates: [StaticCandidate], measurement: CandidateMeasurement,
                  measuredSoFar: Int, bestSoFar: Double)
}

extension [StaticCandidate] {
    /// The lowest predicted perplexity among these candidates (nil: none).
    public var bestPredictedPerplexity: Double? { map(\.candidate.prediction.mean).min().map { exp($0) } }
}

// MARK: - StaticPruningError

/// Why a static pruning run ended without a chosen policy.
public enum StaticPruningError: Error, Equatable, CustomStringConvertible {
    /// The searches returned no candidate.
    case noCandidate(ratio: Double)
    /// No candidate's measurement arrived.
    case nothingMeasured(candidates: Int, detail: String)
    /// The measurer stopped because the question was answered elsewhere (another agent replica).
    case settledElsewhere

    public var description: String {
        switch self {
        case .noCandidate(let ratio): "the static search at r = \(ratio) returned no candidate"
        case .nothingMeasured(let count, let detail): "none of the \(count) verification measurements arrived; \(detail)"
        case .settledElsewhere: "the ratio event was answered elsewhere"
        }
    }
}

// MARK: - StaticPruning

/// *Static pruning* (design.md), the one implementation every caller runs:
/// spend many predictor calls searching for one fixed ratio, then trust
/// true measurements over predictions.
///
/// 1. A cross-entropy search (``StaticSearch``) from the agent's policy.
/// 2. With `starts` (other policies at this ratio, e.g. hand-made
///    baselines), one more search from each start, so the measurements
///    cover different regions instead of near-copies of one optimum (the
///    predictor over-rates the agent's region, docs/agent.md). Then only the
///    best candidate of each search is measured; without starts, the top-k
///    of the agent's search are.
/// 3. The ``PolicyMeasurer`` measures every candidate; the lowest measured
///    perplexity wins.
public enum StaticPruning {
    /// What one run searched, measured and chose.
    public struct Outcome: Sendable {
        /// The search from the agent's policy.
        public let search: StaticSearchResult
        /// Every candidate sent to the measurer, in order.
        public let candidates: [StaticCandidate]
        /// Their measurements, in the same order (nil: did not arrive).
        public let measurements: [CandidateMeasurement?]
        /// Predictor calls over every search (the agent's and each start's).
        public let rewardCalls: Int
        /// Policies scored over every search.
        public let policiesScored: Int
        /// The index of the best measured candidate.
        public let bestIndex: Int

        /// The chosen candidate.
        public var best: StaticCandidate { candidates[bestIndex] }
        /// Its measurement.
        public var bestMeasurement: CandidateMeasurement { measurements[bestIndex]! }
        /// How many candidates were measured.
        public var measuredCount: Int { measurements.compactMap { $0 }.count }
    }

    /// Searches at `ratio` and lets `measurer` decide.
    ///
    /// - Parameters:
    ///   - configuration: the search's settings; its `topK` is the number of
    ///     candidates measured when there are no `starts`.
    ///   - queue: where the searches run (they call the predictor, BLAS, thousands of times).
    ///   - generationProgress: called from `queue` after each generation of the agent's search (generation, best reward).
    ///   - events: told each phase.
    /// - Throws: ``StaticPruningError``, ``AgentError`` from the searches, and whatever the measurer throws.
    public static func run(agent: LoadedAgent, ratio: Double, configuration: StaticSearchConfiguration,
                           starts: [(name: String, policy: PruningPolicy)] = [], measurer: some PolicyMeasurer,
                           queue: BlockingQueue,
                           generationProgress: (@Sendable (Int, Double) -> Void)? = nil,
                           events: @Sendable (StaticPruningEvent) async -> Void = { _ in }) async throws -> Outcome {
        var settled = configuration
        if !starts.isEmpty { settled.topK = 1 }
        let searchConfiguration = settled
        let trained = agent.agent, reward = agent.reward
        let search = try await queue.run {
            try trained.search(ratio: ratio, configuration: searchConfiguration, progress: generationProgress, reward: reward.model)
        }
        await events(.searched(origin: "agent", result: search))
        var candidates = search.candidates.map { StaticCandidate(origin: "agent", candidate: $0) }
        var calls = search.rewardCalls, scored = search.policiesScored
        if !starts.isEmpty {
            let projection = trained.projection
            let sampler = try PolicySampler(projection: projection)
            for start in starts {
                let action = try sampler.action(imitating: start.policy)
                let seeded = try await queue.run {
                    try StaticSearch.run(from: action, targetRatio: ratio, projection: projection,
                                         configuration: searchConfiguration, reward: reward.model)
                }
                await events(.searched(origin: start.name, result: seeded))
                if let best = seeded.candidates.first { candidates.append(StaticCandidate(origin: start.name, candidate: best)) }
                calls += seeded.rewardCalls
                scored += seeded.policiesScored
            }
        }
        guard !candidates.isEmpty else { throw StaticPruningError.noCandidate(ratio: ratio) }
        await events(.verifying(candidates: candidates))
        let pool = candidates
        let tally = Tally()
        let measurements = try await measurer.measure(pool, ratio: ratio) { index, measurement in
            let (count, best) = tally.add(measurement.perplexity)
            await events(.measured(index: index, candidates: pool, measurement: measurement, measuredSoFar: count,
                                   bestSoFar: best))
        }
        let best = measurements.indices.filter { measurements[$0] != nil }
            .min { measurements[$0]!.perplexity < measurements[$1]!.perplexity }
        guard let best else {
            throw StaticPruningError.nothingMeasured(candidates: pool.count, detail: "the measurer returned none")
        }
        return Outcome(search: search, candidates: pool, measurements: measurements, rewardCalls: calls,
                       policiesScored: scored, bestIndex: best)
    }
}

/// Counts measurements as they arrive (the measurer may call from any task).
private final class Tally: @unchecked Sendable {
    // @unchecked: both fields are guarded by `lock`.
    private let lock = NSLock()
    private var count = 0
    private var best = Double.infinity

    /// Adds one perplexity; returns the count and the lowest so far.
    func add(_ perplexity: Double) -> (count: Int, best: Double) {
        lock.withLock {
            count += 1
            best = min(best, perplexity)
            return (count, best)
        }
    }
}

// MARK: - Starts

extension StaticPruning {
    /// The policies of the named hand-made baselines at `ratio`, as extra
    /// starting points (blank names are skipped).
    /// - Throws: ``PruningError`` for an unknown name or a policy the session cannot build.
    public static func baselineStarts(named names: [String], ratio: Double, session: PruningSession) throws
        -> [(name: String, policy: PruningPolicy)] {
        try names.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { name in
            (name, try session.policy(.baseline(try BaselinePolicy(named: name)), targetRatio: ratio))
        }
    }
}
