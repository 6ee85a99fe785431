"""llama.cpp's throughput on PPF's scoring job, for `ppf bench model --llama-cpp-python PYTHON`.

Scores one window of `--window` tokens with all logits (what a perplexity run
does), `--repetitions` times after a warm-up, and prints the median tokens/s.
Needs llama-cpp-python (see infra/reference/README.md for the venv).
"""
import argparse
import random
import statistics
import time

from llama_cpp import Llama

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--window", type=int, default=512)
parser.add_argument("--repetitions", type=int, default=3)
parser.add_argument("--threads", type=int, default=2)
args = parser.parse_args()

llm = Llama(model_path=args.model, n_ctx=args.window, n_batch=args.window, n_ubatch=args.window,
            logits_all=True, n_threads=args.threads, verbose=False)
rng = random.Random(2025)
tokens = [rng.randrange(llm.n_vocab()) for _ in range(args.window)]

def score():
    llm.reset()
    llm._ctx.kv_cache_clear() if hasattr(llm._ctx, "kv_cache_clear") else None
    llm.eval(tokens)

score()  # warm-up
times = []
for _ in range(args.repetitions):
    start = time.perf_counter()
    score()
    times.append(time.perf_counter() - start)
print(args.window / statistics.median(times))
