"""A process that fills an embedding plan and then reads it, as an xdist worker of a session does, for the
multi-process tests of test_plan.py.

    python tests/plan_worker.py MODE CACHE_DIR LOG_FILE N_WORDS [SHARED_JSON]

The plan lists N_WORDS words for each of two fake embedders, "a" and "b". Every load and every input a fake model
computes is appended to LOG_FILE with this process's id, so a test can count them across processes. The process
writes LOG_FILE.ready-PID once it has started, then waits for LOG_FILE.go, so that the processes of a test fill
at the same moment. It prints one JSON line: the digest of the vectors it read, and its usage per embedder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from runtime.plan import EmbeddingPlan, Need
from runtime.session import Runtime, Shared
from tests.cache_worker import FakeModel, fake_entry

NAMES = ("a", "b")


def words_of(name: str, count: int) -> list[str]:
    return [f"{name}-word{i}" for i in range(count)]


def logged_loader(name: str, log: Path):
    def load() -> FakeModel:
        with open(log, "a") as out:
            out.write(f"{os.getpid()} load {name}\n")
        time.sleep(0.3)  # a real load takes a while: widens the race for the embedder's lock
        return FakeModel(log, delay=0.3)

    return load


def main() -> None:
    mode, folder, log, count = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    shared = Shared.from_json(sys.argv[5]) if len(sys.argv) > 5 else None
    entries = [fake_entry(logged_loader(name, log), name) for name in NAMES]
    plan = EmbeddingPlan()
    for entry in entries:
        plan.add(entry, Need(f"words of {entry.name}", lambda info, name=entry.name: {"words": words_of(name, count)}))
    Path(f"{log}.ready-{os.getpid()}").touch()
    while not Path(f"{log}.go").exists():
        time.sleep(0.01)
    runtime = Runtime(mode, folder, shared)
    try:
        runtime.fill(plan)
        digest = hashlib.sha256()
        for entry in entries:  # what the tests then read
            result = runtime.embedder(entry).embed_words(words_of(entry.name, count))
            digest.update(result.vectors.tobytes() + result.found.tobytes())
        usage = {name: asdict(runtime.pool.usage_of(name)) for name in NAMES}
    finally:
        runtime.close()
    print(json.dumps({"digest": digest.hexdigest(), "usage": usage}))


if __name__ == "__main__":
    main()
