import PPFTensor

// MARK: - LlamaWorkspace

/// Preallocated scratch buffers for forward passes of up to `maximumTokens`
/// tokens attending to up to `maximumKeys` positions.
///
/// Allocated once per window size, so the layer loop allocates nothing. Not
/// thread-safe: one forward pass at a time uses a workspace.
public final class LlamaWorkspace {
    /// The model shape the buffers were sized for.
    public let configuration: LlamaConfiguration
    /// Most tokens one forward call may process.
    public let maximumTokens: Int
    /// Most positions one token may attend to (the KV cache capacity).
    public let maximumKeys: Int
    /// Rows of the output head computed per gemm (bounds the logits buffer: 256 rows of a
    /// 49k vocabulary are 50 MB; fewer rows re-stream the 113 MB head matrix more often).
    public let logitRows: Int
    /// Floating-point operations of all gemms since creation or `resetFLOPs()`, counted as 2·m·n·k each.
    public private(set) var flops: Double = 0

    /// (T, d) residual stream.
    let hidden: FloatBuffer
    /// (T, d) normalised input of the current sublayer; after a forward pass, the final-normed states.
    let normed: FloatBuffer
    /// (T, q·hd) queries of the current block.
    let query: FloatBuffer
    /// (T, q·hd) concatenated head outputs (input of the output projection).
    let attention: FloatBuffer
    /// (g·rows, maximumKeys) attention scores of one KV group's g heads and one row chunk.
    let scores: FloatBuffer
    /// (g·rows, hd) queries of one KV group's heads for one row chunk, head after head.
    let groupQueries: FloatBuffer
    /// (g·rows, hd) outputs of one KV group's heads for one row chunk, head after head.
    let groupOutputs: FloatBuffer
    /// (T, ff) gate activations, then SwiGLU output (input of the down projection).
    let gate: FloatBuffer
    /// (T, ff) up activations.
    let up: FloatBuffer
    /// (logitRows, vocab) a chunk of logits.
    let logits: FloatBuffer

    /// Query rows whose attention scores are computed together; causal masking
    /// lets each chunk skip the keys after its last row.
    static let attentionRows = 128

    /// Allocates scratch for `configuration` and windows of up to `maximumTokens`
    /// tokens attending to at most `maximumKeys` positions (default: `maximumTokens`).
    public init(configuration c: LlamaConfiguration, maximumTokens: Int, maximumKeys: Int? = nil,
                logitRows: Int = 256) throws(ModelError) {
        let keys = maximumKeys ?? maximumTokens
        guard maximumTokens > 0, maximumTokens <= keys, keys <= c.contextLength, logitRows > 0 else {
            throw ModelError(.contextOverflow,
                             "a workspace for \(maximumTokens) tokens and \(keys) keys does not fit the context length \(c.contextLength)")
        }
        self.configuration = c
        self.maximumTokens = maximumTokens
        self.maximumKeys = keys
        self.logitRows = min(logitRows, maximumTokens)
        let t = maximumTokens
        hidden = FloatBuffer(count: t * c.embeddingLength)
        normed = FloatBuffer(count: t * c.embeddingLength)
        query = FloatBuffer(count: t * c.maximumQueryWidth)
        attention = FloatBuffer(count: t * c.maximumQueryWidth)
        let groupRows = (c.blocks.map(\.groupSize).max() ?? 0) * min(t, Self.attentionRows)
        scores = FloatBuffer(count: groupRows * keys)
        groupQueries = FloatBuffer(count: groupRows * c.headDimension)
        groupOutputs = FloatBuffer(count: groupRows * c.headDimension)
        gate = FloatBuffer(count: t * c.maximumFeedForwardLength)
        up = FloatBuffer(count: t * c.maximumFeedForwardLength)
        logits = FloatBuffer(count: self.logitRows * c.vocabularySize)
    }

    /// Sets the FLOP counter to zero.
    public func resetFLOPs() { flops = 0 }

    /// Every matrix product of the forward pass goes through here: one
    /// `BLAS.gemm`, plus exact FLOP accounting (2·m·n·k).
    @inline(__always)
    func gemm(
        _ transA: BLAS.Transpose, _ transB: BLAS.Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLAS.gemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
        flops += 2 * Double(m) * Double(n) * Double(k)
    }
}
