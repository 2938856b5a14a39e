"""The claims read the datasets the session names: D2 and D4 on a BATS folder made here, D4 on MSR analogy files,
D3 on the user's copy of its category set, each record naming the sha256 of what it read; and a dataset changed in
place (same path) gives new records, not the cached ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evals.records import ClaimRecord
from fixtures import Resolver
from ledger.file import read_ledger

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = """
[settings]
resamples = 200
seed = 20240217
alpha = 0.05
correction = "holm"
confidence = 0.95
random_pairs = 200
"""
CLAIM = """
[[claim]]
id = "{id}"
statement = "s"
section = "test"
metric = "{metric}"
params = {params}
subject = {{ name = ["sbert-minilm"] }}
reference = {{ name = ["glove-6b-50d"] }}
direction = "greater"
margin = 0.0
"""
CLAIMS = {
    "T-D2": ("related-vs-random-auc", '{ relation = "RELATION", dataset = ["bats", "google-analogy"] }'),
    "T-D3": ("category-silhouette", '{ dataset = "common-categories" }'),
    "T-D4": ("analogy-accuracy", '{ dataset = ["bats", "google-analogy"], method = "3cosadd" }'),
    "T-D4-msr": ("analogy-accuracy", '{ dataset = "msr-analogy", method = "3cosadd" }'),
}


def claims_file(relation: str) -> str:
    claims = (CLAIM.format(id=id_, metric=metric, params=params) for id_, (metric, params) in CLAIMS.items())
    return (SETTINGS + "".join(claims)).replace("RELATION", relation)


# (group, its folder, rows): BATS codes I (inflectional), D (derivational), E (encyclopedic), L (lexicographic)
GROUPS = {
    "I": ("1_Inflectional_morphology", [("cat", "cats"), ("dog", "dogs"), ("car", "cars"), ("house", "houses")]),
    "D": ("2_Derivational_morphology", [("quick", "quickly"), ("slow", "slowly"), ("rare", "rarely"), ("sad", "sadly")]),  # noqa: E501
    "E": ("3_Encyclopedic_semantics", [("paris", "france"), ("rome", "italy"), ("oslo", "norway"), ("lima", "peru")]),
    "L": ("4_Lexicographic_semantics", [("big", "large"), ("small", "little"), ("fast", "rapid"), ("happy", "glad")]),
}  # fmt: skip


def bats_folder(root: Path, extra: str = "") -> Path:
    for group, (folder, rows) in GROUPS.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for number in range(1, 11):
            lines = [f"{a}\t{b}" for a, b in rows] + ([extra] if extra and group == "E" and number == 1 else [])
            (root / folder / f"{group}{number:02d} [test relation].txt").write_text("\n".join(lines) + "\n")
    return root


def msr_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "NN_NNS.txt").write_text("cat\tcats\tdog\tdogs\nhouse\thouses\tcar\tcars\ndog\tdogs\thouse\thouses\n")
    (root / "JJ_JJR.txt").write_text("big\tbigger\tsmall\tsmaller\nfast\tfaster\tslow\tslower\n")
    return root


def session(tmp_path: Path, name: str, relation: str, datasets: dict[str, Path]) -> dict[str, ClaimRecord]:
    claims = tmp_path / f"{name}.toml"
    claims.write_text(claims_file(relation))
    ledger = tmp_path / name
    command = [
        sys.executable, "-m", "pytest", "evals/test_claims.py", f"--claims={claims}", "-p", "no:xdist",
        "-p", "no:cacheprovider", "-q", f"--ledger-dir={ledger}",
        *(f"--dataset={key}={path}" for key, path in datasets.items()),
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]
    (path,) = ledger.glob("*.jsonl")
    records = {r.claim: r for r in read_ledger(path).claims()}
    assert not [r.error for r in records.values() if r.error], result.stdout[-3000:]
    return records


@pytest.mark.parametrize("relation", ["semantic", "morphological"])
def test_d2_d3_d4_read_the_datasets_the_session_names(tmp_path: Path, relation: str) -> None:
    bats, msr = bats_folder(tmp_path / "BATS_3.0"), msr_folder(tmp_path / "msr")
    categories = tmp_path / "categories.jsonl"
    shipped = Resolver().locate("common-categories")
    assert shipped is not None
    categories.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    records = session(tmp_path, "first", relation, {"bats": bats, "msr-analogy": msr, "common-categories": categories})
    bats_sha = Resolver((("bats", bats),)).load("bats").info.sha256
    msr_sha = Resolver((("msr-analogy", msr),)).load("msr-analogy").info.sha256

    d2, d3, d4, d4_msr = (records[f"T-{claim}"] for claim in ("D2", "D3", "D4", "D4-msr"))
    assert d2.subject.protocol["source"]["sha256"] == bats_sha
    assert d2.dataset["dataset"].startswith(f"bats-related-pairs[{relation}]")
    # BATS's own split: encyclopedic and lexicographic pairs are semantic, inflectional and derivational ones
    # morphological; either way two groups of four distinct pairs, and their shuffled negatives
    assert d2.dataset["rows"] > 2 * 4
    assert d4.dataset["sha256"] == bats_sha and d4.items == 40 * 4 * 3  # every ordered pair of rows per relation
    assert d4_msr.dataset["sha256"] == msr_sha and d4_msr.items == 5
    assert d3.dataset["sha256"] == Resolver((("common-categories", categories),)).load("common-categories").info.sha256
    assert not any("stands in for bats" in d.text for d in (*d2.deviations, *d4.deviations))
    assert any("msr-analogy stands in for bats" in d.text for d in d4_msr.deviations)

    # the same paths with other content: the records follow the content, none comes from the result cache
    bats_folder(bats, extra="tokyo\tjapan")
    changed = session(tmp_path, "second", relation, {"bats": bats, "msr-analogy": msr, "common-categories": categories})
    new_sha = Resolver((("bats", bats),)).load("bats").info.sha256
    assert new_sha != bats_sha
    assert changed["T-D4"].dataset["sha256"] == new_sha and changed["T-D4"].items > d4.items
    assert changed["T-D2"].subject.protocol["source"]["sha256"] == new_sha
