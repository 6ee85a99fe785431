#!/usr/bin/env python3
"""Regenerate PPF's independent reference fixtures from llama.cpp (and numpy fp32).

The fixtures under Tests/PPFModelTests/Fixtures/ let the Swift engine check its
tokenizer, dequantizer, forward pass and perplexity metric against code it
shares nothing with. They are committed; this script documents how they were
made. It is not part of the build and needs a venv outside the repo:

    python3 -m venv /tmp/llamaref
    CMAKE_ARGS="-DGGML_NATIVE=OFF" /tmp/llamaref/bin/pip install \
        llama-cpp-python==0.3.36 gguf==0.19.0 numpy==2.4.6   # ~20 min build on 2 cores
    make setup                                         # model + prepared corpus in .deps/
    /tmp/llamaref/bin/python infra/reference/make_fixtures.py            # everything
    /tmp/llamaref/bin/python infra/reference/make_fixtures.py --only tokenizer

See infra/reference/README.md for what each fixture holds and the tolerances.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

# MARK: - Fixed inputs

TOKENIZER_CASES: list[tuple[str, str]] = [
    ("english_paragraph",
     "The quick brown fox jumps over the lazy dog. Structural pruning removes whole attention "
     "heads and MLP channels, so the pruned model is smaller and faster, not just sparser."),
    ("digits_and_numbers",
     "In 1984, 3.14159 and 1,000,000 people paid $12.50 (or €9,99) on 2024-01-31 at 10:45; "
     "x=0x1F, y=1e-5, id 12345678901234567890."),
    ("unicode",
     "Café naïve résumé — Zürich, São Paulo. 東京は日本の首都です。 한국어 😀👍🏽🇫🇷 "
     "e\u0301 n\u0303 a\u0308 (combining marks); العربية עברית (RTL)."),
    ("python_code",
     "def perplexity(nll: list[float]) -> float:\n"
     "    \"\"\"exp of the mean negative log-likelihood.\"\"\"\n"
     "    if not nll:\n"
     "        raise ValueError('empty')\n"
     "    return math.exp(sum(nll) / len(nll))\n"),
    ("swift_code",
     "struct Policy: Codable, Sendable {\n"
     "    var ratios: [Double]\n"
     "\n"
     "    func achieved(of model: ModelShape) -> Double {\n"
     "        zip(ratios, model.blocks).reduce(0) { $0 + $1.0 * Double($1.1.params) }\n"
     "    }\n"
     "}\n"),
    ("whitespace",
     "  leading spaces\tand\ttabs  \n\n\n   indented   \n\t\tdouble tab\r\nCRLF line   \n"
     "trailing spaces      "),
    ("contractions", "don't I'll we've they're she's it's I'm You'D WE'LL can't won't y'all"),
    ("punctuation",
     "HELLO world!!! ... ??? -- 'quoted' \"double\" (parens) [brackets] {braces} #hash @at "
     "a/b\\c | ~tilde^ 50% & <tag>"),
    ("wikitext_heading", " = Valkyria Chronicles III = \n \n = = Gameplay = = \n"),
    ("chat_markers_literal",
     "<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n<|endoftext|>"),
    ("single_space", " "),
    ("empty", ""),
]
TEST_PREFIX_CHARS = 2000
LOGITS_TOKENS = 16
TOP_K = 10
# llama-cpp-python does not expose the llama.cpp commit at run time; this is the
# commit its 0.3.36 sdist vendors (vendor/llama.cpp git metadata, seen at build).
VENDORED_LLAMA_CPP = {"0.3.36": "0c1e57098bba43ac29e6e3b677cdceebdd22334f"}
GGML_TYPE_F32 = 0
PPL_SETTINGS = [  # (name, first N tokens, window)
    ("w512_n4096", 4096, 512),
    ("w128_n1024", 1024, 128),
]

# MARK: - Helpers


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def write_f32(path: Path, values: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(np.asarray(values, dtype="<f4").tobytes())
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))


def logsumexp(row: np.ndarray) -> float:
    z = row.astype(np.float64)
    m = z.max()
    return float(m + np.log(np.exp(z - m).sum()))


def top_k(row: np.ndarray, k: int) -> list[list]:
    """[[id, logit], …] best first; ties broken by the lower id (stable)."""
    order = np.lexsort((np.arange(row.size), -row.astype(np.float64)))[:k]
    return [[int(i), float(row[i])] for i in order]


def window_nll(logits: np.ndarray, tokens: list[int]) -> np.ndarray:
    lp = log_softmax(logits[:-1])
    return -lp[np.arange(len(tokens) - 1), np.asarray(tokens[1:])]


def write_f32_gguf(source: Path, target: Path) -> None:
    """Copy a GGUF with every tensor dequantized to F32 (metadata unchanged).

    Running llama.cpp on this file removes its quantized dot products, which
    separates "different arithmetic" from "different model" when comparing.
    """
    import gguf
    from gguf.quants import dequantize

    reader = gguf.GGUFReader(str(source))
    tmp = target.with_name(target.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch=reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = 0 if field.name == "general.file_type" else field.contents()  # 0 = all F32
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    for tensor in reader.tensors:
        values = dequantize(tensor.data, tensor.tensor_type)
        writer.add_tensor(tensor.name, np.ascontiguousarray(
            values.reshape([int(d) for d in reversed(tensor.shape)]), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, target)


# MARK: - Context


class Reference:
    """Everything the fixtures share: paths, checksums, the llama.cpp handles."""

    def __init__(self, args: argparse.Namespace) -> None:
        import llama_cpp

        self.llama_cpp = llama_cpp
        self.args = args
        self.model_path: Path = args.model
        self.test_path: Path = args.corpus / "wiki.test.raw"
        for path in (self.model_path, self.test_path):
            if not path.is_file():
                raise SystemExit(f"make_fixtures: {path} not found; run 'make setup' first")
        self.model_sha = sha256_file(self.model_path)
        self.test_sha = sha256_file(self.test_path)
        self.test_text = self.test_path.read_text(encoding="utf-8")
        self._vocab = None
        self._test_tokens: list[int] | None = None
        self._f32_model: Path | None = None

    def provenance(self, command: str) -> dict:
        lc = self.llama_cpp
        return {
            "model": self.model_path.name,
            "model_sha256": self.model_sha,
            "corpus_file": self.test_path.name,
            "corpus_sha256": self.test_sha,
            "llama_cpp_python": lc.__version__,
            "llama_cpp_vendored_commit": VENDORED_LLAMA_CPP.get(lc.__version__, "unknown"),
            "llama_cpp_system_info": lc.llama_print_system_info().decode(errors="replace").strip(),
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "command": command,
        }

    def vocab_model(self):
        if self._vocab is None:
            self._vocab = self.llama_cpp.Llama(
                model_path=str(self.model_path), vocab_only=True, verbose=False)
        return self._vocab

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.vocab_model().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def test_tokens(self) -> list[int]:
        if self._test_tokens is None:
            self._test_tokens = self.tokenize(self.test_text)
        return self._test_tokens

    def f32_model(self) -> Path:
        """The checkpoint with all tensors dequantized to F32 (built once, outside the repo)."""
        if self._f32_model is None:
            self.args.work.mkdir(parents=True, exist_ok=True)
            target = self.args.work / (self.model_path.stem + ".dequantized-f32.gguf")
            if not target.is_file():
                print(f"writing {target}")
                write_f32_gguf(self.model_path, target)
            self._f32_model = target
        return self._f32_model

    def context(self, n_ctx: int, f32_weights: bool = False, f32_kv: bool = False):
        """A llama.cpp context; defaults are llama.cpp's own (quantized weights, F16 KV cache)."""
        kv = GGML_TYPE_F32 if f32_kv else None
        return self.llama_cpp.Llama(
            model_path=str(self.f32_model() if f32_weights else self.model_path),
            n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
            n_threads=self.args.threads, n_threads_batch=self.args.threads,
            logits_all=True, verbose=False, seed=0, type_k=kv, type_v=kv, flash_attn=False)

    @staticmethod
    def run(llm, tokens: list[int]) -> np.ndarray:
        """Fresh context (KV cache cleared), all-position logits [T][n_vocab]."""
        llm.reset()
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32, copy=True)


# MARK: - Fixtures


def make_tokenizer(ref: Reference, out: Path) -> None:
    cases = [(name, text) for name, text in TOKENIZER_CASES]
    cases.insert(8, ("test_split_prefix_2000_chars", ref.test_text[:TEST_PREFIX_CHARS]))
    payload = ref.provenance(
        "python infra/reference/make_fixtures.py --only tokenizer "
        "(llm.tokenize(text.encode(), add_bos=False, special=False))")
    payload["add_bos"] = False
    payload["special"] = False
    payload["cases"] = [{"name": n, "text": t, "ids": ref.tokenize(t)} for n, t in cases]
    write_json(out / "tokenizer_reference.json", payload)


def make_logits(ref: Reference, out: Path, numpy_model) -> dict:
    tokens = ref.test_tokens()[:LOGITS_TOKENS]
    llm = ref.context(64)
    lc = Reference.run(llm, tokens)
    positions = []
    lp_lc = log_softmax(lc)
    for p in range(len(tokens)):
        entry = {"position": p, "token": tokens[p], "top10": top_k(lc[p], TOP_K),
                 "logsumexp": logsumexp(lc[p])}
        if p + 1 < len(tokens):
            entry["next_token"] = tokens[p + 1]
            entry["next_token_logprob"] = float(lp_lc[p, tokens[p + 1]])
        positions.append(entry)

    comparison: dict = {}
    if numpy_model is not None:
        fp32 = numpy_model["fp32"].forward(tokens)
        lp_np = log_softmax(fp32)
        delta = np.abs(lc.astype(np.float64) - fp32)
        next_idx = (np.arange(len(tokens) - 1), np.asarray(tokens[1:]))
        comparison = {
            "what": "llama.cpp (quantized dot products) vs numpy fp32 forward on gguf-dequantized weights",
            "max_abs_delta_logit": float(delta.max()),
            "mean_abs_delta_logit": float(delta.mean()),
            "max_abs_delta_logit_per_position": [float(d) for d in delta.max(axis=1)],
            "max_abs_delta_logsumexp": float(max(abs(logsumexp(lc[p]) - logsumexp(fp32[p]))
                                                 for p in range(len(tokens)))),
            "max_abs_delta_next_token_logprob": float(np.abs(lp_lc[next_idx] - lp_np[next_idx]).max()),
            "top1_agreement": int(sum(int(np.argmax(lc[p]) == np.argmax(fp32[p])) for p in range(len(tokens)))),
            "positions": len(tokens),
            "numpy_fp32_positions": [
                {"position": p, "top10": top_k(fp32[p], TOP_K), "logsumexp": logsumexp(fp32[p]),
                 **({"next_token_logprob": float(lp_np[p, tokens[p + 1]])} if p + 1 < len(tokens) else {})}
                for p in range(len(tokens))],
        }
        if "fp64" in numpy_model:
            fp64 = numpy_model["fp64"].forward(tokens)
            comparison["numpy_fp32_vs_fp64_max_abs_delta_logit"] = float(np.abs(fp32 - fp64).max())
            comparison["llama_cpp_vs_numpy_fp64_max_abs_delta_logit"] = float(
                np.abs(lc.astype(np.float64) - fp64).max())
        # Where the llama.cpp vs numpy gap comes from: rerun llama.cpp with F32
        # weights and/or an F32 KV cache (default: quantized weights, F16 cache).
        variants, exact = {}, None
        for label, f32_weights, f32_kv in [
                ("q4_1_weights_f16_kv (llama.cpp default, the fixture)", False, False),
                ("q4_1_weights_f32_kv", False, True),
                ("f32_dequantized_weights_f16_kv", True, False),
                ("f32_dequantized_weights_f32_kv", True, True)]:
            got = Reference.run(ref.context(64, f32_weights, f32_kv), tokens).astype(np.float64)
            d = np.abs(got - fp32)
            variants[label] = {"max_abs_delta_logit_vs_numpy_fp32": float(d.max()),
                               "mean_abs_delta_logit_vs_numpy_fp32": float(d.mean())}
            exact = got  # the last variant: llama.cpp with no quantized arithmetic
        comparison["llama_cpp_variants_vs_numpy_fp32"] = variants
        # RoPE pairing evidence: against llama.cpp without quantized arithmetic,
        # only the adjacent-pair ("NORM") rotation reproduces its logits.
        neox = numpy_model["fp32"].forward(tokens, rope="neox")
        comparison["rope_layout_evidence"] = {
            "what": ("max |logit delta| between llama.cpp (F32 dequantized weights, F32 KV cache) "
                     "and numpy fp32 with each possible RoPE pairing"),
            "norm_adjacent_pairs_2i_2i+1": float(np.abs(exact - fp32).max()),
            "neox_half_split_pairs_i_i+d/2": float(np.abs(exact - neox).max()),
            "neox_top1_agreement_of_16": int(sum(int(np.argmax(exact[p]) == np.argmax(neox[p]))
                                                 for p in range(len(tokens)))),
        }
        write_f32(out / "logits_last_position_fp32.f32", fp32[-1])

    payload = ref.provenance("python infra/reference/make_fixtures.py --only logits")
    payload.update({
        "text_source": f"first {LOGITS_TOKENS} tokens of {ref.test_path.name} (no BOS)",
        "tokens": tokens,
        "n_ctx": 64, "n_threads": ref.args.threads, "logits_all": True,
        "n_vocab": int(lc.shape[1]),
        "positions": positions,
        "last_position_file": "logits_last_position.f32 (little-endian float32, n_vocab values, llama.cpp)",
        "last_position_fp32_file": "logits_last_position_fp32.f32 (same, numpy fp32 forward)",
        "llama_cpp_vs_numpy_fp32": comparison,
    })
    write_json(out / "logits_reference.json", payload)
    write_f32(out / "logits_last_position.f32", lc[-1])
    return comparison


def perplexity_block(windows_nll: list[np.ndarray]) -> dict:
    all_nll = np.concatenate(windows_nll)
    mean = float(all_nll.mean())
    return {"tokens_scored": int(all_nll.size), "mean_nll": mean, "ppl": float(np.exp(mean)),
            "per_window_mean_nll": [float(w.mean()) for w in windows_nll]}


def make_perplexity(ref: Reference, out: Path, numpy_model) -> dict:
    tokens = ref.test_tokens()
    results: dict = {}
    for name, n, window in PPL_SETTINGS:
        if len(tokens) < n:
            raise SystemExit(f"make_fixtures: test split has only {len(tokens)} tokens, need {n}")
        llm = ref.context(window)
        llm_f32 = ref.context(window, f32_weights=True, f32_kv=True) if numpy_model is not None else None
        lc_seconds = 0.0
        lc_windows, np_windows, f32_windows = [], [], []
        for start in range(0, n, window):
            chunk = tokens[start:start + window]
            started = time.time()
            lc_windows.append(window_nll(Reference.run(llm, chunk), chunk))
            lc_seconds += time.time() - started
            if llm_f32 is not None:
                f32_windows.append(window_nll(Reference.run(llm_f32, chunk), chunk))
            if numpy_model is not None:
                np_windows.append(window_nll(numpy_model["fp32"].forward(chunk), chunk))
        entry = {"first_n_tokens": n, "window": window, "windows": n // window,
                 "predictions_per_window": window - 1,
                 "llama_cpp": perplexity_block(lc_windows),
                 "llama_cpp_seconds_2_threads_shared_busy_machine": round(lc_seconds, 2)}
        if np_windows:
            entry["numpy_fp32"] = perplexity_block(np_windows)
            entry["llama_cpp_f32_dequantized_weights_f32_kv"] = perplexity_block(f32_windows)
            entry["abs_delta_mean_nll_llama_cpp_vs_numpy_fp32"] = abs(
                entry["llama_cpp"]["mean_nll"] - entry["numpy_fp32"]["mean_nll"])
        results[name] = entry
        print(f"{name}: llama.cpp ppl {entry['llama_cpp']['ppl']:.4f}"
              + (f", numpy fp32 ppl {entry['numpy_fp32']['ppl']:.4f}" if np_windows else ""))

    # For comparison only: the definition of llama.cpp's `llama-perplexity` tool
    # (emulated here; the tool itself is not built by pip): chunks of n_ctx=512,
    # only the second half of each chunk is scored (predictions for positions
    # 256..510 -> tokens 257..511, i.e. 255 per chunk), BOS put at the chunk
    # start only when the vocab says add_bos (false for SmolLM2, so none).
    n_ctx, n_chunks = 512, 4096 // 512
    llm = ref.context(n_ctx)
    first = n_ctx // 2
    chunk_nll = []
    for c in range(n_chunks):
        chunk = tokens[c * n_ctx:(c + 1) * n_ctx]
        lp = log_softmax(Reference.run(llm, chunk)[first:n_ctx - 1])
        chunk_nll.append(-lp[np.arange(n_ctx - 1 - first), np.asarray(chunk[first + 1:])])
    tool_style = perplexity_block(chunk_nll)
    tool_style["definition"] = ("NOT PPF's metric: llama-perplexity style, n_ctx 512, first 4096 tokens, "
                                "scores only the second half of each chunk, no BOS (add_bos=false)")

    payload = ref.provenance("python infra/reference/make_fixtures.py --only perplexity")
    payload.update({
        "definition": ("PPF metric: tokenize the whole file without BOS, take the first N tokens, "
                       "split into non-overlapping windows; each window runs in a fresh context and "
                       "every position predicts the next token of the same window (window-1 "
                       "predictions); ppl = exp(mean NLL over all predictions)"),
        "total_test_tokens": len(tokens),
        "settings": results,
        "for_comparison_only_llama_perplexity_tool_style": tool_style,
    })
    write_json(out / "perplexity_reference.json", payload)
    return payload


def make_dequant(ref: Reference, out: Path) -> None:
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(ref.model_path))
    wanted = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight"]
    tensors = []
    for tensor in reader.tensors:
        if tensor.name not in wanted:
            continue
        values = dequantize(tensor.data, tensor.tensor_type)
        rows_shape = [int(d) for d in reversed(tensor.shape)]
        values = values.reshape(rows_shape)
        row_bytes = tensor.data.reshape(rows_shape[0], -1)
        rows = []
        for r in (0, 1, 100):
            row = values[r].astype(np.float64)
            rows.append({"row": r, "first8": [float(v) for v in values[r][:8]],
                         "sum": float(row.sum()), "sum_of_squares": float((row * row).sum()),
                         "first_block_bytes_hex": bytes(row_bytes[r][: {"Q8_0": 34, "Q4_1": 20}
                                                                     .get(tensor.tensor_type.name, 0)]).hex()})
        tensors.append({"name": tensor.name, "type": tensor.tensor_type.name,
                        "gguf_shape_innermost_first": [int(d) for d in tensor.shape],
                        "row_major_shape_rows_cols": rows_shape,
                        "data_offset_in_file": int(tensor.data_offset), "rows": rows})
    import gguf
    payload = ref.provenance("python infra/reference/make_fixtures.py --only dequant")
    payload.update({"gguf_python": getattr(gguf, "__version__", "unknown"),
                    "how": "gguf.quants.dequantize(tensor.data, tensor.tensor_type), float32; sums in float64",
                    "tensors": sorted(tensors, key=lambda t: wanted.index(t["name"]))})
    write_json(out / "dequant_reference.json", payload)


# MARK: - Main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / ".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--corpus", type=Path, default=ROOT / ".deps/corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "Tests/PPFModelTests/Fixtures")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/llamaref-work"),
                        help="scratch folder outside the repo (F32 copy of the model, ~540 MB)")
    parser.add_argument("--only", choices=["tokenizer", "logits", "perplexity", "dequant"], action="append")
    parser.add_argument("--no-numpy", action="store_true", help="skip the numpy fp32 comparison")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    only = set(args.only or ["tokenizer", "logits", "perplexity", "dequant"])

    ref = Reference(args)
    numpy_model = None
    if not args.no_numpy and only & {"logits", "perplexity"}:
        from numpy_llama import NumpyLlama
        numpy_model = {"fp32": NumpyLlama(str(args.model))}
        if "logits" in only:
            numpy_model["fp64"] = NumpyLlama(str(args.model), dtype=np.float64)

    if "tokenizer" in only:
        make_tokenizer(ref, args.out)
    if "dequant" in only:
        make_dequant(ref, args.out)
    if "logits" in only:
        make_logits(ref, args.out, numpy_model)
    if "perplexity" in only:
        make_perplexity(ref, args.out, numpy_model)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
