import Foundation
import PPFAgent
import PPFContracts
import PPFModel
import PPFPruning
import PPFTensor

// MARK: - PrefixCacheBenchmark

/// Measurements per minute of the evaluator's measuring path
/// (``BaseModelEngine/measure(policy:metric:split:tokenBudget:window:progress:)``)
/// with and without the dense prefix cache, on the bootstrap's own mix of
/// policies, in one process and one run (issue 15 §4).
///
/// The policies are every `stride`-th of `ppf bootstrap`'s candidates
/// (sensitivity probes, hand-made baselines, sampler draws), in the order an
/// evaluator meets them. Each pass starts with an empty cache, so the cached
/// pass pays for its own filling. Both passes record every perplexity; the
/// report gives the largest relative difference, which must stay below 1e-4.
public enum PrefixCacheBenchmark {
    /// One kind of policy (`profile`, `baseline`, a sampler kind) in both passes.
    public struct Row: Sendable {
        /// ``PolicySources/kind(of:)`` of the policies.
        public let kind: String
        /// Policies of this kind.
        public let count: Int
        /// Seconds of the uncached pass on them.
        public let uncachedSeconds: Double
        /// Seconds of the cached pass on them.
        public let cachedSeconds: Double
        /// Mean blocks per window the cache spared them.
        public let blocksSkippedPerWindow: Double
        /// Largest `|ppl_cached / ppl_uncached − 1|` among them.
        public let largestRelativeDifference: Double

        /// Measurements per minute without the cache.
        public var uncachedRate: Double { Double(count) * 60 / max(uncachedSeconds, 1e-9) }
        /// Measurements per minute with the cache.
        public var cachedRate: Double { Double(count) * 60 / max(cachedSeconds, 1e-9) }
    }

    /// Both passes, by kind, plus the whole mix.
    public struct Report: Sendable {
        /// One row per kind, then `all`.
        public let rows: [Row]
        /// The regime measured.
        public let split: CorpusSplit, tokenBudget: Int, window: Int, metric: MetricKind
        /// Blocks of the model, and boundaries the cache kept (of `blockCount − 1`).
        public let blockCount: Int, boundariesKept: Int
        /// Bytes the cache held at the end of the cached pass.
        public let bytesHeld: Int

        /// The table, with a line saying what was measured.
        public func markdownTable() -> String {
            var lines = [
                "| policies | count | uncached s | cached s | measurements/min uncached | cached | speed-up | blocks skipped per window | largest relative ppl difference |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for row in rows {
                lines.append(String(format: "| %@ | %d | %.1f | %.1f | %.1f | %.1f | %.2f× | %.1f of %d | %.1e |", row.kind, row.count,
                                    row.uncachedSeconds, row.cachedSeconds, row.uncachedRate, row.cachedRate,
                                    row.uncachedSeconds / max(row.cachedSeconds, 1e-9), row.blocksSkippedPerWindow,
                                    blockCount, row.largestRelativeDifference))
            }
            lines.append("")
            lines.append(String(format: "Regime: %@ split, %d tokens in windows of %d, metric %@; the cache kept %d of %d boundaries (%.1f MB at the end).",
                                split.rawValue, tokenBudget, window, metric.rawValue, boundariesKept, blockCount - 1,
                                Double(bytesHeld) / 1e6))
            return lines.joined(separator: "\n")
        }
    }

    /// Every `stride`-th bootstrap candidate of the engine's model (probes, baselines, `samples` sampler draws).
    public static func policies(engine: BaseModelEngine, metric: MetricKind, samples: Int, stride: Int,
                                seed: UInt64) async throws -> [BootstrapCandidate] {
        let session = try await engine.session(for: metric)
        let candidates = try BootstrapCandidate.proposals(session: session, ratioRange: 0.05...0.7, count: samples, seed: seed,
                                                      probes: SensitivityProbes())
        return Swift.stride(from: 0, to: candidates.count, by: max(1, stride)).map { candidates[$0] }
    }

    /// Measures `policies` uncached, then with a cache of `cacheBytes`, and
    /// compares. The engine's cache setting is left at `cacheBytes`.
    /// - Parameter progress: told `(pass, done, total)` after each measurement.
    /// - Throws: what measuring throws; ``WorkflowError`` when `cacheBytes` is 0.
    public static func run(engine: BaseModelEngine, policies: [BootstrapCandidate], metric: MetricKind,
                           split: CorpusSplit, tokenBudget: Int, window: Int, cacheBytes: Int,
                           progress: (String, Int, Int) -> Void = { _, _, _ in }) async throws -> Report {
        guard cacheBytes > 0 else { throw WorkflowError("the cached pass needs a prefix cache budget above 0 bytes") }
        // Warm-up outside the timing: scores, calibration and tokens, which both passes reuse.
        _ = try await engine.prefix(of: split, tokenBudget: tokenBudget)
        _ = try await engine.session(for: metric)

        func pass(_ name: String, bytes: Int) async throws -> [(seconds: Double, perplexity: Double, skipped: Double)] {
            await engine.setPrefixCache(bytes: bytes)
            var results: [(Double, Double, Double)] = []
            for (index, candidate) in policies.enumerated() {
                let started = Date()
                let measured = try await engine.measure(policy: candidate.policy, metric: metric, split: split,
                                                        tokenBudget: tokenBudget, window: window)
                results.append((Date().timeIntervalSince(started), measured.perplexity, measured.blocksSkippedPerWindow))
                progress(name, index + 1, policies.count)
            }
            return results
        }
        let uncached = try await pass("uncached", bytes: 0)
        let cached = try await pass("cached", bytes: cacheBytes)
        let counters = await engine.prefixCacheCounters

        let kinds = policies.map { PolicySources.kind(of: $0.source) }
        var rows: [Row] = []
        func row(_ kind: String, _ indices: [Int]) -> Row {
            Row(kind: kind, count: indices.count,
                uncachedSeconds: indices.reduce(0) { $0 + uncached[$1].seconds },
                cachedSeconds: indices.reduce(0) { $0 + cached[$1].seconds },
                blocksSkippedPerWindow: indices.reduce(0) { $0 + cached[$1].skipped } / Double(max(1, indices.count)),
                largestRelativeDifference: indices.map { abs(cached[$0].perplexity / uncached[$0].perplexity - 1) }.max() ?? 0)
        }
        var order: [String] = []
        for kind in kinds where !order.contains(kind) { order.append(kind) }
        for kind in order { rows.append(row(kind, kinds.indices.filter { kinds[$0] == kind })) }
        rows.append(row("all", Array(kinds.indices)))
        let blockCount = engine.blockCount
        let boundariesKept = await engine.prefixCacheBoundaries?.count ?? 0
        return Report(rows: rows, split: split, tokenBudget: tokenBudget, window: window, metric: metric,
                      blockCount: blockCount, boundariesKept: boundariesKept, bytesHeld: counters?.bytesHeld ?? 0)
    }
}
