"""Throughput of the sentence encoders on CPU: load time, words/s and sentences/s.

Each model runs in a fresh subprocess so its load time includes its own imports and nothing warmed by another.
Words are the first N distinct lower-case words of gensim's lee_background.cor; sentences are its first lines
(each a short news document, truncated by each model at its own maximum length).

    PYTHONPATH=. .venv/bin/python bench/encoder_throughput.py [--model sbert-minilm --model use ...]

Wall times are only meaningful on an otherwise idle machine; the CPU-second columns say how much work it was.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_MODELS = ("sbert-minilm", "use", "e5-small")


def corpus(words: int, sentences: int) -> tuple[list[str], list[str]]:
    from gensim.test.utils import datapath

    lines = Path(datapath("lee_background.cor")).read_text(encoding="latin-1").splitlines()
    distinct = list(dict.fromkeys(re.findall(r"[a-z]+", " ".join(lines).lower())))
    return distinct[:words], [line for line in lines if line.strip()][:sentences]


def measure(name: str, words: int, sentences: int, threads: int) -> dict[str, float | str]:
    """One model in this process: load, one warm-up call (excluded), then the timed runs."""
    import torch

    from embedders import api, sentence, simcse  # noqa: F401  (register their embedders)
    from embedders.registry import EMBEDDERS

    torch.set_num_threads(threads)
    word_list, sentence_list = corpus(words, sentences)
    entry = EMBEDDERS[name]
    takes_threads = "threads" in inspect.signature(entry.loader).parameters
    started = time.perf_counter()
    embedder = entry.loader(threads=threads) if takes_threads else entry.load()
    loaded = time.perf_counter()
    embedder.embed_sentences(["A warm-up sentence."])
    warmed, cpu_warmed = time.perf_counter(), time.process_time()
    embedder.embed_words(word_list)
    worded, cpu_worded = time.perf_counter(), time.process_time()
    embedder.embed_sentences(sentence_list)
    done, cpu_done = time.perf_counter(), time.process_time()
    return {
        "model": name,
        "load_s": loaded - started,
        "first_call_s": warmed - loaded,
        "words_s": worded - warmed,
        "words_per_s": len(word_list) / (worded - warmed),
        "sentences_s": done - worded,
        "sentences_per_s": len(sentence_list) / (done - worded),
        # CPU seconds over all threads: steadier than wall time when other work shares the machine.
        "words_cpu_s": cpu_worded - cpu_warmed,
        "sentences_cpu_s": cpu_done - cpu_worded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help=f"registered name; repeatable (default: {DEFAULT_MODELS})")
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument(
        "--threads", type=int, default=2, help="CPU threads per model (default 2; use 1 when the machine is shared)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    models = options.model or list(DEFAULT_MODELS)
    if options.child:
        print(json.dumps(measure(models[0], options.words, options.sentences, options.threads)))
        return
    rows = []
    for name in models:
        command = [sys.executable, __file__, "--child", "--model", name, "--words", str(options.words)]
        command += ["--sentences", str(options.sentences), "--threads", str(options.threads)]
        environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        # OpenMP/BLAS pools size themselves at start-up: the limit must be in the environment beforehand.
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            environment[variable] = str(options.threads)
        finished = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
        if finished.returncode:
            print(f"{name}: failed\n{finished.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(finished.stdout.strip().splitlines()[-1]))
    header = (
        f"{'model':<14}{'load s':>9}{'1st call s':>12}{f'{options.words} words s':>16}{'words/s':>10}{'cpu s':>8}"
        f"{f'{options.sentences} sents s':>15}{'sents/s':>10}{'cpu s':>8}"
    )
    print(f"threads per model: {options.threads}")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['model']:<14}{row['load_s']:>9.2f}{row['first_call_s']:>12.2f}{row['words_s']:>16.2f}"
            f"{row['words_per_s']:>10.0f}{row['words_cpu_s']:>8.2f}{row['sentences_s']:>15.2f}"
            f"{row['sentences_per_s']:>10.1f}{row['sentences_cpu_s']:>8.2f}"
        )


if __name__ == "__main__":
    main()
