import PPFTensor

// MARK: - KVCache

/// The keys and values of every processed position, per attention block, so
/// that later tokens attend to earlier ones without recomputing them.
///
/// Block `l` keeps two (capacity, kv_l·hd) row-major buffers; row `p` holds
/// the (already rotated) key and the value of position `p`. Blocks without
/// attention keep nothing. Not thread-safe: one session owns one cache.
public final class KVCache {
    /// The model shape the buffers were sized for.
    public let configuration: LlamaConfiguration
    /// Positions the cache can hold.
    public let capacity: Int
    /// Positions filled so far; the next token is at this position.
    public internal(set) var count: Int = 0
    /// The first block whose keys and values cover every position: 0, unless
    /// the window was resumed at a later block from cached hidden states
    /// (``LlamaModel/forward(_:resumingAt:residual:cache:workspace:observer:)``),
    /// in which case the earlier blocks hold nothing and the cache cannot be continued.
    public internal(set) var filledFromBlock: Int = 0
    /// Per block: (capacity, kv·hd) keys, `nil` without attention.
    let keys: [FloatBuffer?]
    /// Per block: (capacity, kv·hd) values, `nil` without attention.
    let values: [FloatBuffer?]

    /// Allocates a cache for `capacity` positions of a model with `configuration`.
    public init(configuration: LlamaConfiguration, capacity: Int) throws(ModelError) {
        guard capacity > 0, capacity <= configuration.contextLength else {
            throw ModelError(.contextOverflow,
                             "a KV cache of \(capacity) positions is outside 1...\(configuration.contextLength) (the model's context length)")
        }
        self.configuration = configuration
        self.capacity = capacity
        keys = configuration.blocks.map { $0.hasAttention ? FloatBuffer(count: capacity * $0.keyValueHeads * configuration.headDimension) : nil }
        values = configuration.blocks.map { $0.hasAttention ? FloatBuffer(count: capacity * $0.keyValueHeads * configuration.headDimension) : nil }
    }

    /// Positions still free.
    public var remaining: Int { capacity - count }

    /// Forgets every position (the buffers are reused, not freed).
    public func reset() {
        count = 0
        filledFromBlock = 0
    }
}
