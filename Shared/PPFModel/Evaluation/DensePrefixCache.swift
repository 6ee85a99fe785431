import Foundation

// MARK: - DensePrefixCache

/// The dense model's residual stream at block boundaries, for every window
/// of one measurement regime (tokens and window length), so a measurement
/// of a model that shares the dense model's first k blocks starts at the
/// boundary nearest k instead of at the embedding (issue 15 §4).
///
/// A sensitivity probe prunes one block and leaves the rest dense, so a
/// probe of block k skips k of the n blocks; a policy that prunes every block
/// gains nothing. Results are those of an uncached evaluation: the skipped
/// blocks are the same matrices fed the same tokens, and the states were
/// captured from an earlier pass through exactly those blocks.
///
/// **Filling costs nothing extra.** No dense pass is run for the cache: every
/// evaluation through it stores, per window, the boundaries up to its shared
/// prefix that are still missing, taking them from the blocks it computes
/// anyway. The first probe of a deep block therefore pays full price once.
///
/// **Bounded memory.** A boundary costs 4·d bytes per token of the regime.
/// The cache keeps every boundary `1 ..< blockCount` that fits in `byteBudget`,
/// or, when not all fit, every s-th boundary (s the smallest stride that
/// fits), so a measurement resumes at most s − 1 blocks before where it could.
///
/// Thread-safe (one lock around the stored states); a regime's evaluations
/// normally run one after another on one queue.
public final class DensePrefixCache: @unchecked Sendable {
    /// The dense weights the states were computed with.
    public let dense: LlamaWeights
    /// The tokens of the regime (after its token budget).
    public let tokens: [Int]
    /// Tokens per window, as ``PerplexityEvaluator/windowLength``.
    public let windowLength: Int
    /// The bytes the states may take.
    public let byteBudget: Int
    /// The boundaries kept, ascending: boundary b is the residual entering block b.
    public let boundaries: [Int]
    /// The regime's windows, as the evaluator cuts them.
    let windows: [Range<Int>]

    private let lock = NSLock()
    private var states: [[Int: [Float]]]
    private var tally = Counters()

    /// What the cache has done so far.
    public struct Counters: Sendable, Equatable {
        /// Windows that started at a cached boundary.
        public var windowsResumed = 0
        /// Windows evaluated through the cache from the embedding (nothing cached yet, or nothing shared).
        public var windowsFromStart = 0
        /// Blocks not computed thanks to the cache, summed over windows.
        public var blocksSkipped = 0
        /// Blocks computed in evaluations through the cache, summed over windows.
        public var blocksComputed = 0
        /// Bytes of states held now.
        public var bytesHeld = 0
    }

    /// A cache for `tokens` cut into windows of `windowLength`, holding at most `byteBudget` bytes.
    /// - Throws: `windowTooShort` for a window under 2 tokens, `emptySplit` for fewer than 2 tokens.
    public init(dense: LlamaWeights, tokens: [Int], windowLength: Int, byteBudget: Int) throws(ModelError) {
        guard windowLength >= 2 else {
            throw ModelError(.windowTooShort, "a perplexity window needs at least 2 tokens, got \(windowLength)")
        }
        guard tokens.count >= 2 else {
            throw ModelError(.emptySplit, "a prefix cache needs at least 2 tokens, got \(tokens.count)")
        }
        self.dense = dense
        self.tokens = tokens
        self.windowLength = windowLength
        self.byteBudget = max(0, byteBudget)
        windows = PerplexityEvaluator.windows(tokenCount: tokens.count, windowLength: windowLength)
        let perBoundary = windows.reduce(0) { $0 + $1.count } * dense.configuration.embeddingLength
            * MemoryLayout<Float>.size
        boundaries = Self.boundaries(blockCount: dense.configuration.blockCount, fitting: self.byteBudget / perBoundary)
        states = Array(repeating: [:], count: windows.count)
    }

    /// Every boundary `1 ..< blockCount` when `capacity` allows, else every s-th.
    static func boundaries(blockCount n: Int, fitting capacity: Int) -> [Int] {
        guard n > 1, capacity > 0 else { return [] }
        let stride = max(1, (n - 1 + capacity - 1) / capacity)
        return Array(Swift.stride(from: stride, to: n, by: stride))
    }

    /// What the cache has done so far.
    public var counters: Counters { lock.withLock { tally } }

    /// The deepest stored boundary at or before `limit` for window `window`, with its state (rows × d).
    func resumePoint(window: Int, atMost limit: Int) -> (block: Int, state: [Float])? {
        lock.withLock {
            guard let block = states[window].keys.filter({ $0 <= limit }).max() else { return nil }
            return (block, states[window][block]!)
        }
    }

    /// The boundaries in `range` this cache keeps but has not stored yet for `window`.
    func missing(window: Int, in range: ClosedRange<Int>) -> Set<Int> {
        lock.withLock { Set(boundaries.filter { range.contains($0) && states[window][$0] == nil }) }
    }

    /// Stores the residual entering block `boundary` of `window` (rows × d).
    func store(window: Int, boundary: Int, _ state: UnsafeBufferPointer<Float>) {
        let copy = Array(state)
        lock.withLock {
            guard states[window][boundary] == nil else { return }
            states[window][boundary] = copy
            tally.bytesHeld += copy.count * MemoryLayout<Float>.size
        }
    }

    /// Counts one window evaluated through the cache.
    func record(resumedAt block: Int, blockCount: Int) {
        lock.withLock {
            if block > 0 { tally.windowsResumed += 1 } else { tally.windowsFromStart += 1 }
            tally.blocksSkipped += block
            tally.blocksComputed += blockCount - block
        }
    }
}

// MARK: - Capturing boundaries

/// Copies the residual at the wanted boundaries of one window into the cache.
final class PrefixCapture: LlamaResidualObserver {
    let cache: DensePrefixCache
    let window: Int
    let wanted: Set<Int>

    init(cache: DensePrefixCache, window: Int, wanted: Set<Int>) {
        self.cache = cache
        self.window = window
        self.wanted = wanted
    }

    func blockInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {
        if wanted.contains(layer) { cache.store(window: window, boundary: layer, x) }
    }

    func blockOutput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func attentionInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func attentionOutputInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func mlpInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
    func downInput(layer: Int, _ x: UnsafeBufferPointer<Float>, rows: Int, cols: Int) {}
}
