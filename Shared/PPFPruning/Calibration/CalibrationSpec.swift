import PPFModel

// MARK: - CalibrationSpec

/// Which calibration activations to collect: `windows` consecutive,
/// non-overlapping windows of `windowLength` tokens from the start of `split`.
///
/// Consecutive windows (rather than FLAP's randomly sampled ones) make the
/// statistics a pure function of (model, corpus, spec), so plans are
/// deterministic and the cache key is exact.
public struct CalibrationSpec: Codable, Sendable, Hashable {
    /// The corpus split read (default `.calibration`, i.e. `wiki.calibration.raw`).
    public var split: CorpusSplit
    /// Number of windows (default 32).
    public var windows: Int
    /// Tokens per window, each run in a fresh context (default 512).
    public var windowLength: Int

    /// A spec; the defaults (32 × 512 = 16 384 tokens) take about a minute in release on 2 cores.
    public init(split: CorpusSplit = .calibration, windows: Int = 32, windowLength: Int = 512) {
        self.split = split
        self.windows = windows
        self.windowLength = windowLength
    }

    /// The calibration PPF plans a model with: `windows` windows of 512
    /// tokens, or of the model's context length when that is shorter. The
    /// pruner, the evaluator, model-host and `ppf` all use it, so one policy
    /// is planned the same way wherever it is planned.
    public static func standard(contextLength: Int, windows: Int = 32) -> CalibrationSpec {
        CalibrationSpec(windows: windows, windowLength: min(CalibrationSpec().windowLength, contextLength))
    }

    /// Tokens read in total.
    public var tokenCount: Int { windows * windowLength }

    /// Throws `invalidCalibration` unless both counts are positive.
    public func validate() throws(PruningError) {
        guard windows > 0, windowLength >= 1 else {
            throw PruningError(.invalidCalibration,
                               "calibration needs at least one window of at least one token (got \(windows) × \(windowLength))")
        }
    }

    /// A short label such as `calibration-32x512`.
    public var label: String { "\(split.rawValue)-\(windows)x\(windowLength)" }
}
