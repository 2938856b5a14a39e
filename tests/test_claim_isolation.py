"""One bad comparison fails alone: an all-zero vectors file next to GloVe (D1), and an anchor-variation file of one
anchor (C2, C3) next to Lee 2005 (C1). The comparisons with the bad input fail, or are inconclusive when their
statistic is simply undefined, with a message naming the embedder, the dataset file and the reason; every other
comparison of the session keeps its verdict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from embedders import Family
from evals.claims.resampling import Resampling
from evals.records import ClaimRecord, Verdict
from fixtures import Resolver
from ledger.file import read_ledger
from tests.conftest import AddMetric

ROOT = Path(__file__).resolve().parent.parent
# words of WordNet that GloVe has, so that the random pairs find some of them in the file
WORDS = "cat dog house car tree water fire stone river mountain book table chair window door city road bird fish"


def session(tmp_path: Path, *options: str) -> tuple[dict[str, ClaimRecord], str]:
    ledger = tmp_path / "ledger"
    command = [
        sys.executable, "-m", "pytest", "evals/test_claims.py", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
        "-rA", f"--ledger-dir={ledger}", *options,
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]
    assert " error" not in result.stdout.splitlines()[-1], result.stdout[-3000:]  # no test ERRORs
    (path,) = ledger.glob("*.jsonl")
    return {f"{r.claim}: {r.comparison}": r for r in read_ledger(path).claims()}, result.stdout


def test_an_all_zero_vectors_file_fails_only_its_own_comparisons(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.txt"
    words = WORDS.split()
    zeros.write_text(f"{len(words)} 10\n" + "".join(f"{w} {' '.join(['0'] * 10)}\n" for w in words))
    records, stdout = session(tmp_path, f"--embedder=word2vec:{zeros},glove-6b-50d", "-k", "D1")
    bad = {key: r for key, r in records.items() if "zeros.txt" in key}
    good = {key: r for key, r in records.items() if "zeros.txt" not in key}
    assert bad and good
    for record in good.values():
        assert record.error is None and record.verdict in (Verdict.CONFIRMED, Verdict.REFUTED), record
    for key, record in bad.items():
        assert record.verdict is None and record.error is not None, record
        assert f"word2vec:{zeros}" in record.error and "reading no dataset file" in record.error  # D1's pairs
        assert "no pair could be scored" in record.error  # the reason
        assert f"FAILED evals/test_claims.py::test_claim[D1 random-pair-similarity: {key.split(': ')[1]}]" in stdout


def test_an_anchor_variation_file_of_one_anchor_leaves_the_other_claims_their_verdicts(tmp_path: Path) -> None:
    shipped = Resolver().locate("anchor-variations")
    assert shipped is not None
    one = tmp_path / "one.jsonl"
    one.write_text(shipped.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    shutil.copy(shipped.with_name(shipped.name.removesuffix(".jsonl") + ".labels.toml"), tmp_path / "one.labels.toml")
    records, _ = session(
        tmp_path, "--embedder=glove-6b-50d,sbert-minilm", f"--dataset=anchor-variations={one}", "-k", "C1 or C2"
    )
    lee = {key: r for key, r in records.items() if key.startswith("C1")}
    variations = {key: r for key, r in records.items() if key.startswith("C2")}
    assert lee and variations
    for record in lee.values():  # measured and judged (an undecided verdict from the correction is one too)
        assert record.error is None and record.note is None and record.effect is not None, record
        assert record.verdict is not None, record
    for record in variations.values():
        # one anchor is one resampling unit: the bootstrap is undefined, said with the file it was measured on
        assert record.error is None and record.verdict is Verdict.INCONCLUSIVE, record
        assert record.note is not None and f"anchor-variations ({one})" in record.note and "only 1" in record.note


def test_a_claim_whose_inputs_fail_on_one_embedder_leaves_its_other_claims_their_verdicts(
    add_metric: AddMetric,
) -> None:
    """No real input makes listing a metric's inputs fail once the files are validated, so one is made to."""
    from evals.claims.metrics import ClaimMetric, ItemScores
    from evals.claims.run import ClaimRun
    from evals.claims.settings import Settings
    from evals.claims.spec import Claim, Side, comparisons
    from evals.weighted import MEAN
    from fixtures import DatasetInfo
    from tests.test_claims_engine import static_entry

    rng = np.random.default_rng(0)
    entries = [static_entry(n, f, rng.normal(size=(6, 4))) for n, f in
               [("llm-a", Family.LLM), ("llm-b", Family.LLM), ("glove-x", Family.STATIC)]]  # fmt: skip

    def scores(memo, settings: Settings) -> ItemScores:
        values = np.full((40, 1), 0.5) if memo.info.name == "glove-x" else rng.random((40, 1)) + 0.5
        return ItemScores(values, MEAN, Resampling.items(40), DatasetInfo("t", "-", "0" * 64, 40), {})

    def inputs_failing_on_llm_b(settings: Settings, info) -> dict[str, list[str]]:
        if info.name == "llm-b":
            raise KeyError("w9")
        return {"words": ["w0", "w1"]}

    add_metric(ClaimMetric.of("test-metric", lambda settings, info: {"words": ["w0", "w1"]}, scores))
    add_metric(ClaimMetric.of("test-failing-inputs", inputs_failing_on_llm_b, scores))
    claims = [
        Claim(id_, "s", "s", metric, (), Side(("llm",)), Side(("static",)), "greater", 0.0)
        for id_, metric in (("T", "test-metric"), ("U", "test-failing-inputs"))
    ]
    specs = [spec for claim in claims for spec in comparisons(claim, entries, None)]
    families = {claim.id: [s.id for s in specs if s.claim.id == claim.id] for claim in claims}
    run = ClaimRun(Settings(resamples=100), specs, families, lambda e: e.load(), lambda e: None)
    records = run.records()
    for fine in ("T:llm-a vs glove-x", "T:llm-b vs glove-x", "U:llm-a vs glove-x"):
        assert records[fine].error is None and records[fine].verdict is Verdict.CONFIRMED, records[fine].error
    broken = records["U:llm-b vs glove-x"]
    assert broken.verdict is None and broken.error is not None
    assert (
        "test-failing-inputs on llm-b" in broken.error and "listing its inputs failed: KeyError: 'w9'" in broken.error
    )
