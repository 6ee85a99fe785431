import PPFTensor

// MARK: - Writing to GGUF

extension LlamaConfiguration {
    /// Writes the `llama.*` hyperparameters into `metadata` (replacing old values).
    ///
    /// Per-layer counts are written as one integer when uniform and as an
    /// int32 array otherwise (llama.cpp reads both); `attention.key_length`
    /// and `value_length` are always written, because a non-uniform head
    /// count no longer determines the head size.
    public func write(into metadata: inout GGUFMetadata) {
        func perLayer(_ values: [Int]) -> GGUFValue {
            Set(values).count == 1 ? .uint32(UInt32(values[0])) : .array(.int32(values.map { Int32($0) }))
        }
        metadata["general.architecture"] = .string("llama")
        metadata[CodingKeys.blockCount.rawValue] = .uint32(UInt32(blockCount))
        metadata[CodingKeys.embeddingLength.rawValue] = .uint32(UInt32(embeddingLength))
        metadata[CodingKeys.headCounts.rawValue] = perLayer(headCounts)
        metadata[CodingKeys.keyValueHeadCounts.rawValue] = perLayer(keyValueHeadCounts)
        metadata[CodingKeys.feedForwardLengths.rawValue] = perLayer(feedForwardLengths)
        metadata[CodingKeys.headDimension.rawValue] = .uint32(UInt32(headDimension))
        metadata[CodingKeys.valueDimension.rawValue] = .uint32(UInt32(headDimension))
        metadata[CodingKeys.ropeDimensionCount.rawValue] = .uint32(UInt32(headDimension))
        metadata[CodingKeys.rmsNormEpsilon.rawValue] = .float32(rmsNormEpsilon)
        metadata[CodingKeys.ropeFrequencyBase.rawValue] = .float32(ropeFrequencyBase)
        metadata[CodingKeys.contextLength.rawValue] = .uint32(UInt32(contextLength))
        metadata[CodingKeys.vocabularySize.rawValue] = .uint32(UInt32(vocabularySize))
    }
}

extension LlamaWeights {
    /// A GGUF writer holding this model: `baseMetadata` (e.g. the source
    /// file's tokenizer keys) updated with this configuration, and every
    /// tensor under its `LlamaTensorName`. Matrices are encoded as
    /// `matrixType` (F32, F16, BF16 or Q8_0); norms and biases stay F32.
    public func makeGGUFWriter(baseMetadata: GGUFMetadata = GGUFMetadata(), matrixType: GGMLType = .f32) throws -> GGUFWriter {
        var metadata = baseMetadata
        configuration.write(into: &metadata)
        var writer = GGUFWriter(metadata: metadata)
        func add(_ name: String, _ matrix: Matrix) throws {
            try writer.addTensor(name: name, shape: [matrix.rows, matrix.cols], values: matrix.storage, as: matrixType)
        }
        func add(_ name: String, _ vector: [Float]) throws {
            try writer.addTensor(name: name, shape: [vector.count], values: vector, as: .f32)
        }
        try add(LlamaTensorName.tokenEmbedding, tokenEmbedding)
        for (layer, block) in blocks.enumerated() {
            if let a = block.attention {
                try add(LlamaTensorName.attentionNorm(layer), a.norm)
                try add(LlamaTensorName.attentionQuery(layer), a.query)
                try add(LlamaTensorName.attentionKey(layer), a.key)
                try add(LlamaTensorName.attentionValue(layer), a.value)
                try add(LlamaTensorName.attentionOutput(layer), a.output)
                if let bias = a.outputBias { try add(LlamaTensorName.attentionOutputBias(layer), bias) }
            }
            if let m = block.mlp {
                try add(LlamaTensorName.feedForwardNorm(layer), m.norm)
                try add(LlamaTensorName.feedForwardGate(layer), m.gate)
                try add(LlamaTensorName.feedForwardUp(layer), m.up)
                try add(LlamaTensorName.feedForwardDown(layer), m.down)
                if let bias = m.downBias { try add(LlamaTensorName.feedForwardDownBias(layer), bias) }
            }
        }
        try add(LlamaTensorName.outputNorm, outputNorm)
        if let output { try add(LlamaTensorName.output, output) }
        return writer
    }
}
