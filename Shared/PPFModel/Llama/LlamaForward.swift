import PPFTensor

// MARK: - Forward pass

extension LlamaModel {
    /// Runs `tokens` through every block, continuing the sequence held in `cache`.
    ///
    /// The T new tokens take positions `cache.count ..< cache.count + T`; their
    /// keys and values are appended to `cache`, and each attends causally to
    /// every earlier position. Afterwards `workspace.normed` holds the final
    /// RMS-normed hidden states, (T, d), ready for the output head.
    ///
    /// A whole perplexity window is one call on an empty cache; incremental
    /// decoding is one call per new token. Both run the same code.
    ///
    /// Structure follows LLaMA (Touvron et al. 2023, §2) and llama.cpp's
    /// `llm_build_llama`: pre-norm residual blocks; a block without attention
    /// or MLP (pruned away) leaves the residual unchanged for that sublayer.
    public func forward(
        _ tokens: [Int], cache: KVCache, workspace: LlamaWorkspace,
        observer: (any LlamaActivationObserver)? = nil
    ) throws(ModelError) {
        guard !tokens.isEmpty else { return }
        try checkForward(tokens, cache: cache, workspace: workspace)
        guard cache.count == 0 || cache.filledFromBlock == 0 else {
            throw ModelError(.incompleteCache,
                             "the KV cache was filled from block \(cache.filledFromBlock) on (a resumed window) and cannot be continued; reset it first")
        }
        if cache.count == 0 { cache.filledFromBlock = 0 }
        let d = configuration.embeddingLength
        let x = workspace.hidden.pointer
        // MARK: Embedding: x[i, :] = E[token_i, :]                           -> (T, d)
        weights.tokenEmbedding.withUnsafeBufferPointer { embedding in
            for (i, token) in tokens.enumerated() {
                (x + i * d).update(from: embedding.baseAddress! + token * d, count: d)
            }
        }
        runBlocks(from: 0, t: tokens.count, cache: cache, workspace: workspace, observer: observer)
    }

    /// Runs `tokens` as a fresh window from block `block` on, given the
    /// residual stream entering that block, (T, d): what ``forward(_:cache:workspace:observer:)``
    /// computes when blocks `0 ..< block` are known to produce `residual`
    /// (a ``DensePrefixCache`` hit). `block == blockCount` applies only the final norm.
    ///
    /// The cache must be empty; afterwards it holds keys and values of blocks
    /// `block...` only, so it cannot be continued (``KVCache/filledFromBlock``)
    /// until reset. `workspace.normed` holds the final normed states as after `forward`.
    /// - Throws: `shapeMismatch` for a residual of the wrong size or a block
    ///   outside `0...blockCount`, `incompleteCache` for a cache already in use,
    ///   and what `forward` throws.
    public func forward(
        _ tokens: [Int], resumingAt block: Int, residual: UnsafeBufferPointer<Float>,
        cache: KVCache, workspace: LlamaWorkspace, observer: (any LlamaActivationObserver)? = nil
    ) throws(ModelError) {
        let d = configuration.embeddingLength
        guard !tokens.isEmpty else { return }
        guard (0...configuration.blockCount).contains(block) else {
            throw ModelError(.shapeMismatch, "cannot resume at block \(block) of a \(configuration.blockCount)-block model")
        }
        guard residual.count == tokens.count * d else {
            throw ModelError(.shapeMismatch,
                             "a resumed window of \(tokens.count) tokens needs a (\(tokens.count) × \(d)) residual, got \(residual.count) values")
        }
        try checkForward(tokens, cache: cache, workspace: workspace)
        guard cache.count == 0 else {
            throw ModelError(.incompleteCache, "a window can only resume on an empty KV cache; it holds \(cache.count) positions")
        }
        workspace.hidden.pointer.update(from: residual.baseAddress!, count: residual.count)
        cache.filledFromBlock = block
        runBlocks(from: block, t: tokens.count, cache: cache, workspace: workspace, observer: observer)
    }

    /// The checks every forward pass makes before touching a buffer.
    private func checkForward(_ tokens: [Int], cache: KVCache, workspace: LlamaWorkspace) throws(ModelError) {
        let t = tokens.count
        try checkTokens(tokens)
        // Buffers are sized per block; another model's cache or workspace would be overrun.
        guard cache.configuration == configuration, workspace.configuration == configuration else {
            throw ModelError(.shapeMismatch, "the KV cache or workspace was made for a differently shaped model; create them from this model's configuration")
        }
        guard t <= workspace.maximumTokens, cache.capacity <= workspace.maximumKeys else {
            throw ModelError(.contextOverflow,
                             "\(t) tokens with a \(cache.capacity)-position cache exceed the workspace (\(workspace.maximumTokens) tokens, \(workspace.maximumKeys) keys)")
        }
        guard t <= cache.remaining else {
            throw ModelError(.contextOverflow,
                             "\(t) new tokens do not fit: the cache holds \(cache.count) of \(cache.capacity) positions")
        }
    }

    /// Blocks `first ..< blockCount` on the residual in `workspace.hidden`, then the final norm.
    private func runBlocks(from first: Int, t: Int, cache: KVCache, workspace: LlamaWorkspace,
                           observer: (any LlamaActivationObserver)?) {
        let c = configuration
        let d = c.embeddingLength
        let x = workspace.hidden.pointer
        let xn = workspace.normed.pointer
        let residualObserver = observer as? any LlamaResidualObserver
        let residual = UnsafeBufferPointer(start: x, count: t * d)
        for layer in first..<c.blockCount {
            let block = weights.blocks[layer]
            residualObserver?.blockInput(layer: layer, residual, rows: t, cols: d)
            if let attention = block.attention {
                attentionSublayer(layer, attention, t: t, cache: cache, workspace: workspace, observer: observer)
            }
            if let mlp = block.mlp {
                mlpSublayer(layer, mlp, t: t, workspace: workspace, observer: observer)
            }
            residualObserver?.blockOutput(layer: layer, residual, rows: t, cols: d)
        }
        cache.count += t

        // MARK: Final norm: xn = RMSNorm(x) · w_out                          -> (T, d)
        weights.outputNorm.withUnsafeBufferPointer { w in
            Kernels.rmsNorm(x, weight: w.baseAddress!, into: xn, rows: t, cols: d, epsilon: c.rmsNormEpsilon)
        }
    }

    // MARK: - Attention sublayer

    /// x += Attention(RMSNorm(x)) (+ output bias), grouped-query, causal, with RoPE.
    private func attentionSublayer(
        _ layer: Int, _ w: LlamaWeights.Attention, t: Int, cache: KVCache,
        workspace ws: LlamaWorkspace, observer: (any LlamaActivationObserver)?
    ) {
        let c = configuration
        let d = c.embeddingLength
        let hd = c.headDimension
        let shape = c.block(layer)
        let qWidth = shape.queryHeads * hd       // q·hd
        let kvWidth = shape.keyValueHeads * hd   // kv·hd
        let p0 = cache.count                     // position of the first new token
        let x = ws.hidden.pointer, xn = ws.normed.pointer
        let q = ws.query.pointer, heads = ws.attention.pointer, scores = ws.scores.pointer
        // Rows p0 ..< p0+T of this block's cache receive the new keys and values.
        let keys = cache.keys[layer]!.pointer, values = cache.values[layer]!.pointer
        let newKeys = keys + p0 * kvWidth, newValues = values + p0 * kvWidth

        // xn = RMSNorm(x) · w_attn_norm                                      -> (T, d)
        w.norm.withUnsafeBufferPointer { norm in
            Kernels.rmsNorm(x, weight: norm.baseAddress!, into: xn, rows: t, cols: d, epsilon: c.rmsNormEpsilon)
        }
        observer?.attentionInput(layer: layer, UnsafeBufferPointer(start: xn, count: t * d), rows: t, cols: d)

        // Q = xn · Wqᵀ : (T, d) @ (d, q·hd) -> (T, q·hd)
        w.query.withUnsafeBufferPointer { wq in
            ws.gemm(.none, .transposed, m: t, n: qWidth, k: d, a: xn, lda: d, b: wq.baseAddress!, ldb: d, c: q, ldc: qWidth)
        }
        // K = xn · Wkᵀ : (T, d) @ (d, kv·hd) -> (T, kv·hd), written straight into the cache
        w.key.withUnsafeBufferPointer { wk in
            ws.gemm(.none, .transposed, m: t, n: kvWidth, k: d, a: xn, lda: d, b: wk.baseAddress!, ldb: d, c: newKeys, ldc: kvWidth)
        }
        // V = xn · Wvᵀ : (T, d) @ (d, kv·hd) -> (T, kv·hd), into the cache
        w.value.withUnsafeBufferPointer { wv in
            ws.gemm(.none, .transposed, m: t, n: kvWidth, k: d, a: xn, lda: d, b: wv.baseAddress!, ldb: d, c: newValues, ldc: kvWidth)
        }

        // RoPE on Q and the new K: adjacent pairs (2i, 2i+1), positions p0 ..< p0+T
        Kernels.applyRoPE(q, rows: t, rowStride: qWidth, heads: shape.queryHeads, firstPosition: p0, table: rope)
        Kernels.applyRoPE(newKeys, rows: t, rowStride: kvWidth, heads: shape.keyValueHeads, firstPosition: p0, table: rope)

        // Per KV group g, its query heads h = g·gs ..< (g+1)·gs share K_g and V_g
        // (GQA, Ainslie et al. 2023). They are stacked into one (gs·rows, hd)
        // matrix so each product packs K_g / V_g once, and processed in chunks of
        // query rows i0 ..< i1. Causality: row i (position p0+i) sees keys
        // 0 ... p0+i, so a chunk needs only the first p0+i1 keys — the upper
        // triangle beyond the chunk is never computed.
        let scale = 1 / Float(hd).squareRoot()
        let chunk = LlamaWorkspace.attentionRows
        let gs = shape.groupSize
        let stackedQ = ws.groupQueries.pointer, stackedO = ws.groupOutputs.pointer
        for g in 0..<shape.keyValueHeads {
            var i0 = 0
            while i0 < t {
                let i1 = min(t, i0 + chunk)
                let rows = i1 - i0
                let span = p0 + i1                 // keys visible to the chunk's last row
                // Stack: Qs[j·rows + r, :] = Q[i0 + r, (g·gs + j)·hd ..< +hd]  -> (gs·rows, hd)
                for j in 0..<gs {
                    for r in 0..<rows {
                        (stackedQ + (j * rows + r) * hd).update(from: q + (i0 + r) * qWidth + (g * gs + j) * hd, count: hd)
                    }
                }
                // S = Qs · K_gᵀ / √hd : (gs·rows, hd) @ (hd, span) -> (gs·rows, span)
                ws.gemm(.none, .transposed, m: gs * rows, n: span, k: hd, alpha: scale,
                        a: stackedQ, lda: hd, b: keys + g * hd, ldb: kvWidth, c: scores, ldc: span)
                // Causal mask + softmax: row (j, r) is position p0+i0+r and keeps keys 0 ... p0+i0+r
                Kernels.forEachSlice(of: gs * rows, minimumPerSlice: 32) { stacked in
                    for index in stacked {
                        let visible = p0 + i0 + index % rows + 1
                        let row = scores + index * span
                        Kernels.softmax(row, count: visible)
                        if visible < span { (row + visible).update(repeating: 0, count: span - visible) }
                    }
                }
                // Os = P · V_g : (gs·rows, span) @ (span, hd) -> (gs·rows, hd)
                ws.gemm(.none, .none, m: gs * rows, n: hd, k: span,
                        a: scores, lda: span, b: values + g * hd, ldb: kvWidth, c: stackedO, ldc: hd)
                // Unstack into the head columns of (T, q·hd): O[i0 + r, (g·gs + j)·hd ..< +hd] = Os[j·rows + r, :]
                for j in 0..<gs {
                    for r in 0..<rows {
                        (heads + (i0 + r) * qWidth + (g * gs + j) * hd).update(from: stackedO + (j * rows + r) * hd, count: hd)
                    }
                }
                i0 = i1
            }
        }
        observer?.attentionOutputInput(layer: layer, UnsafeBufferPointer(start: heads, count: t * qWidth), rows: t, cols: qWidth)

        // x += O · Woᵀ : (T, q·hd) @ (q·hd, d) -> (T, d), accumulated (beta = 1) into the residual
        w.output.withUnsafeBufferPointer { wo in
            ws.gemm(.none, .transposed, m: t, n: d, k: qWidth, a: heads, lda: qWidth, b: wo.baseAddress!, ldb: qWidth,
                    beta: 1, c: x, ldc: d)
        }
        // x += b_o (bias compensation of a pruned model)                     -> (T, d)
        w.outputBias?.withUnsafeBufferPointer { bias in
            Kernels.addBias(bias.baseAddress!, into: x, rows: t, cols: d)
        }
    }

    // MARK: - MLP sublayer

    /// x += W_down · (silu(W_gate · RMSNorm(x)) ⊙ W_up · RMSNorm(x)) (+ down bias).
    private func mlpSublayer(
        _ layer: Int, _ w: LlamaWeights.MLP, t: Int,
        workspace ws: LlamaWorkspace, observer: (any LlamaActivationObserver)?
    ) {
        let c = configuration
        let d = c.embeddingLength
        let ff = c.feedForwardLengths[layer]
        let x = ws.hidden.pointer, xn = ws.normed.pointer
        let gate = ws.gate.pointer, up = ws.up.pointer

        // xn = RMSNorm(x) · w_ffn_norm                                       -> (T, d)
        w.norm.withUnsafeBufferPointer { norm in
            Kernels.rmsNorm(x, weight: norm.baseAddress!, into: xn, rows: t, cols: d, epsilon: c.rmsNormEpsilon)
        }
        observer?.mlpInput(layer: layer, UnsafeBufferPointer(start: xn, count: t * d), rows: t, cols: d)

        // G = xn · Wgᵀ : (T, d) @ (d, ff) -> (T, ff)
        w.gate.withUnsafeBufferPointer { wg in
            ws.gemm(.none, .transposed, m: t, n: ff, k: d, a: xn, lda: d, b: wg.baseAddress!, ldb: d, c: gate, ldc: ff)
        }
        // U = xn · Wuᵀ : (T, d) @ (d, ff) -> (T, ff)
        w.up.withUnsafeBufferPointer { wu in
            ws.gemm(.none, .transposed, m: t, n: ff, k: d, a: xn, lda: d, b: wu.baseAddress!, ldb: d, c: up, ldc: ff)
        }
        // G = silu(G) ⊙ U (SwiGLU)                                           -> (T, ff)
        Kernels.forEachSlice(of: t, minimumPerSlice: 16) { rows in
            Kernels.siluMultiply(gate + rows.lowerBound * ff, by: up + rows.lowerBound * ff, count: rows.count * ff)
        }
        observer?.downInput(layer: layer, UnsafeBufferPointer(start: gate, count: t * ff), rows: t, cols: ff)

        // x += G · Wdᵀ : (T, ff) @ (ff, d) -> (T, d), accumulated into the residual
        w.down.withUnsafeBufferPointer { wd in
            ws.gemm(.none, .transposed, m: t, n: d, k: ff, a: gate, lda: ff, b: wd.baseAddress!, ldb: ff,
                    beta: 1, c: x, ldc: d)
        }
        // x += b_down (bias compensation of a pruned model)                  -> (T, d)
        w.downBias?.withUnsafeBufferPointer { bias in
            Kernels.addBias(bias.baseAddress!, into: x, rows: t, cols: d)
        }
    }
}
