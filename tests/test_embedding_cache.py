"""The embedding cache: keys, damage, concurrency, kills, read-only mode, and a warm session with no model work."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from embedders import EMBEDDERS, EmbedderInfo, LoadOptions
from embedders.registry import PathFormat
from runtime.pool import Usage
from runtime.session import Runtime
from runtime.store import DATABASE, CacheWarning, EmbeddingStore, input_key
from tests.cache_worker import DIMENSION, FakeModel, Loader, fake_entry, vector_of

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["cat", "dog", "king", "queen", "paris", "london", "bank"]


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


Session = Callable[..., Runtime]


@pytest.fixture
def session() -> Iterator[Session]:
    """Opens a runtime, as a pytest session would (mode, folder); every one opened is closed after the test. A test
    closes one itself to start the next session on the same folder, as a new pytest run would."""
    opened: list[Runtime] = []

    def open_runtime(mode: str, folder: Path) -> Runtime:
        opened.append(Runtime(mode, folder))
        return opened[-1]

    yield open_runtime
    for runtime in opened:
        runtime.close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


# ---------------------------------------------------------------- keys


def test_key_changes_with_every_extraction_field_weights_and_input() -> None:
    info = FakeModel(None).info
    variants = [
        replace(info, extraction=replace(info.extraction, pooling="last")),
        replace(info, extraction=replace(info.extraction, layer="hidden_states[4]")),
        replace(info, extraction=replace(info.extraction, prompt="query: {text}")),
        replace(info, extraction=replace(info.extraction, normalisation="L2")),
        replace(info, extraction=replace(info.extraction, casing="lower-cased")),
        replace(info, weights="fake-weights-2"),
        replace(info, weights="fake-weights-1; bfloat16"),  # the LLM backends append their dtype to weights
    ]
    keys = {input_key(v.fingerprint, "words", "cat") for v in [info, *variants]}
    assert len(keys) == len(variants) + 1
    assert input_key(info.fingerprint, "words", "cat") != input_key(info.fingerprint, "sentences", "cat")
    assert input_key(info.fingerprint, "words", "cat") != input_key(info.fingerprint, "words", "Cat")


@pytest.mark.parametrize(
    "changed",
    [{"llm_strategy": "last-token"}, {"dtype": "bfloat16"}, {"device": "cuda"}, {"trust_remote_code": True}],
    ids=lambda changed: next(iter(changed)),
)
def test_identity_changes_with_each_load_option(changed: dict[str, object]) -> None:
    entry = EMBEDDERS["smollm2-135m"]
    assert entry.identity(replace(LoadOptions(), **changed)) != entry.identity(LoadOptions())


def test_load_options_a_backend_does_not_read_leave_its_identity_alone() -> None:
    glove = EMBEDDERS["glove-6b-50d"]
    others = LoadOptions(device="cuda", dtype="bfloat16", trust_remote_code=True, llm_strategy="last-token")
    assert glove.identity(others) == glove.identity(LoadOptions())  # GloVe's vectors do not depend on them


def test_identity_of_a_path_changes_when_its_file_does(tmp_path: Path) -> None:
    vectors = tmp_path / "v.txt"
    vectors.write_text("cat 0.1 0.2\n")
    path_format = PathFormat("glove", EMBEDDERS["glove-6b-50d"].family, "test", lambda path: None, lambda path: None)
    before = path_format.entry(f"glove:{vectors}", vectors).identity()
    vectors.write_text("cat 0.1 0.3 \n")
    assert path_format.entry(f"glove:{vectors}", vectors).identity() != before


# ---------------------------------------------------------------- the stand-in


def test_warm_lookups_load_no_model_and_give_the_same_vectors(cache: Path, session: Session) -> None:
    loader = Loader()
    first = session("rw", cache)
    cold = first.embedder(fake_entry(loader)).embed_words([*WORDS, "cat", ""])
    assert len(loader.models) == 1 and sorted(loader.computed) == sorted(["", *WORDS])
    first.close()
    warm_loader = Loader()
    second = session("rw", cache)  # as a new session would
    warm = second.embedder(fake_entry(warm_loader)).embed_words([*WORDS, "cat", ""])
    assert warm_loader.models == []  # described and answered from the cache alone
    assert second.pool.usage_of("fake").loads == 0 and second.pool.usage_of("fake").model_calls == 0
    np.testing.assert_array_equal(cold.vectors, warm.vectors)
    np.testing.assert_array_equal(cold.found, warm.found)
    assert not warm.found[-1] and warm.found[:-1].all()
    np.testing.assert_array_equal(warm.vectors[0], vector_of("cat"))


def test_truncation_marks_survive_the_cache(cache: Path, session: Session) -> None:
    sentences = ["a short one", "a sentence far longer than the fake model's context window", ""]
    first = session("rw", cache)
    cold = first.embedder(fake_entry(Loader())).embed_sentences(sentences)
    first.close()
    warm_loader = Loader()
    warm = session("rw", cache).embedder(fake_entry(warm_loader)).embed_sentences(sentences)
    assert warm_loader.models == []
    assert cold.truncated.tolist() == warm.truncated.tolist() == [False, True, False]


def test_inputs_of_different_forms_do_not_share_entries(cache: Path, session: Session) -> None:
    from embedders import WordInContext

    loader = Loader()
    embedder = session("rw", cache).embedder(fake_entry(loader))
    embedder.embed_words(["bank"])
    embedder.embed_sentences(["bank"])
    embedder.embed_in_context([WordInContext("the bank", 4, 8), WordInContext("the bank.", 4, 8)])
    assert loader.computed == ["bank", "bank", "the bank|4|8", "the bank.|4|8"]


def test_damaged_entries_are_reported_and_recomputed(cache: Path, session: Session) -> None:
    loader = Loader()
    first = session("rw", cache)
    embedder = first.embedder(fake_entry(loader))
    expected = embedder.embed_words(WORDS).vectors
    space = embedder.space
    first.close()
    database = sqlite3.connect(cache / DATABASE)
    with database:
        truncated, flipped = input_key(space, "words", "cat"), input_key(space, "words", "dog")
        database.execute("UPDATE vectors SET vector = substr(vector, 1, 10) WHERE key = ?", (truncated,))
        (payload,) = database.execute("SELECT vector FROM vectors WHERE key = ?", (flipped,)).fetchone()
        damaged = bytes([payload[0] ^ 0x04]) + payload[1:]
        database.execute("UPDATE vectors SET vector = ? WHERE key = ?", (damaged, flipped))
        # a flipped sign bit and a wrong type in the state column
        database.execute("UPDATE vectors SET found = -127 WHERE key = ?", (input_key(space, "words", "king"),))
        database.execute("UPDATE vectors SET found = 'x' WHERE key = ?", (input_key(space, "words", "queen"),))
    database.close()
    again = Loader()
    second = session("rw", cache)
    with pytest.warns(CacheWarning, match="fails its checksum"):
        vectors = second.embedder(fake_entry(again)).embed_words(WORDS).vectors
    assert sorted(again.computed) == ["cat", "dog", "king", "queen"]
    np.testing.assert_array_equal(vectors, expected)
    second.close()
    third = Loader()  # and the recomputed rows were written back whole
    session("rw", cache).embedder(fake_entry(third)).embed_words(WORDS)
    assert third.computed == []


def test_unreadable_database_is_a_warning_and_the_run_goes_on(cache: Path, session: Session) -> None:
    cache.mkdir()
    (cache / DATABASE).write_bytes(b"this is not an SQLite database" * 100)
    loader = Loader()
    with pytest.warns(CacheWarning, match="embedding cache unusable, running without it"):
        result = session("rw", cache).embedder(fake_entry(loader)).embed_words(WORDS)
    assert result.found.all() and sorted(loader.computed) == sorted(WORDS)


def test_read_only_never_writes_and_keeps_what_it_computed_for_the_session(cache: Path, session: Session) -> None:
    first = session("rw", cache)
    first.embedder(fake_entry(Loader())).embed_words(WORDS[:3])
    first.close()  # closes the writer: only the database file is left
    before = snapshot(cache)
    loader = Loader()
    read_only = session("ro", cache)
    embedder = read_only.embedder(fake_entry(loader))
    result = embedder.embed_words(WORDS)
    assert sorted(loader.computed) == sorted(WORDS[3:])  # misses computed, hits read
    np.testing.assert_array_equal(result.vectors[0], vector_of(WORDS[0]))
    embedder.embed_words(WORDS)  # what it computed is in the session's scratch store
    assert sorted(loader.computed) == sorted(WORDS[3:])
    scratch = read_only.shared.scratch
    assert scratch is not None and not Path(scratch).is_relative_to(cache)
    read_only.close()
    assert snapshot(cache) == before
    assert not Path(scratch).exists()


def test_read_only_on_a_missing_folder_creates_nothing(tmp_path: Path, session: Session) -> None:
    assert session("ro", tmp_path / "none").embedder(fake_entry(Loader())).embed_words(WORDS).found.all()
    assert not (tmp_path / "none").exists()


def test_refresh_reads_inputs_outside_the_plan_as_stored(cache: Path, session: Session) -> None:
    # (a refresh recomputes what the session's plan lists: tests/test_plan.py)
    first = session("rw", cache)
    first.embedder(fake_entry(Loader())).embed_words(WORDS[:3])
    first.close()
    loader = Loader()
    embedder = session("refresh", cache).embedder(fake_entry(loader))
    embedder.embed_words(WORDS)
    embedder.embed_words(WORDS)
    assert sorted(loader.computed) == sorted(WORDS[3:])


def test_off_touches_no_cache_and_computes_each_input_once(tmp_path: Path, session: Session) -> None:
    loader = Loader()
    off = session("off", tmp_path / "cache")
    embedder = off.embedder(fake_entry(loader))
    embedder.embed_words(WORDS)
    embedder.embed_words(WORDS)
    assert sorted(loader.computed) == sorted(WORDS)  # the session's scratch store answers the second time
    scratch = off.shared.scratch
    assert scratch is not None and Path(scratch).is_dir()
    off.close()
    assert not (tmp_path / "cache").exists()
    assert not Path(scratch).exists()


def test_one_model_per_process(cache: Path, session: Session) -> None:
    first, second = Loader(), Loader()
    runtime = session("rw", cache)
    a, b = runtime.embedder(fake_entry(first, "a")), runtime.embedder(fake_entry(second, "b"))
    # describing each loaded it (nothing cached yet); from then on every switch frees one model and loads the other
    a.embed_words(["x"])
    b.embed_words(["y"])
    a.embed_words(["z"])
    assert len(first.models) == 3 and len(second.models) == 2
    a.embed_words(["x", "z"])  # cached: no load
    assert len(first.models) == 3
    assert runtime.pool.usage_of("a").loads == 3 and runtime.pool.usage_of("b").loads == 2
    runtime.release(fake_entry(second, "b"))  # not the one loaded: nothing happens
    assert runtime.pool.loaded is not None and runtime.pool.loaded.name == "a"
    runtime.release(fake_entry(first, "a"))
    assert runtime.pool.loaded is None


# ---------------------------------------------------------------- several processes, and kills


def test_concurrent_processes_compute_an_entry_once(tmp_path: Path) -> None:
    log = tmp_path / "computed.log"
    command = [sys.executable, str(ROOT / "tests" / "cache_worker.py"), str(tmp_path / "cache"), str(log), "300"]
    workers = [subprocess.Popen(command, env=environment(), stdout=subprocess.PIPE, text=True) for _ in range(4)]
    digests = {worker.communicate(timeout=120)[0].strip() for worker in workers}
    assert all(worker.returncode == 0 for worker in workers)
    lines = log.read_text().splitlines()
    assert len(lines) == 300 and len({line.split()[0] for line in lines}) == 1  # every word, by one process
    assert len(digests) == 1  # and every process got the same vectors


KILL_SCRIPT = """
import sys, numpy as np
from runtime.store import EmbeddingStore, input_key
store = EmbeddingStore(__import__("pathlib").Path(sys.argv[1]))
batch = 0
while True:
    store.put_vectors([(input_key("s", "words", f"{batch}-{i}"), True, np.full(64, batch, np.float32))
                       for i in range(2000)])
    batch += 1
    print(batch, flush=True)
"""


def test_a_process_killed_mid_write_leaves_a_usable_cache(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    writer = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(folder)], env=environment(), stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    for _ in range(3):  # some transactions committed, the next one in flight
        writer.stdout.readline()
    time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    store = EmbeddingStore(folder)
    keys = [input_key("s", "words", f"{batch}-{i}") for batch in range(200) for i in range(2000)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # no row may be torn
        hits = store.get_vectors(keys, 64)
    assert len(hits) >= 3 * 2000 and len(hits) % 2000 == 0  # whole transactions only
    assert all(found and vector[0] == int(key_batch) for key_batch, (found, vector) in _batches(hits, keys))
    store.put_vectors([(input_key("s", "words", "after"), True, np.ones(64, np.float32))])  # still writable
    assert store.get_vectors([input_key("s", "words", "after")], 64)


def _batches(hits: dict, keys: list[bytes]):
    for index, key in enumerate(keys):
        if key in hits:
            yield index // 2000, hits[key]


# ---------------------------------------------------------------- real sessions


def test_cache_off_with_a_cache_dir_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--cache=off", f"--cache-dir={tmp_path}", "evals/"],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 4
    assert "--cache=off contradicts --cache-dir" in result.stderr


def test_a_warm_session_makes_no_forward_calls_and_loads_no_model(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "evals/test_word_similarity.py",
        "--embedder=glove-6b-50d",
        f"--cache-dir={tmp_path / 'cache'}",
        "--no-ledger",
        "-p",
        "no:cacheprovider",
    ]
    # cold; warm (measurements cached); another protocol (new measurements, from cached vectors)
    outputs = [
        subprocess.run(command + extra, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=600)
        for extra in ([], [], ["--oov-policy=zero"])
    ]
    assert [o.returncode for o in outputs] == [0, 0, 0], outputs[0].stdout[-2000:]
    cold, warm, other = (o.stdout for o in outputs)
    counts = [embeddings_line(text, "glove-6b-50d") for text in (cold, warm, other)]
    planned = counts[0][0]
    # cold: every planned input computed, in one load; warm, and under another protocol: all from the cache
    assert planned > 0 and counts[0][1:3] == (0, planned) and counts[0][3] >= 1 and counts[0][4] == 1
    assert counts[1] == counts[2] == (planned, planned, 0, 0, 0)
    assert not re.search(r"model forward calls in this session: 0\b", cold)
    assert "model forward calls in this session: 0\n" in warm and "model forward calls in this session: 0\n" in other
    assert "computed outside the plan" not in cold + warm + other
    measured = [[line for line in text.splitlines() if "spearman" in line] for text in (cold, warm)]
    assert measured[0] and measured[0] == measured[1]


def embeddings_line(text: str, name: str) -> tuple[int, int, int, int, int]:
    """An embedder's line of the embeddings section (nothing computed outside the plan): planned, from the cache,
    computed, model calls, loads."""
    usage = Usage.read_lines(text).get(name)
    assert usage is not None and usage.unplanned == 0, text[-3000:]
    return usage.planned, usage.from_cache, usage.computed, usage.model_calls, usage.loads


def test_stored_descriptions_round_trip(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    info: EmbedderInfo = replace(FakeModel(None).info, dimension=DIMENSION)
    store.put_info("identity", info)
    assert store.get_info("identity") == info
    assert store.get_info("other") is None


FULL_DISK_SCRIPT = """
import resource, signal, sys, warnings
import numpy as np
from pathlib import Path
from runtime.store import CacheWarning, EmbeddingStore, input_key
store = EmbeddingStore(Path(sys.argv[1]))
store.put_vectors([(input_key("s", "words", "first"), True, np.ones(64, np.float32))])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead of killing the process
resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))  # the disk is full from here on
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for batch in range(100):
        store.put_vectors([(input_key("s", "words", f"{batch}-{i}"), True, np.full(64, batch, np.float32))
                           for i in range(500)])
        if store.broken:
            break
print(batch, store.broken is not None, any(issubclass(w.category, CacheWarning) for w in caught), flush=True)
"""


def test_a_full_disk_stops_caching_and_leaves_the_cache_readable(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCRIPT, str(folder)], env=environment(), capture_output=True, text=True
    )
    assert result.returncode == 0 and len(result.stdout.split()) == 3, result.stdout + result.stderr[-2000:]
    failed_at, broken, warned = result.stdout.split()
    assert broken == "True" and warned == "True", result.stdout + result.stderr[-2000:]
    store = EmbeddingStore(folder)
    keys = [input_key("s", "words", f"{batch}-{i}") for batch in range(100) for i in range(500)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        hits = store.get_vectors(keys, 64)
        assert store.get_vectors([input_key("s", "words", "first")], 64)
    assert len(hits) == 500 * int(failed_at)  # the transactions before the failure, whole; the failed one not at all
    assert all(hits[key][1][0] == index // 500 for index, key in enumerate(keys[: len(hits)]))


def test_an_api_models_identity_names_its_host_not_the_rest_of_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from embedders.api import BASE_URL_VARIABLE

    entry = EMBEDDERS["openai-3-small"]

    def identity_at(url: str) -> str:
        monkeypatch.setenv(BASE_URL_VARIABLE, url)
        return entry.identity()

    local = identity_at("http://127.0.0.1:8080/v1")
    assert identity_at("https://127.0.0.1:9999/v1/") == local  # another port or scheme on another machine: the same
    assert identity_at("http://embeddings.internal:8080/v1") != local  # another server: its own vectors
