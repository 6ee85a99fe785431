import PPFTensor

// MARK: - Output head

extension LlamaModel {
    /// Logits of rows `rows` of the last forward pass: `xn · Eᵀ`, (R, d) @ (d, vocab) -> (R, vocab),
    /// written to `output` with row stride `vocab`. `E` is the untied head or the tied embedding.
    func headLogits(_ rows: Range<Int>, workspace ws: LlamaWorkspace, into output: UnsafeMutablePointer<Float>) {
        let d = configuration.embeddingLength
        let vocabulary = configuration.vocabularySize
        weights.outputHead.withUnsafeBufferPointer { head in
            ws.gemm(.none, .transposed, m: rows.count, n: vocabulary, k: d,
                    a: ws.normed.pointer + rows.lowerBound * d, lda: d,
                    b: head.baseAddress!, ldb: d, c: output, ldc: vocabulary)
        }
    }

    /// `−log p(target_i | tokens ≤ i)` for rows `0 ..< targets.count` of the last
    /// forward pass, in natural-log units.
    ///
    /// The (R, vocab) logits are computed `workspace.logitRows` rows at a time,
    /// so a 2048-token window never holds a (2048, 49152) matrix.
    func negativeLogLikelihoods(targets: [Int], workspace ws: LlamaWorkspace) -> [Double] {
        let vocabulary = configuration.vocabularySize
        var result = [Double](repeating: 0, count: targets.count)
        var start = 0
        while start < targets.count {
            let end = min(targets.count, start + ws.logitRows)
            headLogits(start..<end, workspace: ws, into: ws.logits.pointer)
            result.withUnsafeMutableBufferPointer { output in
                Kernels.forEachSlice(of: end - start, minimumPerSlice: 8) { rows in
                    for offset in rows {
                        let row = ws.logits.pointer + offset * vocabulary
                        let normaliser = Kernels.logSumExp(row, count: vocabulary)
                        output[start + offset] = Double(normaliser) - Double(row[targets[start + offset]])
                    }
                }
            }
            start = end
        }
        return result
    }

    /// The (T, vocab) logits of `tokens` scored as one fresh window (empty context).
    public func logits(for tokens: [Int]) throws(ModelError) -> Matrix {
        guard !tokens.isEmpty else { return Matrix(rows: 0, cols: configuration.vocabularySize) }
        let cache = try KVCache(configuration: configuration, capacity: tokens.count)
        let workspace = try LlamaWorkspace(configuration: configuration, maximumTokens: tokens.count)
        try forward(tokens, cache: cache, workspace: workspace)
        var result = Matrix(rows: tokens.count, cols: configuration.vocabularySize)
        result.withUnsafeMutableBufferPointer { output in
            headLogits(0..<tokens.count, workspace: workspace, into: output.baseAddress!)
        }
        return result
    }
}
