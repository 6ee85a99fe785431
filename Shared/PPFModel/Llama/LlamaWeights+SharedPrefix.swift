import PPFTensor

// MARK: - Shared leading blocks

extension LlamaWeights {
    /// How many leading blocks `self` and `other` compute identically: the
    /// embedding, the global hyperparameters and blocks `0 ..< n` are equal,
    /// so both models hold the same residual stream at the input of block `n`
    /// for any tokens.
    ///
    /// This is what lets a measurement of a pruned model start from cached
    /// dense hidden states (``DensePrefixCache``): a plan that leaves its first
    /// k blocks unpruned returns those blocks' very matrices (PlanApplication
    /// slices nothing it keeps whole), so the comparison is an identity check
    /// of shared storage and costs nothing; equal values in separate storage
    /// compare equal too, as they compute the same. A dropped block shifts
    /// every later block by one, which the positional comparison sees.
    /// A missing bias and an all-zero bias add the same (nothing).
    public func leadingBlocksShared(with other: LlamaWeights) -> Int {
        let a = configuration, b = other.configuration
        guard a.embeddingLength == b.embeddingLength, a.headDimension == b.headDimension,
              a.rmsNormEpsilon == b.rmsNormEpsilon, a.ropeFrequencyBase == b.ropeFrequencyBase,
              a.vocabularySize == b.vocabularySize, tokenEmbedding == other.tokenEmbedding else { return 0 }
        var shared = 0
        while shared < min(blocks.count, other.blocks.count),
              Self.computeSame(blocks[shared], other.blocks[shared]) {
            shared += 1
        }
        return shared
    }

    private static func computeSame(_ x: Block, _ y: Block) -> Bool {
        switch (x.attention, y.attention) {
        case (nil, nil): break
        case let (p?, q?):
            guard p.norm == q.norm, p.query == q.query, p.key == q.key, p.value == q.value, p.output == q.output,
                  sameBias(p.outputBias, q.outputBias) else { return false }
        default: return false
        }
        switch (x.mlp, y.mlp) {
        case (nil, nil): return true
        case let (p?, q?):
            return p.norm == q.norm && p.gate == q.gate && p.up == q.up && p.down == q.down
                && sameBias(p.downBias, q.downBias)
        default: return false
        }
    }

    private static func sameBias(_ x: [Float]?, _ y: [Float]?) -> Bool {
        switch (x, y) {
        case (nil, nil): true
        case let (p?, q?): p == q
        case let (p?, nil), let (nil, p?): p.allSatisfy { $0 == 0 }
        }
    }
}
