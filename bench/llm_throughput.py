"""Load time, peak RSS and throughput of an LLM embedder, batched against one input at a time.

    PYTHONPATH=. .venv/bin/python bench/llm_throughput.py --model smollm2-135m [--cold] [--dtype bfloat16]

Loads are timed in fresh subprocesses (peak RSS is per process): "gguf" dequantises the GGUF file without the
converted cache, "cold" is a first registry load into an empty cache (convert and save), "warm" loads the saved
safetensors folder. Throughput is 1000 distinct words and 100 lines of gensim's lee_background.cor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, resource, sys, time
from embedders import llm
from embedders.registry import EMBEDDERS

name, mode = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if mode == "gguf":
    gguf = {"smollm2-135m": llm.smollm2_path, "gemma3-270m": llm.gemma3_gguf}[name]
    llm.load_gguf(name, gguf, key="bench", weights="bench", cache=False)
else:
    EMBEDDERS[name].load()
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


def measure_load(name: str, mode: str, cache: str | None) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if cache:
        env["EMBEDDING_CLAIMS_CACHE"] = cache
    done = subprocess.run(
        [sys.executable, "-c", CHILD, name, mode], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{mode} load of {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def corpus() -> tuple[list[str], list[str], list[str]]:
    """1000 distinct words, 100 lines (whole news stories, ~250 tokens) and 100 sentences cut from those lines."""
    from gensim.test.utils import datapath

    lines = Path(datapath("lee_background.cor")).read_text(encoding="latin-1").splitlines()
    words = list(dict.fromkeys(word for line in lines for word in re.findall(r"[A-Za-z]+", line)))
    sentences = [part for line in lines for part in re.split(r"(?<=[.!?])\s+(?=[A-Z])", line) if part.strip()]
    return words[:1000], [line for line in lines if line.strip()][:100], sentences[:100]


def timed(call) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = call()
    return time.perf_counter() - started, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m", help="registered LLM embedder name")
    parser.add_argument("--strategy", default="mean", help="extraction strategy, e.g. mean, prompt, mean@-4")
    parser.add_argument("--dtype", default="float32", help="weights dtype: float32 or bfloat16 (the throughput runs)")
    parser.add_argument("--cold", action="store_true", help="also time a first load into an empty cache")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads for the throughput runs (default: the backend's choice)",
    )
    parser.add_argument("--skip-loads", action="store_true", help="throughput only")
    parser.add_argument("--skip-loop", action="store_true", help="skip the slow one-at-a-time loops")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from embedders import (
        LoadOptions,
        llm,  # noqa: F401  (registers the LLM embedders)
    )
    from embedders.registry import EMBEDDERS

    rows: list[tuple[str, str]] = []
    load_before = os.getloadavg()[0]
    warm = measure_load(args.model, "warm", None)  # also fills the user's cache if it is empty
    rows.append(("load, converted cache (warm)", f"{warm['seconds']:.1f} s, peak RSS {warm['peak_rss_gb']:.2f} GB"))
    if args.model in ("smollm2-135m", "gemma3-270m") and not args.skip_loads:
        gguf = measure_load(args.model, "gguf", None)
        rows.append(("load, GGUF dequantised", f"{gguf['seconds']:.1f} s, peak RSS {gguf['peak_rss_gb']:.2f} GB"))
    if args.cold and not args.skip_loads:
        with tempfile.TemporaryDirectory() as empty:
            cold = measure_load(args.model, "cold", empty)
        rows.append(("load, empty cache (convert+save)", f"{cold['seconds']:.1f} s, RSS {cold['peak_rss_gb']:.2f} GB"))

    embedder = EMBEDDERS[args.model].load(LoadOptions(dtype=args.dtype, llm_strategy=args.strategy))
    if args.threads:
        torch.set_num_threads(args.threads)
    words, lines, sentences = corpus()
    embedder.embed_words(words[:8])  # first-call warm-up (allocator, kernels) is not throughput
    for label, items, embed in (
        ("words", words, embedder.embed_words),
        ("lines", lines, embedder.embed_sentences),
        ("sentences", sentences, embedder.embed_sentences),
    ):
        tokens = sum(len(embedder.tokenizer(item)["input_ids"]) for item in items) / len(items)
        rows.append((f"{label}: mean tokens", f"{tokens:.1f}"))
        batched_s, batched = timed(lambda embed=embed, items=items: embed(items).vectors)
        rows.append((f"{len(items)} {label}, batched", f"{batched_s:.2f} s = {len(items) / batched_s:.1f} {label}/s"))
        if args.skip_loop:
            continue
        loop_s, looped = timed(lambda embed=embed, items=items: np.stack([embed([x]).vectors[0] for x in items]))
        rows.append((f"{len(items)} {label}, one at a time", f"{loop_s:.2f} s = {len(items) / loop_s:.1f} {label}/s"))
        difference = float(np.abs(batched - looped).max())
        rows.append((f"{label}: batched speed-up", f"{loop_s / batched_s:.1f}x (max |difference| {difference:.1e})"))

    rows.append(("peak RSS of this process", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"))
    print(
        f"\n{args.model}  strategy={args.strategy}  dtype={embedder.info.weights.rsplit('; ', 1)[-1]}  "
        f"threads={torch.get_num_threads()}  machine load avg {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    main()
