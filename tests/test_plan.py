"""The session's embedding plan: filled once per embedder, in one load, by one process; remembered by a marker so a
warm session does no model work; refreshed once per session; kept out of the user's cache under ro and off; and
a need or an embedder that fails stops nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from embedders import EmbedderEntry, EmbedderInfo, Embeddings
from runtime.plan import EmbeddingPlan, Need
from runtime.pool import Usage
from runtime.session import Runtime, Shared
from tests.cache_worker import FakeModel, Loader, fake_entry, vector_of
from tests.plan_worker import NAMES, logged_loader, words_of

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["cat", "dog", "king", "queen", "paris", "london", "bank"]

Session = Callable[..., Runtime]


@pytest.fixture
def session() -> Iterator[Session]:
    """Opens a runtime as a pytest session would; every one opened is closed after the test. A test closes one
    itself to start the next session on the same folder."""
    opened: list[Runtime] = []

    def open_runtime(mode: str, folder: Path, shared: Shared | None = None) -> Runtime:
        opened.append(Runtime(mode, folder, shared))
        return opened[-1]

    yield open_runtime
    for runtime in opened:
        runtime.close()


def words_need(describe: str, words: list[str], sentences: list[str] | None = None) -> Need:
    listed = {"words": words, **({"sentences": sentences} if sentences else {})}
    return Need(describe, lambda info: listed)


def two_embedder_plan(a: EmbedderEntry, b: EmbedderEntry) -> EmbeddingPlan:
    """``a``: two needs that overlap (8 distinct words) and one sentence; ``b``: the 7 words."""
    plan = EmbeddingPlan()
    plan.add(a, words_need("eval one", WORDS))
    plan.add(a, words_need("claim two", [*WORDS[:3], "extra"], ["a sentence"]))
    plan.add(b, words_need("eval one", WORDS))
    return plan


def counts(usage: Usage) -> tuple[int, int, int, int, int, int]:
    return (usage.planned, usage.from_cache, usage.computed, usage.unplanned, usage.model_calls, usage.loads)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# ---------------------------------------------------------------- one process


def test_one_load_per_embedder_then_a_warm_session_does_no_model_work(tmp_path: Path, session: Session) -> None:
    first_a, first_b = Loader(), Loader()
    a, b = fake_entry(first_a, "a"), fake_entry(first_b, "b")
    runtime = session("rw", tmp_path)
    reports = runtime.fill(two_embedder_plan(a, b))
    assert [(r.name, r.done_before, r.skipped, r.unlisted) for r in reports] == [
        ("a", False, None, []),
        ("b", False, None, []),
    ]
    assert len(first_a.models) == len(first_b.models) == 1
    assert sorted(first_a.computed) == sorted([*WORDS, "extra", "a sentence"])  # each input once
    assert sorted(first_b.computed) == sorted(WORDS)
    # planned, from the cache, computed, unplanned, model calls (one per form), loads
    assert counts(runtime.pool.usage_of("a")) == (9, 0, 9, 0, 2, 1)
    assert counts(runtime.pool.usage_of("b")) == (7, 0, 7, 0, 1, 1)
    assert runtime.pool.loaded is None  # the fill let go of its last model
    # the tests then read what the plan computed, with no further model work
    assert runtime.embedder(a).embed_words(["extra", *WORDS]).found.all()
    assert len(first_a.models) == 1 and runtime.pool.usage_of("a").unplanned == 0
    runtime.close()

    second_a, second_b = Loader(), Loader()
    warm = session("rw", tmp_path)
    reports = warm.fill(two_embedder_plan(fake_entry(second_a, "a"), fake_entry(second_b, "b")))
    assert [(r.name, r.done_before) for r in reports] == [("a", True), ("b", True)]  # by the plan's marker
    assert second_a.models == second_b.models == []
    assert counts(warm.pool.usage_of("a")) == (9, 9, 0, 0, 0, 0)
    assert counts(warm.pool.usage_of("b")) == (7, 7, 0, 0, 0, 0)


def test_a_grown_plan_computes_only_what_it_adds(tmp_path: Path, session: Session) -> None:
    entry = fake_entry(Loader(), "a")
    plan = EmbeddingPlan()
    plan.add(entry, words_need("eval one", WORDS))
    first = session("rw", tmp_path)
    first.fill(plan)
    first.close()
    loader = Loader()
    plan = EmbeddingPlan()
    plan.add(fake_entry(loader, "a"), words_need("eval one", WORDS))
    plan.add(fake_entry(loader, "a"), words_need("eval two", ["new"]))
    grown = session("rw", tmp_path)
    (report,) = grown.fill(plan)
    assert not report.done_before and loader.computed == ["new"]
    assert counts(grown.pool.usage_of("a")) == (8, 7, 1, 0, 1, 1)


# ---------------------------------------------------------------- several processes


def fill_in_processes(mode: str, folder: Path, log: Path, count: int, shared: Shared | None = None) -> list[dict]:
    """Two plan_worker.py processes filling the same plan at the same moment; what each printed."""
    command = [sys.executable, str(ROOT / "tests" / "plan_worker.py"), mode, str(folder), str(log), str(count)]
    command += [shared.to_json()] if shared else []
    environment = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    Path(f"{log}.go").unlink(missing_ok=True)
    for ready in log.parent.glob(f"{log.name}.ready-*"):
        ready.unlink()
    workers = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    deadline = time.monotonic() + 120
    while len(list(log.parent.glob(f"{log.name}.ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    Path(f"{log}.go").touch()  # both started: let them fill together
    outputs = [worker.communicate(timeout=180)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    return [json.loads(output) for output in outputs]


def logged(log: Path) -> tuple[Counter[str], Counter[str]]:
    """Loads per embedder and computations per input, over every process that wrote the log."""
    loads: Counter[str] = Counter()
    computed: Counter[str] = Counter()
    for line in log.read_text().splitlines() if log.exists() else []:
        _, rest = line.split(" ", 1)
        if rest.startswith("load "):
            loads[rest.removeprefix("load ")] += 1
        else:
            computed[rest] += 1
    return loads, computed


def test_two_processes_filling_one_plan_load_each_model_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    results = fill_in_processes("rw", tmp_path / "cache", log, 300)
    loads, computed = logged(log)
    assert loads == Counter(NAMES)  # each model loaded once in all
    assert computed == Counter(word for name in NAMES for word in words_of(name, 300))  # each input once
    assert len({result["digest"] for result in results}) == 1  # and both read the same vectors
    for name in NAMES:
        assert sum(result["usage"][name]["computed"] for result in results) == 300
        assert all(result["usage"][name]["unplanned"] == 0 for result in results)


def test_a_refresh_recomputes_each_planned_input_once_per_session(tmp_path: Path, session: Session) -> None:
    log, cache = tmp_path / "log", tmp_path / "cache"
    fill_in_processes("rw", cache, log, 50)
    log.unlink()
    token = Shared("one-session", None)  # as the xdist controller hands its token to every worker
    results = fill_in_processes("refresh", cache, log, 50, token)
    loads, computed = logged(log)
    assert loads == Counter(NAMES)
    assert computed == Counter(word for name in NAMES for word in words_of(name, 50))
    for name in NAMES:  # counted once in the session: by the process that filled it
        assert sum(result["usage"][name]["planned"] for result in results) == 50
        assert sum(result["usage"][name]["computed"] for result in results) == 50
        assert sum(result["usage"][name]["from_cache"] for result in results) == 0
    log.unlink()
    # the same session filling again (another worker, late) finds its own refresh done; a new session refreshes
    plan = EmbeddingPlan()
    for name in NAMES:  # the workers' plan (the same entries: the same identities)
        plan.add(fake_entry(logged_loader(name, log), name), Need(f"words of {name}", lambda info, n=name: words(n)))
    late = session("refresh", cache, token)
    assert late.fill(plan) == []  # each embedder's plan was dealt with in this session: nothing to do or count
    assert not log.exists()
    late.close()
    again = session("refresh", cache)
    assert not any(report.done_before for report in again.fill(plan))
    assert logged(log) == (Counter(NAMES), Counter(word for name in NAMES for word in words_of(name, 50)))


def words(name: str) -> dict[str, list]:
    return {"words": words_of(name, 50)}


# ---------------------------------------------------------------- ro and off


def test_read_only_fills_a_scratch_store_and_writes_nothing_to_the_cache(tmp_path: Path, session: Session) -> None:
    cache = tmp_path / "cache"
    entry = fake_entry(Loader(), "a")
    first = session("rw", cache)
    first.embedder(entry).embed_words(WORDS[:3])
    first.close()
    before = snapshot(cache)
    loader = Loader()
    plan = EmbeddingPlan()
    plan.add(fake_entry(loader, "a"), words_need("eval one", WORDS))
    read_only = session("ro", cache)
    read_only.fill(plan)
    assert sorted(loader.computed) == sorted(WORDS[3:])  # what the cache has is read from it
    assert counts(read_only.pool.usage_of("a")) == (7, 3, 4, 0, 1, 1)
    read_only.fill(plan)  # filled in this session already: no work, no count
    assert sorted(loader.computed) == sorted(WORDS[3:]) and len(loader.models) == 1
    assert counts(read_only.pool.usage_of("a")) == (7, 3, 4, 0, 1, 1)
    scratch = Path(read_only.shared.scratch or "")
    assert scratch.is_dir() and not scratch.is_relative_to(cache)
    read_only.close()
    assert snapshot(cache) == before and not scratch.exists()


def test_off_writes_nothing_to_the_cache_folder(tmp_path: Path, session: Session) -> None:
    cache = tmp_path / "cache"
    loader = Loader()
    plan = EmbeddingPlan()
    plan.add(fake_entry(loader, "a"), words_need("eval one", WORDS))
    off = session("off", cache)
    off.fill(plan)
    assert off.embedder(fake_entry(loader, "a")).embed_words(WORDS).found.all()
    assert sorted(loader.computed) == sorted(WORDS) and len(loader.models) == 1
    scratch = Path(off.shared.scratch or "")
    assert scratch.is_dir()
    off.close()
    assert not cache.exists() and not scratch.exists()


# ---------------------------------------------------------------- failures


def test_a_need_that_cannot_list_its_inputs_stops_no_other_and_leaves_no_marker(
    tmp_path: Path, session: Session
) -> None:
    calls: list[str] = []

    def broken(info: EmbedderInfo) -> dict[str, list]:
        calls.append(info.name)
        raise ValueError("the dataset file is damaged")

    def plan_with(loader: Loader) -> EmbeddingPlan:
        plan = EmbeddingPlan()
        plan.add(fake_entry(loader, "a"), Need("claim broken", broken))
        plan.add(fake_entry(loader, "a"), words_need("eval one", WORDS))
        return plan

    loader = Loader()
    first = session("rw", tmp_path)
    (report,) = first.fill(plan_with(loader))
    assert report.skipped is None and not report.done_before
    assert report.unlisted == ["claim broken: ValueError: the dataset file is damaged"]
    assert sorted(loader.computed) == sorted(WORDS)  # the other need was filled
    first.close()
    again = Loader()
    second = session("rw", tmp_path)
    (report,) = second.fill(plan_with(again))
    assert not report.done_before and calls == ["fake", "fake"]  # no marker: the next session tries again
    assert again.computed == [] and counts(second.pool.usage_of("a")) == (7, 7, 0, 0, 0, 0)


class FailingLoader:
    def __init__(self) -> None:
        self.attempts = 0

    def __call__(self):
        self.attempts += 1
        raise RuntimeError("the weights are damaged")


def test_an_embedder_that_fails_to_load_is_reported_and_the_fill_goes_on(tmp_path: Path, session: Session) -> None:
    failing, loader = FailingLoader(), Loader()
    plan = EmbeddingPlan()
    plan.add(fake_entry(failing, "broken"), words_need("eval one", ["x"]))
    plan.add(fake_entry(loader, "fine"), words_need("eval one", WORDS))
    runtime = session("rw", tmp_path)
    broken, fine = runtime.fill(plan)
    assert broken.name == "broken" and broken.skipped is not None
    assert broken.skipped.startswith("RuntimeError: the weights are damaged")
    assert fine.skipped is None and sorted(loader.computed) == sorted(WORDS)
    assert runtime.pool.loaded is None and runtime.pool.usage_of("broken").loads == 0
    runtime.close()
    second = session("rw", tmp_path)
    (broken, _) = second.fill(plan)  # nothing remembered the failure: the next session tries again
    assert failing.attempts == 2 and broken.skipped is not None


# ---------------------------------------------------------------- reads while a plan is being filled


class ShiftedModel(FakeModel):
    """The fake model after a change of weights: every vector moved, so a stale read shows."""

    def _vectors(self, texts: Sequence[str]) -> Embeddings:
        result = super()._vectors(texts)
        return Embeddings(result.vectors + 1.0, result.found, result.truncated)


def test_under_refresh_a_read_waits_for_the_sessions_recomputation(tmp_path: Path, session: Session) -> None:
    cache = tmp_path / "cache"
    first = session("rw", cache)
    first.embedder(fake_entry(Loader(), "a")).embed_words(WORDS)
    first.close()
    token = Shared("a-refresh-session", None)
    loading = threading.Event()

    def slow_new_weights() -> FakeModel:
        loading.set()
        return ShiftedModel(None, delay=1.0)

    plan = EmbeddingPlan()
    plan.add(fake_entry(slow_new_weights, "a"), words_need("eval one", WORDS))

    def fill_in_another_worker() -> None:  # a runtime, like its SQLite connection, belongs to one thread
        filler = Runtime("refresh", cache, token)
        try:
            filler.fill(plan)
        finally:
            filler.close()

    thread = threading.Thread(target=fill_in_another_worker)
    thread.start()
    assert loading.wait(10)
    never = Loader()
    reader = session("refresh", cache, token)  # another worker of the same session, its own fill already done
    reader.fill(plan)  # the embedder's lock is held by the filler: skipped here
    vectors = reader.embedder(fake_entry(never, "a")).embed_words(WORDS).vectors
    thread.join()
    assert np.allclose(vectors, np.stack([vector_of(word) + 1.0 for word in WORDS]))  # the new vectors, not the old
    assert never.models == [] and counts(reader.pool.usage_of("a")) == (0, 0, 0, 0, 0, 0)


def test_a_plan_skipped_for_another_sessions_lock_is_filled_at_the_first_read(tmp_path: Path, session: Session) -> None:
    cache = tmp_path / "cache"
    loader = Loader()
    plan = EmbeddingPlan()
    plan.add(fake_entry(loader, "a"), words_need("eval one", WORDS))
    holding, done = threading.Event(), threading.Event()

    def another_session_in_one_of_its_tests() -> None:  # on the same cache, holding the embedder's lock a while
        other = Runtime("rw", cache)
        assert other.pool.try_hold("a")
        holding.set()
        done.wait(0.5)
        other.close()

    thread = threading.Thread(target=another_session_in_one_of_its_tests)
    thread.start()
    assert holding.wait(10)
    runtime = session("rw", cache)
    assert runtime.fill(plan) == [] and loader.models == []  # skipped: someone else has the embedder
    embedder = runtime.embedder(fake_entry(loader, "a"))
    assert embedder.embed_words(WORDS[:2]).found.all()  # waits for the lock, then fills the whole plan, once
    assert embedder.embed_words(WORDS).found.all()
    assert len(loader.models) == 1 and sorted(loader.computed) == sorted(WORDS)
    assert counts(runtime.pool.usage_of("a")) == (7, 0, 7, 0, 1, 1)  # all of it planned, nothing outside the plan
    thread.join()
