// MARK: - PerplexityResult

/// One perplexity measurement: `perplexity = exp(nll)`.
public struct PerplexityResult: Sendable, Codable, Equatable {
    /// Mean negative log-likelihood per predicted token, in nats.
    public let nll: Double
    /// `exp(nll)`.
    public let perplexity: Double
    /// Predictions scored (each window of n tokens contributes n − 1).
    public let tokensCounted: Int
    /// Windows scored.
    public let windows: Int
    /// Wall-clock time of the evaluation.
    public let seconds: Double
    /// Tokens fed through the model per second (all window tokens, not only predictions).
    public let tokensPerSecond: Double
    /// Mean NLL of each window, in order (their spread shows how noisy a small budget is).
    public let windowNLL: [Double]

    /// Creates a result.
    public init(nll: Double, perplexity: Double, tokensCounted: Int, windows: Int, seconds: Double, tokensPerSecond: Double,
                windowNLL: [Double] = []) {
        self.nll = nll
        self.perplexity = perplexity
        self.tokensCounted = tokensCounted
        self.windows = windows
        self.seconds = seconds
        self.tokensPerSecond = tokensPerSecond
        self.windowNLL = windowNLL
    }
}
