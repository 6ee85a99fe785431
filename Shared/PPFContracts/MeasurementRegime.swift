import Foundation

// MARK: - MeasurementRegime

/// The conditions a perplexity measurement is taken under: the importance
/// metric its plan used, and the corpus split, token budget and window it
/// was scored on.
///
/// Perplexities are comparable only within one regime, so evaluation
/// requests carry it, the predictor trains on one, the agent publishes
/// policies and verifies static candidates in its predictor's, and the
/// benches and reports say which one they read. This is the only type that
/// describes it.
public struct MeasurementRegime: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Importance metric of the plans (`evaluation_requests.metric`), e.g. `flap`.
    public var metric: String
    /// Corpus split scored (`calibration`, `validation` or `test`).
    public var split: String
    /// Tokens scored per measurement.
    public var tokenBudget: Int
    /// Window per scored chunk.
    public var window: Int

    /// Creates a regime.
    public init(metric: String, split: String, tokenBudget: Int, window: Int) {
        self.metric = metric
        self.split = split
        self.tokenBudget = tokenBudget
        self.window = window
    }

    /// `ppf bootstrap`'s defaults: FLAP plans scored on the validation split,
    /// 1024 tokens in windows of 256. Also the regime assumed for a predictor
    /// whose measurements are not stored (an artifact made elsewhere).
    public static let bootstrapDefault = MeasurementRegime(metric: "flap", split: "validation", tokenBudget: 1024,
                                                           window: 256)

    public var description: String { "\(metric) plans, \(split) split, \(tokenBudget) tokens in windows of \(window)" }
}

extension EvaluationRequest {
    /// The regime the request asks to be measured in.
    public var regime: MeasurementRegime {
        MeasurementRegime(metric: metric, split: split, tokenBudget: tokenBudget, window: window)
    }

    /// A request to measure `policy` (stored as `policyId`) in `regime`.
    /// - Throws: ``EnvelopeRejection/invalidPayload(_:)``; see ``validate()``.
    public init(requestId: UUID, modelId: String, policyId: UUID, policy: PruningPolicy, regime: MeasurementRegime,
                reason: EvaluationReason) throws(EnvelopeRejection) {
        try self.init(requestId: requestId, modelId: modelId, policyId: policyId, policy: policy, metric: regime.metric,
                      split: regime.split, tokenBudget: regime.tokenBudget, window: regime.window, reason: reason)
    }
}
