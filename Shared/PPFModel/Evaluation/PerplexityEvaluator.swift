import Dispatch
import Foundation
import PPFTensor

// MARK: - PerplexityEvaluator

/// Measures a model's perplexity on a token sequence — the ground truth a
/// *measurement* records and the predictor learns from (design.md).
///
/// **Metric.** The first `tokenBudget` tokens are cut into non-overlapping
/// windows of `windowLength` tokens (a trailing remainder of at least 2 tokens
/// is a shorter last window). Each window runs in a fresh context, and every
/// position predicts the next token of the same window, so a window of n
/// tokens yields n − 1 predictions. `perplexity = exp(mean NLL)` over all
/// predictions. This is the same definition as the reference fixtures
/// (infra/reference), computed there with llama.cpp and numpy.
public struct PerplexityEvaluator: Sendable {
    /// The model under evaluation.
    public let model: LlamaModel
    /// Tokens per window (default 512).
    public let windowLength: Int

    /// Prepares an evaluator; throws `windowTooLong` past the context length and
    /// `windowTooShort` below 2 tokens.
    public init(model: LlamaModel, windowLength: Int = 512) throws(ModelError) {
        guard windowLength >= 2 else {
            throw ModelError(.windowTooShort, "a perplexity window needs at least 2 tokens, got \(windowLength)")
        }
        guard windowLength <= model.configuration.contextLength else {
            throw ModelError(.windowTooLong,
                             "window \(windowLength) exceeds the model's context length \(model.configuration.contextLength); choose a window ≤ \(model.configuration.contextLength)")
        }
        self.model = model
        self.windowLength = windowLength
    }

    /// The window boundaries used for `tokenCount` tokens.
    public func windows(tokenCount: Int) -> [Range<Int>] {
        Self.windows(tokenCount: tokenCount, windowLength: windowLength)
    }

    /// The window boundaries for `tokenCount` tokens in windows of `windowLength`.
    public static func windows(tokenCount: Int, windowLength: Int) -> [Range<Int>] {
        stride(from: 0, to: tokenCount, by: windowLength)
            .map { $0 ..< min(tokenCount, $0 + windowLength) }
            .filter { $0.count >= 2 }
    }

    /// Evaluates on the calling thread, which BLAS keeps busy throughout; see
    /// `evaluateOnDedicatedThread` for async callers.
    ///
    /// - Parameters:
    ///   - tokens: the split, tokenized.
    ///   - tokenBudget: use only the first N tokens (`nil`: all).
    ///   - prefixCache: the dense model's states for these tokens and windows:
    ///     each window starts at the deepest cached boundary within the blocks
    ///     this model shares with the dense one, and stores the missing
    ///     boundaries it computes (``DensePrefixCache``). The result is the
    ///     uncached one.
    ///   - progress: told after each window.
    /// - Throws: `emptySplit` when fewer than 2 tokens are available,
    ///   `tokenOutOfRange` for ids outside the vocabulary, `prefixCacheMismatch`
    ///   for a cache made for other tokens or another window length.
    public func evaluate(_ tokens: [Int], tokenBudget: Int? = nil, prefixCache: DensePrefixCache? = nil,
                         progress: (any ProgressReporter)? = nil) throws(ModelError) -> PerplexityResult {
        let used = min(tokens.count, max(0, tokenBudget ?? tokens.count))
        guard used >= 2 else {
            throw ModelError(.emptySplit,
                             "perplexity needs at least 2 tokens; the split has \(tokens.count) and the budget allows \(used)")
        }
        try model.checkTokens(Array(tokens[0..<used]))
        let ranges = windows(tokenCount: used)
        let shared: Int
        if let prefixCache {
            guard prefixCache.windowLength == windowLength, prefixCache.tokens.elementsEqual(tokens[0..<used]) else {
                throw ModelError(.prefixCacheMismatch,
                                 "the prefix cache holds \(prefixCache.tokens.count) tokens in windows of \(prefixCache.windowLength); this evaluation scores \(used) other tokens or windows of \(windowLength)")
            }
            shared = model.weights.leadingBlocksShared(with: prefixCache.dense)
        } else {
            shared = 0
        }
        let length = min(windowLength, used)
        let cache = try KVCache(configuration: model.configuration, capacity: length)
        let workspace = try LlamaWorkspace(configuration: model.configuration, maximumTokens: length)
        let clock = DispatchTime.now().uptimeNanoseconds
        var total: Double = 0
        var counted = 0
        var fed = 0
        var windowNLL: [Double] = []
        progress?.start(total: ranges.count, unit: "windows")
        for (index, range) in ranges.enumerated() {
            let window = Array(tokens[range])
            cache.reset()
            if let prefixCache {
                try forward(window, index: index, through: prefixCache, shared: shared, cache: cache, workspace: workspace)
            } else {
                try model.forward(window, cache: cache, workspace: workspace)
            }
            // Row i predicts token i + 1 of the same window.
            let nll = model.negativeLogLikelihoods(targets: Array(window.dropFirst()), workspace: workspace)
            let sum = nll.reduce(0, +)
            total += sum
            windowNLL.append(sum / Double(nll.count))
            counted += nll.count
            fed += window.count
            progress?.update(completed: index + 1, detail: String(format: "ppl %.3f", exp(total / Double(counted))))
        }
        progress?.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - clock) / 1e9
        let mean = total / Double(counted)
        return PerplexityResult(nll: mean, perplexity: exp(mean), tokensCounted: counted, windows: ranges.count,
                                seconds: seconds, tokensPerSecond: Double(fed) / max(seconds, 1e-9), windowNLL: windowNLL)
    }

    /// One window through the prefix cache: resume at the deepest cached
    /// boundary within the shared blocks, storing the missing ones on the way.
    private func forward(_ window: [Int], index: Int, through prefixCache: DensePrefixCache, shared: Int,
                         cache: KVCache, workspace: LlamaWorkspace) throws(ModelError) {
        let resume = shared > 0 ? prefixCache.resumePoint(window: index, atMost: shared) : nil
        let start = resume?.block ?? 0
        let wanted = start < shared ? prefixCache.missing(window: index, in: (start + 1)...shared) : []
        let capture = wanted.isEmpty ? nil : PrefixCapture(cache: prefixCache, window: index, wanted: wanted)
        if let resume {
            try resume.state.withUnsafeBufferPointer { (state) throws(ModelError) in
                try model.forward(window, resumingAt: resume.block, residual: state, cache: cache, workspace: workspace,
                                  observer: capture)
            }
        } else {
            try model.forward(window, cache: cache, workspace: workspace, observer: capture)
        }
        prefixCache.record(resumedAt: start, blockCount: model.configuration.blockCount)
    }

    /// `evaluate` on a dedicated dispatch queue, so the BLAS-bound loop never
    /// occupies a thread of the Swift cooperative pool (design habit 3).
    public func evaluateOnDedicatedThread(_ tokens: [Int], tokenBudget: Int? = nil,
                                          progress: (any ProgressReporter & Sendable)? = nil) async throws -> PerplexityResult {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "ppf.perplexity", qos: .userInitiated).async {
                continuation.resume(with: Result { try self.evaluate(tokens, tokenBudget: tokenBudget, progress: progress) })
            }
        }
    }
}
