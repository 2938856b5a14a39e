"""--fill-cache-only: a shard run computes what a session would ask of the named embedders, one load each, runs no
test and writes no ledger; the session that follows on that cache computes nothing for them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from runtime.pool import Usage

ROOT = Path(__file__).resolve().parent.parent


def pytest_session(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)


def glove_line(output: str) -> tuple[int, int, int, int]:
    """planned, computed, model calls, loads of GloVe's line in the embeddings section (nothing outside the plan)."""
    usage = Usage.read_lines(output).get("glove-6b-50d")
    assert usage is not None and usage.unplanned == 0, output[-3000:]
    return usage.planned, usage.computed, usage.model_calls, usage.loads


def test_a_shard_run_fills_the_plan_and_the_session_after_it_computes_nothing(tmp_path: Path) -> None:
    cache, ledgers = tmp_path / "shard", tmp_path / "ledgers"
    common = ["--embedder", "glove-6b-50d", "--cache-dir", str(cache), "--ledger-dir", str(ledgers)]
    shard = pytest_session(*common, "--fill-cache-only")
    assert shard.returncode == 0, shard.stdout[-3000:]
    planned, computed, calls, loads = glove_line(shard.stdout)
    assert planned == computed > 0 and calls > 0 and loads == 1
    assert "fill only: glove-6b-50d in" in shard.stdout and "no tests ran" in shard.stdout.splitlines()[-1]
    assert not ledgers.exists() or not any(ledgers.iterdir())  # it measured nothing: no ledger
    evals = pytest_session(*common, "-k", "not claim")
    assert evals.returncode == 0, evals.stdout[-3000:]
    evals_planned, computed, calls, loads = glove_line(evals.stdout)
    assert (computed, calls, loads) == (0, 0, 0)
    assert evals_planned < planned  # the shard also holds what GloVe's claim comparisons ask of it


def test_a_shard_run_needs_its_embedders_runs_in_one_process_and_fails_when_it_cannot_fill(tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "shard"), "--no-ledger"]
    alone = pytest_session("--fill-cache-only", *cache)
    assert alone.returncode == 4 and "--fill-cache-only fills the cache for the embedders it is given" in alone.stderr
    parallel = pytest_session("--fill-cache-only", "--embedder", "glove-6b-50d", "-n", "2", *cache)
    assert parallel.returncode == 4 and "drop -n" in parallel.stderr
    missing = pytest_session("--fill-cache-only", "--embedder", "llama2-7b", *cache)
    assert missing.returncode == 1, missing.stdout[-3000:]
    assert re.search(r"not filled: llama2-7b \(llama2-7b", missing.stdout), missing.stdout[-3000:]
