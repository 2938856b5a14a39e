"""python -m runtime.merge: shards filled through real runtimes merge into one cache that serves all of them with no
model load; reruns copy nothing; conflicts and damaged rows are reported and never replace what OUT holds; a merge
killed mid-way leaves OUT readable and a rerun completes it; shards are never written to."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from runtime.merge import BATCH, main
from runtime.session import Runtime
from runtime.store import DATABASE, CacheWarning, EmbeddingStore, input_key
from tests.cache_worker import Loader, fake_entry, vector_of

ROOT = Path(__file__).resolve().parent.parent
FIRST = ["cat", "dog", "king", "queen"]
SECOND = ["paris", "london", "bank", "cat"]  # "cat" in both: the same row, already there on the second merge


def fill(folder: Path, words: list[str]) -> str:
    """A shard as a fill session leaves it: the fake embedder's description and these words' vectors. Returns the
    embedder's key space."""
    runtime = Runtime("rw", folder)
    try:
        embedder = runtime.embedder(fake_entry(Loader()))
        embedder.embed_words(words)
        return embedder.space
    finally:
        runtime.close()


def rows(folder: Path) -> dict[str, set[tuple]]:
    connection = sqlite3.connect(f"{(folder / DATABASE).as_uri()}?mode=ro&immutable=1", uri=True)  # writes nothing
    try:
        return {
            table: set(connection.execute(f"SELECT * FROM {table}").fetchall())
            for table in ("vectors", "infos", "results", "computations")
        }
    finally:
        connection.close()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def merge(out: Path, *shards: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([str(out), *map(str, shards)])
    return code, capsys.readouterr().out


def summary_of(output: str, shard: Path) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{shard}:"))


def test_two_shards_merge_into_every_row_and_a_rerun_copies_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    fill(a, FIRST)
    fill(b, SECOND)
    before = snapshot(a), snapshot(b)
    code, output = merge(out, a, b, capsys=capsys)
    assert code == 0
    merged, of_a, of_b = rows(out), rows(a), rows(b)
    for table in ("vectors", "infos", "results"):
        assert merged[table] == of_a[table] | of_b[table]
    assert merged["computations"] == of_a["computations"]  # the same computation: the first record is kept
    assert len(merged["vectors"]) == 7 and len(merged["infos"]) == 1
    # b's description (the same embedder's) and its "cat" are there when b is merged after a
    read_a, read_b = sum(map(len, of_a.values())), sum(map(len, of_b.values()))
    assert f"{a}: {read_a} rows read, {read_a} copied, 0 already there, 0 conflicts, 0 damaged" in output
    # and the record of where that embedder was computed (the same machine and device: one record)
    assert f"{b}: {read_b} rows read, {read_b - 3} copied, 3 already there, 0 conflicts, 0 damaged" in output
    assert (snapshot(a), snapshot(b)) == before  # shards are read, never written (no -wal/-shm either)

    code, output = merge(out, a, b, capsys=capsys)
    assert code == 0
    assert f"{a}: {read_a} rows read, 0 copied, {read_a} already there" in output
    assert f"{b}: {read_b} rows read, 0 copied, {read_b} already there" in output
    assert rows(out) == merged


def test_the_merged_cache_serves_both_shards_with_no_model_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    fill(a, FIRST)
    fill(b, SECOND)
    assert merge(out, a, b, capsys=capsys)[0] == 0
    loader = Loader()
    runtime = Runtime("rw", out)
    try:
        words = sorted({*FIRST, *SECOND})
        with warnings.catch_warnings():
            warnings.simplefilter("error", CacheWarning)
            result = runtime.embedder(fake_entry(loader)).embed_words(words)
        usage = runtime.pool.usage_of("fake")
        assert loader.models == [] and usage.loads == 0 and usage.model_calls == 0
    finally:
        runtime.close()
    assert result.found.all()
    np.testing.assert_array_equal(result.vectors, np.stack([vector_of(word) for word in words]))


def test_a_conflicting_row_is_reported_and_does_not_replace_the_stored_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    space = fill(a, FIRST)
    fill(b, SECOND)
    cat = input_key(space, "words", "cat")
    other = EmbeddingStore(b)  # another machine's numerics: a valid row with other bytes
    other.put_vectors([(cat, 1, vector_of("cat") + 1e-3)])
    other.close()
    code, output = merge(out, a, b, capsys=capsys)
    assert code == 1
    assert "0 conflicts" in summary_of(output, a) and "1 conflicts, 0 damaged" in summary_of(output, b)
    assert f"conflict: vectors {cat.hex()[:16]}" in output
    hits = EmbeddingStore(out, writable=False).get_vectors([cat], None)
    np.testing.assert_array_equal(hits[cat][1], vector_of("cat"))  # a's row, merged first, is kept
    assert rows(out)["vectors"] >= {row for row in rows(b)["vectors"] if row[0] != cat}  # the rest of b is in


def test_a_damaged_row_is_reported_and_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, out = tmp_path / "a", tmp_path / "out"
    space = fill(a, FIRST)
    dog = input_key(space, "words", "dog")
    database = sqlite3.connect(a / DATABASE)
    with database:
        (payload,) = database.execute("SELECT vector FROM vectors WHERE key = ?", (dog,)).fetchone()
        database.execute("UPDATE vectors SET vector = ? WHERE key = ?", (bytes([payload[0] ^ 0x04]) + payload[1:], dog))
    database.close()
    code, output = merge(out, a, capsys=capsys)
    assert code == 1
    assert "1 damaged" in summary_of(output, a) and f"damaged: vectors {dog.hex()[:16]}" in output
    assert str(a) in output
    merged = rows(out)["vectors"]
    assert {row[0] for row in merged} == {input_key(space, "words", w) for w in FIRST} - {dog}


def test_a_shard_with_a_damaged_row_gives_none_of_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its results may hold a plan's "done" marker: copied without the damaged vector, OUT would claim a plan whose
    vectors it lacks."""
    a, out = tmp_path / "a", tmp_path / "out"
    space = fill(a, FIRST)
    store = EmbeddingStore(a)
    store.put_result(input_key(space, "plan", "a digest"), b'{"planned": 3}')
    store.close()  # the last connection closed: the log is folded into the file
    dog = input_key(space, "words", "dog")
    database = sqlite3.connect(a / DATABASE)
    with database:
        database.execute("UPDATE vectors SET checksum = zeroblob(32) WHERE key = ?", (dog,))
    database.close()
    code, output = merge(out, a, capsys=capsys)
    assert code == 1 and "results not copied" in output
    assert rows(out)["results"] == set() and len(rows(a)["results"]) == 1


def test_a_shard_with_its_write_ahead_log_is_read_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A shard copied while its writer had the file open (or after it was killed): the committed rows still in the
    log are merged too, and the copy is not written to."""
    live, copied, out = tmp_path / "live", tmp_path / "copied", tmp_path / "out"
    writer = EmbeddingStore(live)
    keys = [input_key("s", "words", str(i)) for i in range(50)]
    writer.put_vectors([(key, 1, np.full(8, i, np.float32)) for i, key in enumerate(keys)])
    copied.mkdir()
    for name in (DATABASE, f"{DATABASE}-wal"):  # no -shm: it does not travel
        (copied / name).write_bytes((live / name).read_bytes())
    writer.close()
    assert (copied / f"{DATABASE}-wal").stat().st_size > 0
    before = snapshot(copied)
    code, output = merge(out, copied, capsys=capsys)
    assert code == 0 and "50 rows read, 50 copied" in output
    assert snapshot(copied) == before
    assert len(EmbeddingStore(out, writable=False).get_vectors(keys, 8)) == 50


def test_bad_usage_exits_2_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, empty = tmp_path / "a", tmp_path / "empty"
    fill(a, FIRST)
    empty.mkdir()
    for arguments, named in ([[tmp_path / "out", a, empty], empty], [[a, a], a], [[tmp_path / "out"], None]):
        with pytest.raises(SystemExit) as stopped:
            main([str(argument) for argument in arguments])
        assert stopped.value.code == 2
        error = capsys.readouterr().err
        assert named is None or str(named) in error
    assert not (tmp_path / "out").exists()


KILLED_ROWS = 40 * BATCH


def count_vectors(folder: Path) -> int:
    if not (folder / DATABASE).exists():
        return 0
    connection = sqlite3.connect(folder / DATABASE, timeout=60)
    try:
        return connection.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.OperationalError:  # the merge has not made its tables yet
        return 0
    finally:
        connection.close()


def test_a_merge_killed_mid_way_leaves_out_readable_and_a_rerun_completes_it(tmp_path: Path) -> None:
    shard, out = tmp_path / "shard", tmp_path / "out"
    store = EmbeddingStore(shard)
    keys = [input_key("s", "words", str(i)) for i in range(KILLED_ROWS)]
    store.put_vectors([(key, 1, np.full(16, i, np.float32)) for i, key in enumerate(keys)])
    store.close()
    command = [sys.executable, "-m", "runtime.merge", str(out), str(shard)]
    environment = dict(os.environ, PYTHONPATH=str(ROOT))
    merging = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    copied = 0
    deadline = time.monotonic() + 60
    while copied == 0 and time.monotonic() < deadline:  # wait for the first transactions, then kill
        time.sleep(0.005)
        copied = count_vectors(out)
    merging.send_signal(signal.SIGKILL)
    merging.wait()
    assert merging.returncode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # no row may be torn
        kept = EmbeddingStore(out, writable=False).get_vectors(keys, 16)
    assert 0 < len(kept) < KILLED_ROWS and len(kept) % BATCH == 0  # whole transactions, killed mid-way
    rerun = subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{KILLED_ROWS - len(kept)} copied, {len(kept)} already there, 0 conflicts, 0 damaged" in rerun.stdout
    merged = EmbeddingStore(out, writable=False).get_vectors(keys, 16)
    assert len(merged) == KILLED_ROWS and all(vector[0] == i for i, (_, vector) in enumerate(merged[k] for k in keys))


def test_an_unreadable_shard_is_reported_and_the_others_are_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, a, out = tmp_path / "broken", tmp_path / "a", tmp_path / "out"
    broken.mkdir()
    (broken / DATABASE).write_bytes(b"this is not an SQLite database" * 100)
    fill(a, FIRST)
    code, output = merge(out, broken, a, capsys=capsys)
    assert code == 1
    assert f"{broken}: 0 rows read" in output and "reading stopped: DatabaseError" in output
    assert rows(out)["vectors"] == rows(a)["vectors"]
