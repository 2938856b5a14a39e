"""A verdict does not change with what a session selects: real sessions on three embedders, the whole claims
file first, then -k, --embedder and three random sets of node ids. Each comparison a smaller session runs gets the
whole session's verdict, or inconclusive (its correction family is only partly measured), never the other one."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from evals.records import ClaimRecord, Verdict
from ledger.file import read_ledger

ROOT = Path(__file__).resolve().parent.parent
# Two correction families: X-D (two claims) and X-C (C1 and C3 together), with effects from clear to borderline.
CLAIMS = """
[settings]
resamples = 500
seed = 20240217
alpha = 0.05
correction = "holm"
confidence = 0.95
random_pairs = 400

[[claim]]
id = "X-D1"
statement = "the LLM gives random pairs a higher mean cosine"
section = "test"
metric = "random-pair-similarity"
correction_family = "X-D"
subject = { name = ["smollm2-135m"] }
reference = { name = ["glove-6b-50d", "sbert-minilm"] }
direction = "greater"
margin = 0.0

[[claim]]
id = "X-D3"
statement = "the LLM clusters categories more tightly"
section = "test"
metric = "category-silhouette"
correction_family = "X-D"
subject = { name = ["smollm2-135m"] }
reference = { name = ["glove-6b-50d", "sbert-minilm"] }
direction = "greater"
margin = 0.0

[[claim]]
id = "X-C1"
statement = "encoders rank Lee50's pairs closer to people"
section = "test"
metric = "sentence-similarity"
params = { dataset = "lee50", correlation = "pearson" }
correction_family = "X-C"
subject = { name = ["sbert-minilm", "glove-6b-50d"] }
reference = { name = ["smollm2-135m"] }
direction = "greater"
margin = 0.0

[[claim]]
id = "X-C3"
statement = "the LLM contextualizes more"
section = "test"
metric = "contextualization"
params = { measure = "variance" }
correction_family = "X-C"
subject = { name = ["smollm2-135m"] }
reference = { name = ["sbert-minilm", "glove-6b-50d"] }
direction = "greater"
margin = 0.0
"""


def session(tmp_path: Path, claims: Path, name: str, *selection: str) -> dict[str, ClaimRecord]:
    ledger = tmp_path / name
    command = [
        sys.executable, "-m", "pytest", f"--claims={claims}", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
        f"--ledger-dir={ledger}", *selection,
    ]  # fmt: skip
    if not any(s.startswith("evals/") for s in selection):
        command.insert(3, "evals/test_claims.py")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]  # 1: the paper's FAILs
    (path,) = ledger.glob("*.jsonl")
    return {f"{r.claim}:{r.comparison}": r for r in read_ledger(path).claims()}


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("claims") / "claims.toml"
    path.write_text(CLAIMS)
    return path


def node_ids(claims: Path) -> list[str]:
    command = [sys.executable, "-m", "pytest", "evals/test_claims.py", f"--claims={claims}", "--collect-only", "-q",
               "-p", "no:cacheprovider"]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300).stdout
    return [line for line in out.splitlines() if line.startswith("evals/test_claims.py::")]


def test_no_selection_decides_otherwise_than_the_whole_session(tmp_path: Path, claims_file: Path) -> None:
    whole = session(tmp_path, claims_file, "whole")
    assert len(whole) == 8 and all(r.correction_family.whole for r in whole.values())
    assert {r.correction_family.size for r in whole.values()} == {4}
    decided = [r for r in whole.values() if r.decided]
    assert len(decided) >= 4, "the check means little unless the whole session decides several comparisons"
    ids = node_ids(claims_file)
    assert len(ids) == 8
    rng = random.Random(20240217)
    selections = {
        "k": ("-k", "X-C3"),
        "embedder": ("--embedder", "sbert-minilm"),
        **{f"nodes-{i}": tuple(rng.sample(ids, rng.randint(1, 4))) for i in range(3)},
    }
    for name, selection in selections.items():
        part = session(tmp_path, claims_file, name, *selection)
        assert part and len(part) < len(whole), name
        for key, record in part.items():
            full = whole[key]
            assert record.correction_family.size == full.correction_family.size, (name, key)
            assert record.adjusted_p >= full.adjusted_p - 1e-12, (name, key)
            assert record.verdict in (full.verdict, Verdict.INCONCLUSIVE), (name, key, record.verdict, full.verdict)
            if record.correction_family.whole:
                assert record.verdict is full.verdict, (name, key)
