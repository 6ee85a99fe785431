#!/usr/bin/env python3
"""Logits of an HF LLaMA folder (config.json + model.safetensors), in numpy.

Why: PPF's HF export must be checked by reading the files it wrote, with code
that shares nothing with the Swift writer or the Swift engine (issue 16 §6).
This file reads the safetensors container from its specification (an 8-byte
little-endian header length, a JSON header of dtype / shape / byte offsets,
then the raw little-endian tensors) and runs the LLaMA forward pass the way
HF transformers' `LlamaForCausalLM` defines it: weights are (out, in), RoPE
rotates half-split pairs (i, i + head_dim/2) ("rotate_half"), grouped-query
attention maps query head h to KV head h // (heads / kv_heads), and the
output head is the embedding when `tie_word_embeddings` is true.

The pass runs in float64 on the file's values (F32, F16 or BF16, widened
exactly), so its logits are the exact model up to float64 rounding: a float32
engine's distance from them is its own rounding, not the reference's (a
float32 numpy pass differs from this one by about 6e-4 on SmolLM2-135M).

Only numpy is needed (installed into .deps/python by `make setup`).

Usage:
  numpy_hf_llama.py FOLDER --tokens TOKENS.json --logits OUT.f32
      writes the logits of every position, row-major float32 (computed in float64), and prints a
      JSON summary (positions, vocab, per-tensor shapes) on stdout.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

# MARK: - safetensors, from the format's specification

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
_HEADER_LIMIT = 100 * 1024 * 1024


class ExportError(Exception):
    """A folder that is not a readable HF LLaMA export."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of the file, as float64 arrays of the header's shapes."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ExportError(f"{path}: {len(data)} bytes, shorter than the header length")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > min(_HEADER_LIMIT, len(data) - 8):
        raise ExportError(f"{path}: header length {header_length} exceeds the file or the limit")
    header = json.loads(data[8 : 8 + header_length])
    body = memoryview(data)[8 + header_length :]
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ExportError(f"{path}: tensor {name} has unsupported dtype {entry['dtype']}")
        begin, end = entry["data_offsets"]
        shape = tuple(entry["shape"])
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if not (0 <= begin <= end <= len(body)) or end - begin != expected:
            raise ExportError(f"{path}: tensor {name} offsets {begin}..{end} do not hold {shape} {entry['dtype']}")
        raw = np.frombuffer(body[begin:end], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
        if entry["dtype"] == "BF16":
            array = (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            array = raw.astype(np.float64)
        tensors[name] = array
    return tensors


# MARK: - The forward pass (HF LlamaForCausalLM)


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def forward(folder: Path, tokens: list[int]) -> tuple[np.ndarray, dict]:
    config = json.loads((folder / "config.json").read_text())
    weights = read_safetensors(folder / "model.safetensors")
    layers = int(config["num_hidden_layers"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads", heads))
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim", hidden // heads))
    eps = float(config["rms_norm_eps"])
    theta = float(config.get("rope_theta", 10000.0))
    if config.get("rope_scaling"):
        raise ExportError(f"rope_scaling {config['rope_scaling']} is not implemented here")

    def w(name: str) -> np.ndarray:
        if name not in weights:
            raise ExportError(f"model.safetensors lacks {name}")
        return weights[name]

    embedding = w("model.embed_tokens.weight")
    if max(tokens) >= embedding.shape[0] or min(tokens) < 0:
        raise ExportError(f"a token id is outside the vocabulary of {embedding.shape[0]}")
    n = len(tokens)
    x = embedding[np.array(tokens)]
    positions = np.arange(n, dtype=np.float64)[:, None]
    inverse = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.concatenate([positions * inverse, positions * inverse], axis=-1)
    cos, sin = np.cos(angles), np.sin(angles)
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    shapes = {}
    for layer in range(layers):
        p = f"model.layers.{layer}."
        q_w, k_w, v_w, o_w = (w(p + f"self_attn.{m}_proj.weight") for m in "qkvo")
        layer_heads, layer_kv = q_w.shape[0] // head_dim, k_w.shape[0] // head_dim
        shapes[layer] = {"heads": layer_heads, "kv_heads": layer_kv,
                         "intermediate": int(w(p + "mlp.gate_proj.weight").shape[0])}
        h = rms_norm(x, w(p + "input_layernorm.weight"), eps)
        if layer_heads:
            q = (h @ q_w.T).reshape(n, layer_heads, head_dim).transpose(1, 0, 2)
            k = (h @ k_w.T).reshape(n, layer_kv, head_dim).transpose(1, 0, 2)
            v = (h @ v_w.T).reshape(n, layer_kv, head_dim).transpose(1, 0, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            group = layer_heads // layer_kv
            k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(head_dim) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ v).transpose(1, 0, 2).reshape(n, layer_heads * head_dim)
            x = x + attended @ o_w.T
        h = rms_norm(x, w(p + "post_attention_layernorm.weight"), eps)
        gate = h @ w(p + "mlp.gate_proj.weight").T
        up = h @ w(p + "mlp.up_proj.weight").T
        x = x + ((gate / (1.0 + np.exp(-gate))) * up) @ w(p + "mlp.down_proj.weight").T
    x = rms_norm(x, w("model.norm.weight"), eps)
    head = embedding if config.get("tie_word_embeddings", False) else w("lm_head.weight")
    logits = x @ head.T
    summary = {"positions": n, "vocab": int(head.shape[0]), "layers": layers, "head_dim": head_dim,
               "per_layer": [shapes[i] for i in range(layers)], "tensors": len(weights)}
    return logits, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--tokens", type=Path, required=True, help="JSON list of token ids")
    parser.add_argument("--logits", type=Path, required=True, help="where to write the float32 logits")
    args = parser.parse_args()
    try:
        tokens = [int(t) for t in json.loads(args.tokens.read_text())]
        if not tokens:
            raise ExportError("no tokens given")
        logits, summary = forward(args.folder, tokens)
    except (ExportError, OSError, KeyError, ValueError) as error:
        print(f"numpy_hf_llama: error: {error}", file=sys.stderr)
        return 2
    args.logits.write_bytes(np.ascontiguousarray(logits, dtype="<f4").tobytes())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
