#!/usr/bin/env python3
"""Check PPF's exports of pruned SmolLM2 against llama.cpp and HF transformers.

PPF's Swift exporter writes two hand-sliced pruned versions of the real model
(Tests/PPFPruningTests/ExportReferenceSupport.swift fixes the slicing):

* a NON-uniform one (per-layer heads, KV groups and FFN widths, a dropped
  block, an attention-free block, biases) as GGUF in F32 and F16;
* a UNIFORM one (6 of 9 query heads, 1280 of 1536 channels, a dropped block,
  biases) as an HF folder: model.safetensors + config.json + tokenizer files.

This script loads them with code that shares nothing with PPF, measures, and
pins the results in Tests/PPFPruningTests/Fixtures/export_reference.json.
It runs in three steps because llama.cpp and torch live in separate venvs
(see docs/export.md for how they were installed):

    make setup                                      # model + corpus in .deps/
    PPF_EXPORT_REFERENCE_DIR=/tmp/ppf-export-ref \\
        swift test --filter writeReferenceExportsWhenAsked       # ~4 min (debug)
    /tmp/llamaref/bin/python infra/reference/export/verify_exports.py llama --dir /tmp/ppf-export-ref
    HF_HUB_OFFLINE=1 /tmp/hfref/bin/python infra/reference/export/verify_exports.py hf --dir /tmp/ppf-export-ref
    python3 infra/reference/export/verify_exports.py fixture --dir /tmp/ppf-export-ref

Perplexity is PPF's metric (infra/reference/README.md): the first N tokens of
wiki.test.raw without BOS, non-overlapping windows of W tokens, each in a
fresh context, every position scored; ppl = exp(mean NLL), NLL from a
float64 log-softmax of the float32 logits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
FIXTURE = ROOT / "Tests/PPFPruningTests/Fixtures/export_reference.json"
MODEL = ROOT / ".deps/models/SmolLM2-135M-Instruct.Q4_1.gguf"
TEST_SPLIT = ROOT / ".deps/corpus/wiki.test.raw"
SETTINGS = {"w128_n1024": (1024, 128), "w512_n4096": (4096, 512)}
GGUF_CASES = ["nonuniform-f32.gguf", "nonuniform-f16.gguf"]
HF_CASE = "uniform-hf-f32"
LOGITS_TOKENS_GGUF = 16
LOGITS_TOKENS_HF = 64
TOP_K = 10
# llama-cpp-python does not report the llama.cpp commit it vendors (infra/reference/README.md).
VENDORED_LLAMA_CPP = {"0.3.36": "0c1e57098bba43ac29e6e3b677cdceebdd22334f"}

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
    print(f"wrote {path}")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))


def window_nll(logits: np.ndarray, tokens: list[int]) -> np.ndarray:
    lp = log_softmax(logits[:-1])
    return -lp[np.arange(len(tokens) - 1), np.asarray(tokens[1:])]


def ppf_perplexity(score, tokens: list[int], n: int, window: int) -> dict:
    """PPF's metric; `score(window_tokens)` returns the window's [T][vocab] logits."""
    nll = []
    for start in range(0, n, window):
        chunk = tokens[start:min(n, start + window)]
        if len(chunk) >= 2:
            nll.append(window_nll(score(chunk), chunk))
    flat = np.concatenate(nll)
    return {"tokens_scored": int(flat.size), "mean_nll": float(flat.mean()), "ppl": float(np.exp(flat.mean()))}


def positions(logits: np.ndarray) -> list[dict]:
    """Per position: top-10 [id, logit] (ties by lower id) and logsumexp."""
    out = []
    for p, row in enumerate(logits):
        order = np.lexsort((np.arange(row.size), -row.astype(np.float64)))[:TOP_K]
        z = row.astype(np.float64)
        out.append({"position": p, "top10": [[int(i), float(row[i])] for i in order],
                    "logsumexp": float(z.max() + np.log(np.exp(z - z.max()).sum()))})
    return out


def compare(reference: np.ndarray, swift: np.ndarray) -> dict:
    delta = np.abs(reference.astype(np.float64) - swift.astype(np.float64))
    return {"max_abs_delta_logit": float(delta.max()), "mean_abs_delta_logit": float(delta.mean()),
            "top1_agreement": int((reference.argmax(-1) == swift.argmax(-1)).sum()), "positions": int(reference.shape[0])}


def swift_logits(directory: Path, name: str, rows: int) -> np.ndarray:
    return np.fromfile(directory / f"swift-logits-{name}.f32", dtype="<f4").reshape(rows, -1)


# MARK: - llama.cpp


def run_llama(directory: Path, threads: int) -> None:
    import gguf
    import llama_cpp

    swift = json.loads((directory / "swift_results.json").read_text())
    text = TEST_SPLIT.read_text(encoding="utf-8")
    results = {"llama_cpp_python": llama_cpp.__version__,
               "llama_cpp_vendored_commit": VENDORED_LLAMA_CPP.get(llama_cpp.__version__, "unknown"),
               "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
               "gguf": getattr(gguf, "__version__", "unknown"), "numpy": np.__version__}
    for name in GGUF_CASES:
        path = directory / name
        reader = gguf.GGUFReader(str(path))
        arch = reader.fields["general.architecture"].contents()
        vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        # The tokenizer travelled inside the exported file: tokenize with it.
        tokens = list(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))[:4096]

        def context(n_ctx: int, f32_kv: bool):
            kv = 0 if f32_kv else None  # GGML_TYPE_F32 = 0; None = llama.cpp's default F16 cache
            return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx,
                                   n_threads=threads, n_threads_batch=threads, logits_all=True, verbose=False,
                                   seed=0, type_k=kv, type_v=kv, flash_attn=False)

        def scorer(llm):
            def score(chunk):
                llm.reset()
                llm.eval(chunk)
                return np.array(llm.scores[:len(chunk)], dtype=np.float32, copy=True)
            return score

        entry = {"architecture": arch, "sha256": sha256_file(path), "file_bytes": path.stat().st_size,
                 "tokens_identical_to_swift": tokens == swift["tokens"], "perplexity": {}}
        for setting, (n, window) in SETTINGS.items():
            default = ppf_perplexity(scorer(context(window, False)), tokens, n, window)
            f32_kv = ppf_perplexity(scorer(context(window, True)), tokens, n, window)
            entry["perplexity"][setting] = {"first_n_tokens": n, "window": window,
                                            "llama_cpp": default, "llama_cpp_f32_kv": f32_kv}
            print(f"{name} {setting}: llama.cpp ppl {default['ppl']:.4f} (F32 KV {f32_kv['ppl']:.4f}), "
                  f"Swift {swift[name]['perplexity'][setting]['ppl']:.4f}")
        logits_tokens = tokens[:LOGITS_TOKENS_GGUF]
        reference = scorer(context(64, True))(logits_tokens)
        entry["logits_tokens"] = logits_tokens
        entry["llama_cpp_f32_kv_positions"] = positions(reference)
        entry["llama_cpp_f32_kv_vs_swift"] = compare(reference, swift_logits(directory, name, LOGITS_TOKENS_GGUF))
        print(f"{name} logits: {entry['llama_cpp_f32_kv_vs_swift']}")
        results[name] = entry
    write_json(directory / "llama_results.json", results)


# MARK: - HF transformers


def run_hf(directory: Path) -> None:
    import safetensors
    import tokenizers
    import torch
    import transformers
    from transformers import AutoTokenizer, LlamaForCausalLM

    swift = json.loads((directory / "swift_results.json").read_text())
    folder = directory / HF_CASE
    torch.set_num_threads(2)
    model, info = LlamaForCausalLM.from_pretrained(str(folder), torch_dtype=torch.float32, output_loading_info=True)
    model.eval()
    loading = {k: sorted(map(str, v)) for k, v in info.items()}

    def score(chunk):
        with torch.no_grad():
            return model(torch.tensor([chunk])).logits[0].float().numpy()

    tokens = swift["tokens"]
    logits_tokens = tokens[:LOGITS_TOKENS_HF]
    reference = score(logits_tokens)
    hf_ppl = ppf_perplexity(score, tokens, 1024, 128)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    hf_ids = tokenizer(TEST_SPLIT.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"][:4096]
    entry = {
        "torch": torch.__version__, "transformers": transformers.__version__,
        "safetensors": safetensors.__version__, "tokenizers": tokenizers.__version__,
        "config": json.loads((folder / "config.json").read_text()),
        "safetensors_sha256": sha256_file(folder / "model.safetensors"),
        "safetensors_bytes": (folder / "model.safetensors").stat().st_size,
        "loading_info": loading,
        "logits_tokens": logits_tokens,
        "hf_positions": positions(reference),
        "hf_vs_swift": compare(reference, swift_logits(directory, HF_CASE, LOGITS_TOKENS_HF)),
        "perplexity": {"w128_n1024": {"first_n_tokens": 1024, "window": 128, "hf": hf_ppl}},
        "tokenizer_json_ids_identical_to_llama_cpp": hf_ids == tokens,
        "tokenizer_json_first_mismatch": next((i for i, (a, b) in enumerate(zip(hf_ids, tokens)) if a != b), None),
    }
    print(f"HF loading info: {loading}")
    print(f"HF logits vs Swift: {entry['hf_vs_swift']}")
    print(f"HF ppl {hf_ppl['ppl']:.4f}, Swift {swift[HF_CASE]['perplexity']['w128_n1024']['ppl']:.4f}")
    print(f"tokenizer.json ids identical: {entry['tokenizer_json_ids_identical_to_llama_cpp']}")
    write_json(directory / "hf_results.json", entry)


# MARK: - Fixture


def make_fixture(directory: Path) -> None:
    swift = json.loads((directory / "swift_results.json").read_text())
    llama = json.loads((directory / "llama_results.json").read_text())
    hf = json.loads((directory / "hf_results.json").read_text())
    fixture = {"provenance": {
        "what": "PPF exports of hand-sliced pruned SmolLM2 checked by llama.cpp (GGUF) and HF transformers (safetensors)",
        "model": MODEL.name, "model_sha256": sha256_file(MODEL),
        "corpus_file": TEST_SPLIT.name, "corpus_sha256": sha256_file(TEST_SPLIT),
        "slicing": "Tests/PPFPruningTests/ExportReferenceSupport.swift (ExportReference.nonUniform / .uniform)",
        "llama_cpp_python": llama["llama_cpp_python"], "llama_cpp_vendored_commit": llama["llama_cpp_vendored_commit"],
        "llama_cpp_system_info": llama["llama_cpp_system_info"], "gguf": llama["gguf"],
        "torch": hf["torch"], "transformers": hf["transformers"], "safetensors": hf["safetensors"],
        "tokenizers": hf["tokenizers"], "python": platform.python_version(), "machine": platform.machine(),
        "command": "see the docstring of infra/reference/export/verify_exports.py",
    }}
    for name in GGUF_CASES:
        s, l = swift[name], llama[name]
        shape = dict(s["shape"])
        shape["file_bytes"] = l["file_bytes"]
        fixture[name.replace("-", "_").replace(".gguf", "").replace("nonuniform", "nonuniform_gguf")] = {
            "architecture": l["architecture"], "sha256": l["sha256"], "shape": shape,
            "tokens_identical_to_swift": l["tokens_identical_to_swift"],
            "perplexity": {k: {"first_n_tokens": v["first_n_tokens"], "window": v["window"],
                               "tokens_scored": v["llama_cpp"]["tokens_scored"],
                               "swift_ppl": s["perplexity"][k]["ppl"], "swift_mean_nll": s["perplexity"][k]["mean_nll"],
                               "llama_cpp_ppl": v["llama_cpp"]["ppl"], "llama_cpp_mean_nll": v["llama_cpp"]["mean_nll"],
                               "llama_cpp_f32_kv_ppl": v["llama_cpp_f32_kv"]["ppl"],
                               "llama_cpp_f32_kv_mean_nll": v["llama_cpp_f32_kv"]["mean_nll"],
                               "relative_ppl_difference_vs_llama_cpp": abs(s["perplexity"][k]["ppl"] / v["llama_cpp"]["ppl"] - 1)}
                           for k, v in l["perplexity"].items()},
            "logits_tokens": l["logits_tokens"],
            "llama_cpp_f32_kv_positions": l["llama_cpp_f32_kv_positions"],
            "max_abs_delta_logit_vs_swift_f32_kv": l["llama_cpp_f32_kv_vs_swift"]["max_abs_delta_logit"],
            "mean_abs_delta_logit_vs_swift_f32_kv": l["llama_cpp_f32_kv_vs_swift"]["mean_abs_delta_logit"],
            "top1_agreement": l["llama_cpp_f32_kv_vs_swift"]["top1_agreement"],
        }
    fixture["uniform_hf_f32"] = {
        "config": hf["config"], "safetensors_sha256": hf["safetensors_sha256"], "safetensors_bytes": hf["safetensors_bytes"],
        "loading_info": hf["loading_info"], "logits_tokens": hf["logits_tokens"], "hf_positions": hf["hf_positions"],
        "max_abs_delta_logit_vs_swift": hf["hf_vs_swift"]["max_abs_delta_logit"],
        "mean_abs_delta_logit_vs_swift": hf["hf_vs_swift"]["mean_abs_delta_logit"],
        "top1_agreement": hf["hf_vs_swift"]["top1_agreement"],
        "perplexity": {"w128_n1024": {"first_n_tokens": 1024, "window": 128,
                                      "hf_ppl": hf["perplexity"]["w128_n1024"]["hf"]["ppl"],
                                      "swift_ppl": swift[HF_CASE]["perplexity"]["w128_n1024"]["ppl"]}},
        "tokenizer_json_ids_identical_to_llama_cpp": hf["tokenizer_json_ids_identical_to_llama_cpp"],
        "tokenizer_json_first_mismatch": hf["tokenizer_json_first_mismatch"],
    }
    write_json(FIXTURE, fixture)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["llama", "hf", "fixture"])
    parser.add_argument("--dir", type=Path, required=True, help="PPF_EXPORT_REFERENCE_DIR of the Swift step")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not (args.dir / "swift_results.json").is_file():
        raise SystemExit(f"{args.dir}/swift_results.json not found: run the Swift step first (see --help)")
    {"llama": lambda: run_llama(args.dir, args.threads), "hf": lambda: run_hf(args.dir),
     "fixture": lambda: make_fixture(args.dir)}[args.part]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
