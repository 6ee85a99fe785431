import PPFTensor

// MARK: - LlamaWeights

/// All parameters of a LLaMA model as dequantized `Float`s, block by block,
/// each with its own (possibly pruned) shape.
///
/// Linear weights are (out × in) row-major, as GGUF stores them, so a layer
/// computes `y = x · Wᵀ`. The pruner slices these matrices; the forward pass
/// reads them. Construction validates every shape against `configuration`.
public struct LlamaWeights: Sendable {
    /// The attention sublayer of one block.
    public struct Attention: Sendable {
        /// RMSNorm weight, (d).
        public var norm: [Float]
        /// Query projection, (q·hd, d).
        public var query: Matrix
        /// Key projection, (kv·hd, d).
        public var key: Matrix
        /// Value projection, (kv·hd, d).
        public var value: Matrix
        /// Output projection, (d, q·hd).
        public var output: Matrix
        /// Optional output bias, (d) (FLAP-style bias compensation after pruning).
        public var outputBias: [Float]?

        /// Groups the tensors of one attention sublayer.
        public init(norm: [Float], query: Matrix, key: Matrix, value: Matrix, output: Matrix, outputBias: [Float]? = nil) {
            self.norm = norm
            self.query = query
            self.key = key
            self.value = value
            self.output = output
            self.outputBias = outputBias
        }
    }

    /// The SwiGLU MLP sublayer of one block.
    public struct MLP: Sendable {
        /// RMSNorm weight, (d).
        public var norm: [Float]
        /// Gate projection, (ff, d).
        public var gate: Matrix
        /// Up projection, (ff, d).
        public var up: Matrix
        /// Down projection, (d, ff).
        public var down: Matrix
        /// Optional down bias, (d) (FLAP-style bias compensation after pruning).
        public var downBias: [Float]?

        /// Groups the tensors of one MLP sublayer.
        public init(norm: [Float], gate: Matrix, up: Matrix, down: Matrix, downBias: [Float]? = nil) {
            self.norm = norm
            self.gate = gate
            self.up = up
            self.down = down
            self.downBias = downBias
        }
    }

    /// One transformer block; a missing sublayer is an identity on the residual.
    public struct Block: Sendable {
        /// `nil` when the configuration gives this block 0 query heads.
        public var attention: Attention?
        /// `nil` when the configuration gives this block an FFN length of 0.
        public var mlp: MLP?

        /// Groups the sublayers of one block.
        public init(attention: Attention?, mlp: MLP?) {
            self.attention = attention
            self.mlp = mlp
        }
    }

    /// The hyperparameters every shape was checked against.
    public let configuration: LlamaConfiguration
    /// Token embedding, (vocab, d).
    public let tokenEmbedding: Matrix
    /// The blocks, `configuration.blockCount` of them.
    public let blocks: [Block]
    /// Final RMSNorm weight, (d).
    public let outputNorm: [Float]
    /// Untied output head, (vocab, d); `nil` means tied to `tokenEmbedding`.
    public let output: Matrix?

    /// Groups and validates a model's parameters.
    public init(configuration: LlamaConfiguration, tokenEmbedding: Matrix, blocks: [Block],
                outputNorm: [Float], output: Matrix?) throws(ModelError) {
        self.configuration = configuration
        self.tokenEmbedding = tokenEmbedding
        self.blocks = blocks
        self.outputNorm = outputNorm
        self.output = output
        try validate()
    }

    /// The output head actually used: `output`, or the embedding when tied.
    public var outputHead: Matrix { output ?? tokenEmbedding }

    // MARK: - Validation

    /// Checks every tensor's shape (and each sublayer's presence) against the configuration.
    public func validate() throws(ModelError) {
        let c = configuration
        let d = c.embeddingLength
        try Self.expect(tokenEmbedding, c.vocabularySize, d, LlamaTensorName.tokenEmbedding)
        try Self.expect(outputNorm, d, LlamaTensorName.outputNorm)
        if let output { try Self.expect(output, c.vocabularySize, d, LlamaTensorName.output) }
        guard blocks.count == c.blockCount else {
            throw ModelError(.shapeMismatch, "\(blocks.count) blocks given but block_count is \(c.blockCount)")
        }
        for (layer, block) in blocks.enumerated() {
            let shape = c.block(layer)
            let queryWidth = shape.queryHeads * c.headDimension
            let keyValueWidth = shape.keyValueHeads * c.headDimension
            switch (shape.hasAttention, block.attention) {
            case (true, let attention?):
                try Self.expect(attention.norm, d, LlamaTensorName.attentionNorm(layer))
                try Self.expect(attention.query, queryWidth, d, LlamaTensorName.attentionQuery(layer))
                try Self.expect(attention.key, keyValueWidth, d, LlamaTensorName.attentionKey(layer))
                try Self.expect(attention.value, keyValueWidth, d, LlamaTensorName.attentionValue(layer))
                try Self.expect(attention.output, d, queryWidth, LlamaTensorName.attentionOutput(layer))
                if let bias = attention.outputBias { try Self.expect(bias, d, LlamaTensorName.attentionOutputBias(layer)) }
            case (false, nil):
                break
            case (true, nil):
                throw ModelError(.missingTensor, "block \(layer) has \(shape.queryHeads) query heads but no attention weights")
            case (false, _?):
                throw ModelError(.unexpectedTensor, "block \(layer) has attention weights but 0 query heads in the configuration")
            }
            switch (shape.hasMLP, block.mlp) {
            case (true, let mlp?):
                try Self.expect(mlp.norm, d, LlamaTensorName.feedForwardNorm(layer))
                try Self.expect(mlp.gate, shape.feedForwardLength, d, LlamaTensorName.feedForwardGate(layer))
                try Self.expect(mlp.up, shape.feedForwardLength, d, LlamaTensorName.feedForwardUp(layer))
                try Self.expect(mlp.down, d, shape.feedForwardLength, LlamaTensorName.feedForwardDown(layer))
                if let bias = mlp.downBias { try Self.expect(bias, d, LlamaTensorName.feedForwardDownBias(layer)) }
            case (false, nil):
                break
            case (true, nil):
                throw ModelError(.missingTensor, "block \(layer) has FFN length \(shape.feedForwardLength) but no MLP weights")
            case (false, _?):
                throw ModelError(.unexpectedTensor, "block \(layer) has MLP weights but FFN length 0 in the configuration")
            }
        }
    }

    private static func expect(_ matrix: Matrix, _ rows: Int, _ cols: Int, _ name: String) throws(ModelError) {
        guard matrix.rows == rows, matrix.cols == cols else {
            throw ModelError(.shapeMismatch, "\(name) is (\(matrix.rows) × \(matrix.cols)) but the configuration needs (\(rows) × \(cols))")
        }
    }

    private static func expect(_ vector: [Float], _ count: Int, _ name: String) throws(ModelError) {
        guard vector.count == count else {
            throw ModelError(.shapeMismatch, "\(name) has \(vector.count) values but the configuration needs \(count)")
        }
    }

    // MARK: - Counting

    /// Number of prunable parameters (attention q, k, v, o and MLP gate, up, down
    /// weights of every block; design.md vocabulary). Biases, norms, embedding and head are excluded.
    public var prunableParameterCount: Int {
        blocks.reduce(0) { total, block in
            var count = 0
            if let a = block.attention { count += a.query.count + a.key.count + a.value.count + a.output.count }
            if let m = block.mlp { count += m.gate.count + m.up.count + m.down.count }
            return total + count
        }
    }

    /// Number of all parameters (the tied head counted once).
    public var parameterCount: Int {
        var count = tokenEmbedding.count + outputNorm.count + (output?.count ?? 0)
        for block in blocks {
            if let a = block.attention { count += a.norm.count + (a.outputBias?.count ?? 0) }
            if let m = block.mlp { count += m.norm.count + (m.downBias?.count ?? 0) }
        }
        return count + prunableParameterCount
    }
}

// MARK: - Random weights (tests, no download)

extension LlamaWeights {
    /// Reproducible random weights for `configuration`, for tests and benchmarks
    /// that must not download a model. Projections are uniform in ±1/√fan-in so
    /// activations keep a sane scale through the blocks; norms are near 1.
    ///
    /// - Parameters:
    ///   - tiedOutput: `true` leaves `output` nil (the head is the embedding).
    ///   - withBiases: `true` adds attention-output and MLP-down biases.
    public static func random(configuration: LlamaConfiguration, seed: UInt64,
                              tiedOutput: Bool = true, withBiases: Bool = false) throws(ModelError) -> LlamaWeights {
        var g = SeededGenerator(seed: seed)
        let c = configuration
        let d = c.embeddingLength
        func projection(_ rows: Int, _ cols: Int) -> Matrix {
            Matrix.random(rows: rows, cols: cols, scale: 1 / Float(cols).squareRoot(), using: &g)
        }
        func norm() -> [Float] { (0..<d).map { _ in g.nextFloat(in: 0.8..<1.2) } }
        func bias() -> [Float]? { withBiases ? (0..<d).map { _ in g.nextFloat(in: -0.1..<0.1) } : nil }
        let embedding = Matrix.random(rows: c.vocabularySize, cols: d, scale: 1, using: &g)
        var blocks: [Block] = []
        for shape in c.blocks {
            let q = shape.queryHeads * c.headDimension
            let kv = shape.keyValueHeads * c.headDimension
            let attention = shape.hasAttention
                ? Attention(norm: norm(), query: projection(q, d), key: projection(kv, d),
                            value: projection(kv, d), output: projection(d, q), outputBias: bias())
                : nil
            let ff = shape.feedForwardLength
            let mlp = shape.hasMLP
                ? MLP(norm: norm(), gate: projection(ff, d), up: projection(ff, d), down: projection(d, ff), downBias: bias())
                : nil
            blocks.append(Block(attention: attention, mlp: mlp))
        }
        let head = tiedOutput ? nil : Matrix.random(rows: c.vocabularySize, cols: d, scale: 1 / Float(d).squareRoot(), using: &g)
        return try LlamaWeights(configuration: c, tokenEmbedding: embedding, blocks: blocks, outputNorm: norm(), output: head)
    }
}
