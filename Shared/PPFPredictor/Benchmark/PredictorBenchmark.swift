import Foundation
import PPFTensor

// MARK: - PredictorBenchmark

/// Measures how fast a predictor answers, for the report that sets it beside
/// the true measurement it replaces (about a minute per policy).
///
/// A program, not a timed test (style habit 15): callers print the result.
public enum PredictorBenchmark {
    /// Timings of one predictor on one machine.
    public struct Result: Codable, Sendable, Hashable {
        /// Ensemble members (each prediction runs every member).
        public let memberCount: Int
        /// Median wall-clock seconds of one `predict` call on a single policy.
        public let singlePolicyLatencySeconds: Double
        /// Policies per batched `predict` call.
        public let batchSize: Int
        /// Fastest wall-clock seconds of one batched call.
        public let batchSeconds: Double
        /// `batchSize / batchSeconds`.
        public let policiesPerSecond: Double
        /// OpenBLAS threads during the measurement.
        public let blasThreads: Int

        /// How many times faster a single prediction is than a measurement taking `seconds`.
        public func speedup(overMeasurementSeconds seconds: Double) -> Double {
            seconds / singlePolicyLatencySeconds
        }
    }

    /// Times `predictor` on `policies`: single-policy latency (median of
    /// `singleRepetitions` calls cycling through the policies, after a warm-up)
    /// and batched throughput (best of `batchRepetitions` calls on all of them).
    /// - Throws: the prediction's errors (a spec mismatch), or
    ///   `degenerateInput` for an empty policy list.
    public static func measure(
        _ predictor: PerformancePredictor,
        policies: [PolicyFeatures],
        singleRepetitions: Int = 200,
        batchRepetitions: Int = 5
    ) throws(PredictorError) -> Result {
        guard !policies.isEmpty else {
            throw PredictorError(.degenerateInput, "the benchmark needs at least one policy")
        }
        _ = try predictor.predict(policies[0])
        var latencies: [Double] = []
        for repetition in 0..<max(1, singleRepetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try predictor.predict(policies[repetition % policies.count])
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        var best = Double.infinity
        for _ in 0..<max(1, batchRepetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try predictor.predict(policies)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Result(memberCount: predictor.members.count,
                      singlePolicyLatencySeconds: Statistics.median(latencies),
                      batchSize: policies.count, batchSeconds: best,
                      policiesPerSecond: Double(policies.count) / best, blasThreads: BLAS.threadCount)
    }
}
