"""A rerun after an input file changed in place (same path) gives the verdict of the current content, never a
cached one: the user's dataset copy (C1 on Lee 2005 with its ratings flipped, then restored), the claims file (a
margin changed) and the expectations file (a bound changed: the evaluation's pass or fail follows)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from evals.records import ClaimRecord
from fixtures import Resolver
from ledger.file import read_ledger

ROOT = Path(__file__).resolve().parent.parent
CLAIMS = """
[settings]
resamples = 200
seed = 20240217
alpha = 0.05
correction = "holm"
confidence = 0.95
random_pairs = 200

[[claim]]
id = "T-C1"
statement = "s"
section = "test"
metric = "sentence-similarity"
params = {{ dataset = "lee50", correlation = "spearman" }}
subject = {{ name = ["sbert-minilm"] }}
reference = {{ name = ["glove-6b-50d"] }}
direction = "greater"
margin = {margin}
"""
# the most specific expectation for GloVe's Spearman on Lee 2005, appended to a copy of the shipped file
BOUND = """
[[expect]]
check = "sentence-similarity/lee50"
who = "glove-6b-50d"
metric = "spearman"
at_least = {bound}
why = "test bound"
"""
EVAL = "evals/test_sentence_similarity.py::test_sentence_similarity[glove-6b-50d-lee50]"


@dataclass(frozen=True)
class Run:
    record: ClaimRecord  # the one comparison's record in the session's ledger
    outcomes: dict[str, str]  # test id -> PASSED, FAILED, ...


def session(tmp_path: Path, name: str, lee: Path, claims: Path, expectations: Path) -> Run:
    ledger = tmp_path / name
    command = [
        sys.executable, "-m", "pytest", "evals/test_claims.py", "evals/test_sentence_similarity.py",
        f"--claims={claims}", f"--expectations={expectations}", f"--dataset=lee50={lee}",
        "--embedder=glove-6b-50d,sbert-minilm", "-k", "T-C1 or lee50", "-p", "no:xdist", "-p", "no:cacheprovider",
        "-q", "-rA", f"--ledger-dir={ledger}",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]
    (path,) = ledger.glob("*.jsonl")
    (record,) = read_ledger(path).claims()
    assert record.error is None, record.error
    lines = re.findall(r"^(PASSED|FAILED|ERROR|XFAIL|DEVIATED) (\S+)", result.stdout, re.M)
    outcomes = {test: outcome for outcome, test in lines}
    return Run(record, outcomes)


def test_a_rerun_follows_every_input_file_changed_in_place(tmp_path: Path) -> None:
    shipped = Resolver().locate("lee50")
    assert shipped is not None
    lee = tmp_path / "lee"
    lee.mkdir()
    for name in ("lee.cor", "similarities0-1.txt"):
        shutil.copy(shipped / name, lee / name)
    ratings = lee / "similarities0-1.txt"
    original = ratings.read_text()
    claims, expectations = tmp_path / "claims.toml", tmp_path / "expectations.toml"
    shipped_expectations = (ROOT / "evals" / "expectations.toml").read_text()
    claims.write_text(CLAIMS.format(margin=0.0))
    expectations.write_text(shipped_expectations + BOUND.format(bound=0.05))

    first = session(tmp_path, "first", lee, claims, expectations)
    assert first.record.effect is not None and first.record.effect > 0  # SBERT above GloVe on the real ratings
    assert first.outcomes[EVAL] == "PASSED"

    # people's ratings reversed: the same folder, other content
    ratings.write_text(
        "\n".join("\t".join(f"{1 - float(cell):.6f}" for cell in line.split()) for line in original.splitlines())
    )
    flipped = session(tmp_path, "flipped", lee, claims, expectations)
    assert flipped.record.dataset["sha256"] != first.record.dataset["sha256"]
    assert flipped.record.subject.score < 0 < first.record.subject.score  # SBERT now ranks against people
    assert flipped.record.effect != first.record.effect
    assert flipped.outcomes[EVAL] == "FAILED"  # GloVe's Spearman below the shipped floor for everyone

    ratings.write_text(original)
    restored = session(tmp_path, "restored", lee, claims, expectations)
    assert restored.record.dataset["sha256"] == first.record.dataset["sha256"]
    assert (restored.record.effect, restored.record.verdict) == (first.record.effect, first.record.verdict)
    assert restored.outcomes[EVAL] == "PASSED"

    # the claims file's margin and the expectations file's bound changed in place, the data as at first
    claims.write_text(CLAIMS.format(margin=0.9))
    expectations.write_text(shipped_expectations + BOUND.format(bound=0.99))
    edited = session(tmp_path, "edited", lee, claims, expectations)
    assert edited.record.margin == 0.9 and edited.record.effect == first.record.effect
    assert str(edited.record.verdict) != str(first.record.verdict)  # an effect near 0.1 cannot clear a margin of 0.9
    assert edited.outcomes[EVAL] == "FAILED"  # the same measurement, judged against the new bound
