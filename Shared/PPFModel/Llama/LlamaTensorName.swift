// MARK: - LlamaTensorName

/// Every GGUF tensor name of a LLaMA checkpoint, built in this one place
/// (llama.cpp's `LLM_TENSOR_*` names for the `llama` architecture).
public enum LlamaTensorName {
    /// Token embedding, (vocab, d) row-major; also the output head when tied.
    public static let tokenEmbedding = "token_embd.weight"
    /// Final RMSNorm weight, (d).
    public static let outputNorm = "output_norm.weight"
    /// Untied output head, (vocab, d); absent when tied to the embedding.
    public static let output = "output.weight"

    /// RMSNorm weight before attention, (d).
    public static func attentionNorm(_ layer: Int) -> String { "blk.\(layer).attn_norm.weight" }
    /// Query projection, (q·hd, d).
    public static func attentionQuery(_ layer: Int) -> String { "blk.\(layer).attn_q.weight" }
    /// Key projection, (kv·hd, d).
    public static func attentionKey(_ layer: Int) -> String { "blk.\(layer).attn_k.weight" }
    /// Value projection, (kv·hd, d).
    public static func attentionValue(_ layer: Int) -> String { "blk.\(layer).attn_v.weight" }
    /// Attention output projection, (d, q·hd).
    public static func attentionOutput(_ layer: Int) -> String { "blk.\(layer).attn_output.weight" }
    /// Optional bias of the attention output, (d); written by pruning's bias compensation.
    public static func attentionOutputBias(_ layer: Int) -> String { "blk.\(layer).attn_output.bias" }
    /// RMSNorm weight before the MLP, (d).
    public static func feedForwardNorm(_ layer: Int) -> String { "blk.\(layer).ffn_norm.weight" }
    /// MLP gate projection, (ff, d).
    public static func feedForwardGate(_ layer: Int) -> String { "blk.\(layer).ffn_gate.weight" }
    /// MLP up projection, (ff, d).
    public static func feedForwardUp(_ layer: Int) -> String { "blk.\(layer).ffn_up.weight" }
    /// MLP down projection, (d, ff).
    public static func feedForwardDown(_ layer: Int) -> String { "blk.\(layer).ffn_down.weight" }
    /// Optional bias of the MLP down projection, (d); written by pruning's bias compensation.
    public static func feedForwardDownBias(_ layer: Int) -> String { "blk.\(layer).ffn_down.bias" }
}
