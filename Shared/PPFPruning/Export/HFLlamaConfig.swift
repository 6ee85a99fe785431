import PPFModel

// MARK: - HFLlamaConfig

/// The `config.json` of a Hugging Face `LlamaForCausalLM` checkpoint
/// (transformers' `LlamaConfig`), with PPF's provenance as extra `ppf_*`
/// fields (transformers keeps unknown keys as attributes).
///
/// `head_dim` is always written: after pruning heads, `hidden_size /
/// num_attention_heads` is no longer the head size. `attention_bias` and
/// `mlp_bias` are model-wide in HF (q, k, v and o together; gate, up and
/// down together), so an export with any attention-output (MLP-down) bias
/// sets the flag and writes zero biases for the others.
public struct HFLlamaConfig: Codable, Sendable, Equatable {
    /// Always `["LlamaForCausalLM"]`.
    public var architectures: [String] = ["LlamaForCausalLM"]
    /// Always `"llama"`.
    public var modelType: String = "llama"
    /// Model width `d`.
    public var hiddenSize: Int
    /// MLP width of every block.
    public var intermediateSize: Int
    /// Query heads of every block.
    public var numAttentionHeads: Int
    /// KV heads of every block.
    public var numKeyValueHeads: Int
    /// Size of one head.
    public var headDim: Int
    /// Blocks.
    public var numHiddenLayers: Int
    /// RMSNorm epsilon.
    public var rmsNormEps: Double
    /// RoPE base.
    public var ropeTheta: Double
    /// Vocabulary size.
    public var vocabSize: Int
    /// Context length.
    public var maxPositionEmbeddings: Int
    /// Whether `lm_head` is the embedding.
    public var tieWordEmbeddings: Bool
    /// Whether q, k, v and o projections carry biases.
    public var attentionBias: Bool
    /// Whether gate, up and down projections carry biases.
    public var mlpBias: Bool
    /// Always `"silu"` (SwiGLU).
    public var hiddenAct: String = "silu"
    /// The weights' dtype (`float32`, `float16`, `bfloat16`).
    public var torchDtype: String
    /// Beginning-of-sequence token id, from the GGUF tokenizer.
    public var bosTokenId: Int?
    /// End-of-sequence token id, from the GGUF tokenizer.
    public var eosTokenId: Int?
    /// PPF provenance: meaning version of the `ppf_*` fields.
    public var ppfFormatVersion: Int
    /// PPF provenance: the plan id.
    public var ppfPlanId: String?
    /// PPF provenance: the achieved ratio.
    public var ppfAchievedRatio: Double?
    /// PPF provenance: the importance metric.
    public var ppfMetric: String?
    /// PPF provenance: SHA-256 of the source checkpoint.
    public var ppfSourceSha256: String?
    /// PPF provenance: each block's index before dropped blocks were removed.
    public var ppfSourceBlockIndex: [Int]

    /// transformers' key names.
    enum CodingKeys: String, CodingKey {
        case architectures
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case numHiddenLayers = "num_hidden_layers"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case hiddenAct = "hidden_act"
        case torchDtype = "torch_dtype"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case ppfFormatVersion = "ppf_format_version"
        case ppfPlanId = "ppf_plan_id"
        case ppfAchievedRatio = "ppf_achieved_ratio"
        case ppfMetric = "ppf_metric"
        case ppfSourceSha256 = "ppf_source_sha256"
        case ppfSourceBlockIndex = "ppf_source_block_index"
    }

    /// The configuration of a uniform compacted model.
    init(model: CompactedModel, precision: ExportPrecision, provenance: ExportProvenance,
         bosTokenID: Int?, eosTokenID: Int?) {
        let c = model.configuration
        let shape = c.block(0)
        hiddenSize = c.embeddingLength
        intermediateSize = shape.feedForwardLength
        numAttentionHeads = shape.queryHeads
        numKeyValueHeads = shape.keyValueHeads
        headDim = c.headDimension
        numHiddenLayers = c.blockCount
        // The shortest decimal of the Float, so 1e-5 reads "1e-05", not 9.99999974e-06.
        rmsNormEps = Double("\(c.rmsNormEpsilon)") ?? Double(c.rmsNormEpsilon)
        ropeTheta = Double("\(c.ropeFrequencyBase)") ?? Double(c.ropeFrequencyBase)
        vocabSize = c.vocabularySize
        maxPositionEmbeddings = c.contextLength
        tieWordEmbeddings = model.weights.output == nil
        attentionBias = model.weights.blocks.contains { $0.attention?.outputBias != nil }
        mlpBias = model.weights.blocks.contains { $0.mlp?.downBias != nil }
        torchDtype = switch precision {
        case .f32: "float32"
        case .f16: "float16"
        case .bf16: "bfloat16"
        }
        bosTokenId = bosTokenID
        eosTokenId = eosTokenID
        ppfFormatVersion = Int(GGUFExporter.formatVersion)
        ppfPlanId = provenance.planID
        ppfAchievedRatio = provenance.achievedRatio
        ppfMetric = provenance.metric
        ppfSourceSha256 = provenance.sourceSHA256
        ppfSourceBlockIndex = model.sourceBlockIndices
    }
}
