"""Lookups per second of the embedding cache: 50k words through the store alone, through the cached embedder, and by
several processes reading (and one writing) the same file at once.

    .venv/bin/python bench/cache_lookups.py --words 50000 --dimension 576 --readers 4
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np

from runtime.session import Runtime
from runtime.store import EmbeddingStore, input_key
from tests.cache_worker import FakeModel, fake_entry


def read_all(folder: str, keys: list[bytes], dimension: int) -> float:
    store = EmbeddingStore(Path(folder), writable=False)
    started = time.perf_counter()
    hits = store.get_vectors(keys, dimension)
    seconds = time.perf_counter() - started
    assert len(hits) == len(keys)
    return len(keys) / seconds


def write_more(folder: str, dimension: int, rows: int) -> float:
    store = EmbeddingStore(Path(folder))
    started = time.perf_counter()
    for start in range(0, rows, 1024):
        store.put_vectors(
            (input_key("other", "words", f"w{i}"), True, np.ones(dimension, np.float32))
            for i in range(start, min(rows, start + 1024))
        )
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--dimension", type=int, default=576)
    parser.add_argument("--readers", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cache-lookups-"))
    rng = np.random.default_rng(0)
    words = [f"word{i}" for i in range(args.words)]
    keys = [input_key("space", "words", w) for w in words]
    vectors = rng.standard_normal((args.words, args.dimension)).astype(np.float32)
    store = EmbeddingStore(folder)
    started = time.perf_counter()
    for start in range(0, args.words, 1024):
        store.put_vectors((keys[i], True, vectors[i]) for i in range(start, min(args.words, start + 1024)))
    write_rate = args.words / (time.perf_counter() - started)
    store.close()
    results: dict[str, object] = {"words": args.words, "dimension": args.dimension, "writes_per_s": round(write_rate)}
    results["store_lookups_per_s"] = round(read_all(str(folder), keys, args.dimension))

    runtime = Runtime("rw", folder / "wrapped")
    # fill (the fake model's dimension is small; the rate is the cache's overhead)
    runtime.embedder(fake_entry(lambda: FakeModel(None))).embed_words(words)
    runtime.close()
    runtime = Runtime("rw", folder / "wrapped")  # a new session
    embedder = runtime.embedder(fake_entry(lambda: FakeModel(None)))
    started = time.perf_counter()
    embedder.embed_words(words)
    results["cached_embedder_lookups_per_s"] = round(args.words / (time.perf_counter() - started))
    runtime.close()

    with multiprocessing.get_context("spawn").Pool(args.readers + 1) as pool:
        writer = pool.apply_async(write_more, (str(folder), args.dimension, args.words))
        readers = [pool.apply_async(read_all, (str(folder), keys, args.dimension)) for _ in range(args.readers)]
        rates = [reader.get() for reader in readers]
        results["concurrent_readers"] = args.readers
        results["concurrent_lookups_per_s_each"] = [round(rate) for rate in rates]
        results["concurrent_writes_per_s"] = round(writer.get())
    results["database_mb"] = round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
