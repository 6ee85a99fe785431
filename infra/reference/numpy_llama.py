#!/usr/bin/env python3
"""Independent fp32 LLaMA forward pass in numpy, from a GGUF checkpoint.

Why: llama.cpp multiplies quantized weights by quantized activations (Q4_1 x
Q8_1 dot products), so its logits are not what an engine that dequantizes
weights to fp32 and uses sgemm computes. This file is that fp32 path, written
from the LLaMA definition and the GGUF metadata only, to tell the Swift engine
which tolerance against llama.cpp is justified and to give it an fp32 target.

Weights are dequantized with the `gguf` package (`gguf.quants.dequantize`).
Layout conventions (checked against llama.cpp by make_fixtures.py):
  * GGUF lists dimensions innermost first: shape (576, 1536) is a row-major
    [1536][576] matrix, out x in, so y = x @ W.T.
  * RoPE "NORM" mode (llama.cpp's mode for the llama architecture): within a
    head, adjacent dimensions (2i, 2i+1) rotate together with angle
    pos * base^(-2i/head_dim). The HF checkpoint's half-split layout was
    permuted into this interleaved one by convert_hf_to_gguf.py. `rope="neox"`
    (half-split pairs (i, i+d/2)) is kept only to demonstrate that it is wrong
    for these files.
  * Grouped-query attention: query head h reads KV head h // (n_head/n_head_kv).
  * Output head tied to token_embd when output.weight is absent.

Usage as a script:  python numpy_llama.py MODEL.gguf "some text token ids..."
(see make_fixtures.py for the real use).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

# MARK: - Checkpoint


@dataclass(frozen=True)
class Hyper:
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    rope_base: float
    rms_eps: float
    n_vocab: int


def _field(reader: GGUFReader, key: str):
    field = reader.fields.get(key)
    if field is None:
        raise KeyError(f"GGUF metadata key {key!r} missing")
    return field.contents()


def read_hyper(reader: GGUFReader) -> Hyper:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"unsupported architecture {arch!r}")
    n_embd = int(_field(reader, "llama.embedding_length"))
    n_head = int(_field(reader, "llama.attention.head_count"))
    return Hyper(
        n_layer=int(_field(reader, "llama.block_count")),
        n_embd=n_embd,
        n_ff=int(_field(reader, "llama.feed_forward_length")),
        n_head=n_head,
        n_head_kv=int(_field(reader, "llama.attention.head_count_kv")),
        head_dim=n_embd // n_head,
        rope_base=float(_field(reader, "llama.rope.freq_base")),
        rms_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        n_vocab=len(reader.fields["tokenizer.ggml.tokens"].data),
    )


def load_tensors(reader: GGUFReader) -> dict[str, np.ndarray]:
    """Dequantize every tensor to float32, shaped [rows][columns] (out x in)."""
    tensors: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type)
        shape = tuple(int(d) for d in reversed(tensor.shape))  # GGUF: innermost first
        tensors[tensor.name] = np.ascontiguousarray(values.reshape(shape), dtype=np.float32)
    return tensors


# MARK: - Model


class NumpyLlama:
    """Full-sequence (no KV cache) causal forward pass, one fresh context per call."""

    def __init__(self, path: str, dtype=np.float32) -> None:
        reader = GGUFReader(path)
        self.hp = read_hyper(reader)
        self.dtype = dtype
        self.w = {k: v.astype(dtype) for k, v in load_tensors(reader).items()}
        self.output = self.w.get("output.weight", self.w["token_embd.weight"])

    def _rms_norm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        mean_sq = np.mean(x * x, axis=-1, keepdims=True)
        return (x / np.sqrt(mean_sq + self.dtype(self.hp.rms_eps))) * weight

    def _rope(self, x: np.ndarray, positions: np.ndarray, mode: str) -> np.ndarray:
        """Rotate x [T][heads][head_dim] in place of position."""
        d = self.hp.head_dim
        inv_freq = self.hp.rope_base ** (-np.arange(0, d, 2, dtype=np.float64) / d)  # [d/2]
        angles = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [T][d/2]
        cos = np.cos(angles).astype(self.dtype)[:, None, :]
        sin = np.sin(angles).astype(self.dtype)[:, None, :]
        if mode == "norm":
            a, b = x[..., 0::2], x[..., 1::2]
        elif mode == "neox":
            a, b = x[..., : d // 2], x[..., d // 2:]
        else:
            raise ValueError(f"unknown rope mode {mode!r}")
        ra, rb = a * cos - b * sin, a * sin + b * cos
        out = np.empty_like(x)
        if mode == "norm":
            out[..., 0::2], out[..., 1::2] = ra, rb
        else:
            out[..., : d // 2], out[..., d // 2:] = ra, rb
        return out

    def forward(self, tokens: list[int], rope: str = "norm") -> np.ndarray:
        """Logits [T][n_vocab] for every position of `tokens` (no BOS added)."""
        hp, w, dt = self.hp, self.w, self.dtype
        t = len(tokens)
        positions = np.arange(t)
        x = w["token_embd.weight"][np.asarray(tokens)]  # [T][n_embd]
        group = hp.n_head // hp.n_head_kv
        scale = dt(1.0 / np.sqrt(hp.head_dim))
        mask = np.triu(np.full((t, t), -np.inf, dtype=dt), k=1)
        for layer in range(hp.n_layer):
            p = f"blk.{layer}."
            h = self._rms_norm(x, w[p + "attn_norm.weight"])
            q = (h @ w[p + "attn_q.weight"].T).reshape(t, hp.n_head, hp.head_dim)
            k = (h @ w[p + "attn_k.weight"].T).reshape(t, hp.n_head_kv, hp.head_dim)
            v = (h @ w[p + "attn_v.weight"].T).reshape(t, hp.n_head_kv, hp.head_dim)
            q, k = self._rope(q, positions, rope), self._rope(k, positions, rope)
            k = np.repeat(k, group, axis=1)  # query head h reads KV head h // group
            v = np.repeat(v, group, axis=1)
            scores = np.einsum("thd,shd->hts", q, k) * scale + mask  # [H][T][T]
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            attn = np.einsum("hts,shd->thd", probs, v).reshape(t, hp.n_embd)
            x = x + attn @ w[p + "attn_output.weight"].T
            h = self._rms_norm(x, w[p + "ffn_norm.weight"])
            gate = h @ w[p + "ffn_gate.weight"].T
            up = h @ w[p + "ffn_up.weight"].T
            x = x + ((gate / (1 + np.exp(-gate))) * up) @ w[p + "ffn_down.weight"].T
        x = self._rms_norm(x, w["output_norm.weight"])
        return (x @ self.output.T).astype(np.float32)


# MARK: - Metric helpers


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = logits.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))


def window_nll(logits: np.ndarray, tokens: list[int]) -> np.ndarray:
    """NLL of tokens[i+1] given logits at position i, for i in 0..T-2."""
    lp = log_softmax(logits[:-1])
    return -lp[np.arange(len(tokens) - 1), np.asarray(tokens[1:])]


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    model = NumpyLlama(sys.argv[1])
    ids = [int(s) for s in sys.argv[2:]]
    out = model.forward(ids)
    for pos, row in enumerate(out):
        top = np.argsort(-row)[:5]
        print(pos, ids[pos], [(int(i), round(float(row[i]), 4)) for i in top])
