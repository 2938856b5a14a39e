"""scripts/slurm_shards.py with submitit's local executor: one fill job per embedder, the shards merged into one cache,
and the session that follows on that cache computes nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EMBEDDERS = ("glove-6b-50d", "sbert-minilm")


def environment() -> dict[str, str]:
    # the repository first: a submitit installed elsewhere (PYTHONPATH) comes after it
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.mark.slow  # two fill runs (GloVe, MiniLM): 55 s to 2 min here with a CI run alongside
def test_local_jobs_fill_a_shard_each_and_the_merged_cache_serves_the_session(tmp_path: Path) -> None:
    if importlib.util.find_spec("submitit") is None:
        reason = f"submitit is not importable from {sys.executable}: pip install 'embedding-claims[dev]'"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)  # in CI set-up installs the dev extra: missing is a broken set-up
        pytest.skip(reason)
    out, work = tmp_path / "out", tmp_path / "work"
    command = [sys.executable, "scripts/slurm_shards.py", "--out", str(out), "--work", str(work), "--executor", "local"]
    for name in EMBEDDERS:
        command += ["--embedder", name]
    run = subprocess.run(command, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    for name in EMBEDDERS:
        assert f" {name}: succeeded" in run.stdout, run.stdout[-4000:]
        assert f"fill only: {name} in" in run.stdout, run.stdout[-4000:]
    assert "merge of 2 of 2 shards" in run.stdout and (out / "embeddings.sqlite3").is_file()

    session = [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "-k", "word_similarity and rg65"]
    session += [arg for name in EMBEDDERS for arg in ("--embedder", name)]
    session += ["--cache-dir", str(out), "--no-ledger"]
    evals = subprocess.run(session, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=900)
    assert evals.returncode == 0, evals.stdout[-4000:]
    assert "model forward calls in this session: 0" in evals.stdout, evals.stdout[-4000:]
