import Dispatch
import Foundation
import PPFContracts
import PPFModel

// MARK: - PruningSession

/// Everything a one-shot offline prune needs, prepared once: the checkpoint,
/// its calibration statistics (when the metric or a baseline needs them, from
/// the cache when possible) and the metric's scores. The library side of
/// `ppf prune`: each step is one call. Blocks on BLAS; use a dedicated thread.
public struct PruningSession: Sendable {
    /// The dense checkpoint.
    public let checkpoint: LlamaCheckpoint
    /// Its identity (file name and SHA-256).
    public let identity: ModelIdentity
    /// Calibration statistics, when computed.
    public let statistics: CalibrationStatistics?
    /// The metric's planner (scores computed once).
    public let builder: PlanBuilder
    /// Seconds spent obtaining the statistics (≈ 0 on a cache hit).
    public let calibrationSeconds: Double

    /// Prepares a session.
    ///
    /// - Parameters:
    ///   - calibration: the calibration statistics to use (nil: ``CalibrationSpec/standard(contextLength:windows:)``).
    ///   - calibrate: force calibration even when the metric needs none (for OWL / ShortGPT policies).
    public static func prepare(checkpoint: LlamaCheckpoint, corpus: Corpus, metric: MetricKind,
                               calibration: CalibrationSpec? = nil, cache: CalibrationCache?,
                               calibrate: Bool = false) throws(PruningError) -> PruningSession {
        let start = DispatchTime.now().uptimeNanoseconds
        let checksum = try SHA256.hex(ofFileAt: checkpoint.url)
        let identity = ModelIdentity(name: checkpoint.url.lastPathComponent, checksum: checksum)
        var statistics: CalibrationStatistics?
        if calibrate || metric.metric.needsStatistics {
            statistics = try Calibration.statistics(checkpoint: checkpoint, corpus: corpus, spec: calibration ?? .standard(contextLength: checkpoint.model.configuration.contextLength),
                                                       cache: cache)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let builder = try PlanBuilder(weights: checkpoint.model.weights, statistics: statistics, metric: metric.metric, model: identity)
        return PruningSession(checkpoint: checkpoint, identity: identity, statistics: statistics, builder: builder,
                              calibrationSeconds: seconds)
    }

    /// The policy of `source` for `targetRatio` (a file's policy is checked against the model).
    public func policy(_ source: PolicySource, targetRatio: Double?,
                       options: BaselineOptions = BaselineOptions()) throws(PruningError) -> PruningPolicy {
        switch source {
        case .baseline(let baseline):
            guard let targetRatio else {
                throw PruningError(.invalidRatio, "the \(baseline.rawValue) policy needs a target ratio (--ratio)")
            }
            return try baseline.policy(targetRatio: targetRatio, weights: checkpoint.model.weights, statistics: statistics,
                                       scores: builder.scores, options: options)
        case .file(let url):
            return try PolicyFile.read(from: url).policy(forBlockCount: checkpoint.model.configuration.blockCount)
        }
    }

    /// The plan of `policy`, checked against `targetRatio` when given.
    public func plan(_ policy: PruningPolicy, targetRatio: Double?,
                     tolerance: Double = PlanBuilder.defaultTolerance) throws(PruningError) -> PruningPlan {
        try builder.plan(policy, targetRatio: targetRatio, tolerance: tolerance)
    }

    /// The pruned model of `plan`.
    public func apply(_ plan: PruningPlan) throws(PruningError) -> LlamaModel {
        let weights = try PlanApplication.apply(plan, to: checkpoint.model.weights, statistics: statistics)
        do {
            return try LlamaModel(weights: weights)
        } catch {
            throw PruningError(wrapping: error)
        }
    }
}
