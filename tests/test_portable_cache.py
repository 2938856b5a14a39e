"""A cache filled on one machine serves another: identities hold no absolute path, HOME or URL, so a cache copied to
another HOME and used from another checkout path makes no forward call."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.pool import Usage
from tests.checkout import checkout

ROOT = Path(__file__).resolve().parent.parent
# a static model, a sentence encoder unpacked under HOME, and a GGUF LLM converted under HOME
EMBEDDERS = ("glove-6b-50d", "sbert-mpnet", "smollm2-135m")


def session(checkout: Path, home: Path, cache: Path) -> str:
    command = [sys.executable, "-m", "pytest", "evals/test_word_similarity.py", "-k", "rg65", "-p", "no:cacheprovider"]
    command += [f"--embedder={name}" for name in EMBEDDERS] + ["--cache-dir", str(cache), "--no-ledger", "-q"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EMBEDDING_CLAIMS_")}
    environment |= {"HOME": str(home), "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(command, cwd=checkout, env=environment, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def loads(output: str) -> dict[str, int]:
    return {name: usage.loads for name, usage in Usage.read_lines(output).items()}


@pytest.mark.slow
def test_a_cache_copied_to_another_home_and_checkout_makes_no_forward_call(tmp_path: Path) -> None:
    first = session(ROOT, tmp_path / "home-a", tmp_path / "cache-a")
    assert loads(first) == dict.fromkeys(EMBEDDERS, 1)
    shutil.copytree(tmp_path / "cache-a", tmp_path / "cache-b")
    elsewhere = checkout(tmp_path / "elsewhere" / "embedding-claims")
    second = session(elsewhere, tmp_path / "home-b", tmp_path / "cache-b")
    assert "model forward calls in this session: 0" in second, second[-3000:]
    assert loads(second) == dict.fromkeys(EMBEDDERS, 0), second[-3000:]
