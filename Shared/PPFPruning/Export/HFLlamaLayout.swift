import PPFModel
import PPFTensor

// MARK: - HF tensor names

/// Every tensor name of a Hugging Face `LlamaForCausalLM` checkpoint, built
/// in this one place (transformers' `modeling_llama.py` module paths).
public enum HFLlamaTensorName {
    /// Token embedding, (vocab, d).
    public static let tokenEmbedding = "model.embed_tokens.weight"
    /// Final RMSNorm weight, (d).
    public static let outputNorm = "model.norm.weight"
    /// Untied output head, (vocab, d); absent when `tie_word_embeddings` is true.
    public static let output = "lm_head.weight"

    /// `model.layers.N.` prefix.
    static func layer(_ index: Int) -> String { "model.layers.\(index)." }
    /// RMSNorm before attention (GGUF `attn_norm`), (d).
    public static func attentionNorm(_ i: Int) -> String { layer(i) + "input_layernorm.weight" }
    /// Query projection, (q·hd, d), rows in HF's half-split RoPE order.
    public static func query(_ i: Int) -> String { layer(i) + "self_attn.q_proj.weight" }
    /// Key projection, (kv·hd, d), rows in HF's half-split RoPE order.
    public static func key(_ i: Int) -> String { layer(i) + "self_attn.k_proj.weight" }
    /// Value projection, (kv·hd, d).
    public static func value(_ i: Int) -> String { layer(i) + "self_attn.v_proj.weight" }
    /// Attention output projection, (d, q·hd).
    public static func output(_ i: Int) -> String { layer(i) + "self_attn.o_proj.weight" }
    /// A bias of an attention projection (`q_proj`, `k_proj`, `v_proj`, `o_proj`).
    public static func attentionBias(_ i: Int, _ projection: String) -> String { layer(i) + "self_attn.\(projection).bias" }
    /// RMSNorm before the MLP (GGUF `ffn_norm`), (d).
    public static func feedForwardNorm(_ i: Int) -> String { layer(i) + "post_attention_layernorm.weight" }
    /// MLP gate projection, (ff, d).
    public static func gate(_ i: Int) -> String { layer(i) + "mlp.gate_proj.weight" }
    /// MLP up projection, (ff, d).
    public static func up(_ i: Int) -> String { layer(i) + "mlp.up_proj.weight" }
    /// MLP down projection, (d, ff).
    public static func down(_ i: Int) -> String { layer(i) + "mlp.down_proj.weight" }
    /// A bias of an MLP projection (`gate_proj`, `up_proj`, `down_proj`).
    public static func mlpBias(_ i: Int, _ projection: String) -> String { layer(i) + "mlp.\(projection).bias" }
}

// MARK: - RoPE row order

/// Converts Q/K projection rows between the two rotary layouts.
///
/// llama.cpp (and so GGUF) rotates adjacent pairs (2i, 2i+1) of each head;
/// HF rotates (i, i + hd/2). llama.cpp's converter reorders each head's rows
/// from HF to GGUF with `w.reshape(n_head, 2, hd/2, d).swapaxes(1, 2)`
/// (`LlamaModel.permute` in convert_hf_to_gguf.py), so GGUF row `2i + j` of a
/// head is HF row `j·hd/2 + i`. Export applies the inverse. The evidence for
/// the GGUF side is in infra/reference/README.md ("RoPE / Q-K layout").
public enum RoPERowOrder {
    /// GGUF (interleaved pairs) → HF (half-split) row order, per head.
    public static func halfSplit(fromInterleaved m: Matrix, headDimension hd: Int) -> Matrix {
        reorder(m, headDimension: hd) { i, j in (j * (hd / 2) + i, 2 * i + j) }
    }

    /// HF (half-split) → GGUF (interleaved pairs) row order, per head.
    public static func interleaved(fromHalfSplit m: Matrix, headDimension hd: Int) -> Matrix {
        reorder(m, headDimension: hd) { i, j in (2 * i + j, j * (hd / 2) + i) }
    }

    /// Applies `map(i, j) -> (destination row, source row)` within every head,
    /// for i in 0..<hd/2 and j in {0, 1}.
    private static func reorder(_ m: Matrix, headDimension hd: Int, _ map: (Int, Int) -> (Int, Int)) -> Matrix {
        precondition(hd % 2 == 0 && m.rows % hd == 0, "rows must be whole heads of an even size")
        var out = Matrix(rows: m.rows, cols: m.cols)
        let cols = m.cols
        m.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { destination in
                for head in 0..<(m.rows / hd) {
                    let base = head * hd
                    for i in 0..<(hd / 2) {
                        for j in 0..<2 {
                            let (to, from) = map(i, j)
                            let d = (base + to) * cols, s = (base + from) * cols
                            for c in 0..<cols { destination[d + c] = source[s + c] }
                        }
                    }
                }
            }
        }
        return out
    }
}
