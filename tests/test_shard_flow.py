"""The whole multi-machine flow on this machine: three shards, each filled from its own checkout and HOME, merged,
then the default session decides every claim from the merged cache with none of the three models' weights to be
found, and decides as a session that has the weights does."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from embedders import EMBEDDERS
from ledger.file import read_ledger
from runtime.pool import Usage
from runtime.store import DATABASE, info_from_json, input_key
from tests.checkout import checkout
from tests.hidden_weights import hide

ROOT = Path(__file__).resolve().parent.parent
SHARDS = ("glove-6b-50d", "sbert-minilm", "smollm2-135m")
# the other defaults, hidden in both deciding sessions so that each is the default session over the same three
OTHERS = ("sbert-mpnet", "gemma3-270m", "use", "e5-small")


def run(arguments: list[str], where: Path, home: Path, path: Path | None = None, codes: tuple[int, ...] = (0,)) -> str:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EMBEDDING_CLAIMS_")}
    python_path = [str(path)] if path else []
    environment |= {
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join([*python_path, str(where)]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, *arguments], cwd=where, env=environment, capture_output=True, text=True, timeout=1500
    )
    assert done.returncode in codes, done.stdout[-4000:] + done.stderr[-3000:]
    return done.stdout


def decide(where: Path, home: Path, cache: Path, ledger: Path, hidden: Path) -> tuple[str, dict[str, tuple]]:
    """The default session (every eval and claim, two workers) on ``cache``; each comparison's outcome."""
    arguments = ["-m", "pytest", "evals/", "-n", "2", "-p", "no:cacheprovider", "-q", "--cache-dir", str(cache)]
    output = run([*arguments, "--ledger-dir", str(ledger)], where, home, hidden, codes=(0, 1))
    (path,) = ledger.glob("*.jsonl")
    outcomes = {
        f"{r.claim}:{r.comparison}": (r.verdict, r.effect, r.low, r.high, r.skipped, r.error)
        for r in read_ledger(path).claims()
    }
    return output, outcomes


@pytest.mark.slow
def test_shards_merged_decide_every_claim_without_the_weights(tmp_path: Path) -> None:
    shards = []
    for number, name in enumerate(SHARDS):
        where = checkout(tmp_path / f"machine-{number}" / "embedding-claims")
        shard = tmp_path / f"machine-{number}" / "shard"
        arguments = ["-m", "pytest", "evals/", "--embedder", name, "--fill-cache-only", "--cache-dir", str(shard)]
        output = run([*arguments, "-p", "no:cacheprovider", "-q"], where, tmp_path / f"machine-{number}" / "home")
        assert f"fill only: {name} in" in output, output[-3000:]
        shards.append(shard)
    merged = tmp_path / "merged"
    output = run(["-m", "runtime.merge", str(merged), *map(str, shards)], ROOT, tmp_path / "home-merge")
    assert output.count(" 0 conflicts, 0 damaged") == 3, output

    # a machine with none of the models: the three take part from the cache alone
    reference_cache = tmp_path / "merged-copy"
    shutil.copytree(merged, reference_cache)
    hidden = hide(tmp_path / "hidden-all", SHARDS + OTHERS)
    listed = run(["-m", "pytest", "--list-embedders", f"--cache-dir={merged}"], ROOT, tmp_path / "home-decide", hidden)
    rows = [line for line in listed.splitlines() if line.split() and line.split()[0] in EMBEDDERS]
    assert len(rows) == len(EMBEDDERS), listed
    for line in rows:
        standing = "from the cache alone (computed on cpu" in line
        assert standing == (line.split()[0] in SHARDS), line
    output, without = decide(ROOT, tmp_path / "home-decide", merged, tmp_path / "ledger-decide", hidden)
    assert "model forward calls in this session: 0" in output, output[-4000:]
    usage = Usage.read_lines(output)
    assert set(usage) == set(SHARDS), output[-4000:]
    assert all(u.loads == 0 and u.computed == 0 and u.unplanned == 0 and u.planned > 0 for u in usage.values())
    for name in SHARDS:
        assert f"{name} took part from the cache alone" in output, output[-4000:]
    (ledger,) = (tmp_path / "ledger-decide").glob("*.jsonl")
    for record in read_ledger(ledger).measurements():
        assert record.embedder.computed and record.embedder.computed.startswith("from the cache alone"), record

    # the same session where the weights are (the shards' own machine, its HOME): the same outcome, comparison by
    # comparison, and the same numbers (the vectors are the shards')
    hidden = hide(tmp_path / "hidden-others", OTHERS)
    home = tmp_path / "machine-2" / "home"
    output, with_weights = decide(ROOT, home, reference_cache, tmp_path / "ledger-ref", hidden)
    assert "model forward calls in this session: 0" in output, output[-4000:]
    assert "took part from the cache alone" not in output
    assert with_weights and without == with_weights
    assert any(verdict is not None for verdict, *_ in without.values())


def test_only_a_whole_shard_stands_in_and_rows_lost_since_skip_its_tests_saying_what_is_missing(
    tmp_path: Path,
) -> None:
    shard, home = tmp_path / "shard", tmp_path / "home"
    hidden = hide(tmp_path / "hidden-all", SHARDS + OTHERS)
    listing = ["-m", "pytest", "--list-embedders", f"--cache-dir={shard}"]
    fill = ["-m", "pytest", "evals/", "--embedder", "glove-6b-50d", "--fill-cache-only", "--cache-dir", str(shard)]

    # a part of the evals only: another session may ask for more, so none stands on it
    output = run([*fill, "-k", "rg65", "-p", "no:cacheprovider"], ROOT, home)
    assert "a part of the evals only" in output, output[-3000:]
    glove = next(line for line in run(listing, ROOT, home, hidden).splitlines() if line.startswith("glove-6b-50d"))
    assert "unavailable: glove-6b-50d:" in glove, glove

    output = run([*fill, "-p", "no:cacheprovider"], ROOT, home)
    assert "a part of the evals only" not in output, output[-3000:]
    glove = next(line for line in run(listing, ROOT, home, hidden).splitlines() if line.startswith("glove-6b-50d"))
    assert "from the cache alone" in glove, glove

    # rows lost after the shard was filled (a damaged copy): the tests skip, saying what is missing and how to fill it
    with sqlite3.connect(shard / DATABASE) as connection:
        ((identity, info),) = connection.execute("SELECT identity, info FROM infos").fetchall()
        space = f"{identity}:{info_from_json(info).fingerprint}"
        lost = [(input_key(space, "words", word),) for word in ("cord", "smile", "rooster", "voyage")]  # RG65's
        assert connection.executemany("DELETE FROM vectors WHERE key = ?", lost).rowcount == 4
    session = ["-m", "pytest", "evals/test_word_similarity.py", "-p", "no:cacheprovider", "-rs", "--no-ledger"]
    output = run([*session, "--cache-dir", str(shard)], ROOT, home, hidden)
    assert "glove-6b-50d: its plan was not filled" in output, output[-3000:]
    assert "glove-6b-50d took part from the cache alone" not in output, output[-3000:]
    assert "passed" not in output.splitlines()[-1] and "skipped" in output.splitlines()[-1], output[-3000:]
    assert "but not 4 of the" in output and "this session asks for: fill them where the weights" in output
    assert "model forward calls in this session: 0" in output, output[-3000:]
