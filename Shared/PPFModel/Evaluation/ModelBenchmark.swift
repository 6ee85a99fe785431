import Dispatch
import Foundation
import PPFTensor

// MARK: - ModelBenchmark

/// Measures forward-pass speed per window size against the machine's sgemm
/// peak, in one run (design habit 15: a program prints the table; tests do not time).
///
/// Each timed window does exactly what a perplexity measurement does: a
/// forward pass over a fresh context plus the output head and log-softmax of
/// every position. Achieved GFLOP/s counts every gemm as 2·m·n·k from its
/// shapes (projections, attention QKᵀ and PV over the causal span, output head).
public enum ModelBenchmark {
    /// One window size's measurement.
    public struct Row: Sendable, Codable, Equatable {
        /// Tokens per window.
        public let window: Int
        /// Timed windows.
        public let repetitions: Int
        /// Mean seconds per window.
        public let secondsPerWindow: Double
        /// Window tokens per second.
        public let tokensPerSecond: Double
        /// gemm FLOPs of one window.
        public let flopsPerWindow: Double
        /// Achieved gemm GFLOP/s.
        public let gigaflopsPerSecond: Double
        /// Achieved GFLOP/s divided by the sgemm peak of the same run.
        public let fractionOfPeak: Double
        /// Peak resident memory of the process so far (VmHWM), in bytes; 0 where unavailable.
        public let peakResidentBytes: Int
    }

    /// A full benchmark run.
    public struct Report: Sendable, Codable {
        /// One row per window size.
        public let rows: [Row]
        /// The sgemm reference measured in the same run.
        public let sgemmPeak: GemmBenchmark.Result
        /// OpenBLAS threads used.
        public let threads: Int
        /// Parameters of the benchmarked model.
        public let parameterCount: Int

        /// The report as a markdown table with a one-line header.
        public func markdownTable() -> String {
            var lines = [
                String(format: "sgemm peak (%d×%d @ %d×%d): %.1f GFLOP/s, %d BLAS threads, %.1fM parameters",
                       sgemmPeak.m, sgemmPeak.k, sgemmPeak.k, sgemmPeak.n, sgemmPeak.gigaflopsPerSecond, threads,
                       Double(parameterCount) / 1e6),
                "",
                "| window | tokens/s | ms/window | GFLOP/window | GFLOP/s | % of sgemm peak | peak RSS (MiB) |",
                "|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for row in rows {
                lines.append(String(format: "| %d | %.0f | %.1f | %.2f | %.1f | %.0f%% | %.0f |",
                                    row.window, row.tokensPerSecond, row.secondsPerWindow * 1000, row.flopsPerWindow / 1e9,
                                    row.gigaflopsPerSecond, row.fractionOfPeak * 100, Double(row.peakResidentBytes) / 1_048_576))
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Benchmarks `model` at each window size (blocking; BLAS keeps the thread busy).
    ///
    /// - Parameters:
    ///   - windows: window lengths; each must fit the context length.
    ///   - repetitions: timed windows per size, after one untimed warm-up.
    ///   - tokens: the text to score (cycled as needed); default: a fixed pseudo-random sequence.
    public static func run(model: LlamaModel, windows: [Int] = [128, 512, 2048], repetitions: Int = 3,
                           tokens: [Int]? = nil) throws(ModelError) -> Report {
        let configuration = model.configuration
        let source: [Int]
        if let tokens, tokens.count >= 2 {
            try model.checkTokens(tokens)
            source = tokens
        } else {
            var generator = SeededGenerator(seed: 2025)
            source = (0..<4096).map { _ in generator.next(below: configuration.vocabularySize) }
        }
        // Peak is the best of a measurement before and after the windows, so a
        // moment of contention on a shared machine cannot understate it.
        let before = GemmBenchmark.measure()
        var timings: [(window: Int, seconds: Double, flops: Double, resident: Int)] = []
        for window in windows {
            guard window >= 2, window <= configuration.contextLength else {
                throw ModelError(.windowTooLong, "benchmark window \(window) is outside 2...\(configuration.contextLength)")
            }
            let cache = try KVCache(configuration: configuration, capacity: window)
            let workspace = try LlamaWorkspace(configuration: configuration, maximumTokens: window)
            let text = (0..<window).map { source[$0 % source.count] }
            func scoreWindow() throws(ModelError) {
                cache.reset()
                try model.forward(text, cache: cache, workspace: workspace)
                _ = model.negativeLogLikelihoods(targets: Array(text.dropFirst()), workspace: workspace)
            }
            try scoreWindow() // warm-up: page in weights, spin up BLAS threads
            workspace.resetFLOPs()
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<max(1, repetitions) { try scoreWindow() }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(max(1, repetitions))
            timings.append((window, seconds, workspace.flops / Double(max(1, repetitions)), ProcessMemory.peakResidentBytes()))
        }
        let after = GemmBenchmark.measure()
        let peak = after.gigaflopsPerSecond > before.gigaflopsPerSecond ? after : before
        let rows = timings.map { timing in
            let achieved = timing.flops / timing.seconds / 1e9
            return Row(window: timing.window, repetitions: max(1, repetitions), secondsPerWindow: timing.seconds,
                       tokensPerSecond: Double(timing.window) / timing.seconds, flopsPerWindow: timing.flops,
                       gigaflopsPerSecond: achieved, fractionOfPeak: achieved / peak.gigaflopsPerSecond,
                       peakResidentBytes: timing.resident)
        }
        return Report(rows: rows, sgemmPeak: peak, threads: BLAS.threadCount, parameterCount: model.weights.parameterCount)
    }
}

// MARK: - ProcessMemory

/// Memory statistics of this process, from `/proc/self/status` (Linux).
public enum ProcessMemory {
    /// Peak resident set size (`VmHWM`) in bytes, or 0 where `/proc` is unavailable.
    public static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            // "VmHWM:	  123456 kB"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return 0
    }
}
