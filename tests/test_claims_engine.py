"""The claims engine can confirm, refute and stay inconclusive, each when it should."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from embedders import Family
from embedders.registry import EmbedderEntry
from evals.claims.metrics import auc, spearman
from evals.claims.spec import CLAIMS_PATH, ClaimsFileError, comparisons, load_claims
from evals.claims.stats import Verdict, holm, mean, paired_bootstrap, verdict


def paired(effect: float, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.5, 0.2, n)  # item difficulty both sides share: what pairing removes
    return shared + effect + rng.normal(0, 0.05, n), shared + rng.normal(0, 0.05, n)


def decide(subject, reference, margin: float = 0.0, sign: float = 1.0, resamples: int = 500, seed: int = 1):
    comparison = paired_bootstrap(subject, reference, mean, sign=sign, margin=margin, resamples=resamples, seed=seed)
    return comparison, verdict(comparison, comparison.p_value, margin, 0.05)


def test_a_true_effect_is_confirmed_and_its_reverse_refuted() -> None:
    subject, reference = paired(0.05)
    comparison, result = decide(subject, reference)
    assert result is Verdict.CONFIRMED
    assert comparison.low < 0.05 < comparison.high
    assert decide(reference, subject)[1] is Verdict.REFUTED
    assert decide(subject, reference, sign=-1.0)[1] is Verdict.REFUTED  # claimed "less"


def test_the_margin_counts() -> None:
    subject, reference = paired(0.05)
    assert decide(subject, reference, margin=0.2)[1] is Verdict.REFUTED
    assert decide(subject, reference, margin=0.05)[1] is Verdict.INCONCLUSIVE


def test_items_missing_on_either_side_are_left_out_of_both() -> None:
    subject, reference = paired(0.05, n=100)
    subject[:10] = np.nan
    reference[95:] = np.nan
    assert decide(subject, reference)[0].items == 85


def test_null_effects_are_inconclusive_at_the_stated_rate() -> None:
    decisive = 0
    trials = 200
    for seed in range(trials):
        subject, reference = paired(0.0, n=200, seed=seed)
        decisive += decide(subject, reference, resamples=200, seed=seed)[1] is not Verdict.INCONCLUSIVE
    assert decisive / trials <= 0.05 + 0.04  # alpha plus binomial slack at 200 trials


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_matches_statsmodels(p_values: list[float]) -> None:
    expected = multipletests(p_values, method="holm")[1]
    np.testing.assert_allclose(holm(p_values), expected, atol=1e-12)


def test_auc_and_spearman_statistics() -> None:
    separated = np.array([[0.9, 1], [0.8, 1], [0.1, 0], [0.2, 0]])
    assert auc(separated) == 1.0
    assert auc(separated[:, ::-1] * 0 + np.array([[0.5, 1], [0.5, 1], [0.5, 0], [0.5, 0]])) == 0.5
    assert spearman(np.array([[1, 10], [2, 20], [3, 30.0]])) == pytest.approx(1.0)


def entry(name: str, family: Family, parameters: int) -> EmbedderEntry:
    return EmbedderEntry(name, family, parameters, 8, "", lambda: None)


ENTRIES = [
    entry("glove", Family.STATIC, 20),
    entry("sbert", Family.SENTENCE_ENCODER, 22),
    entry("small-llm", Family.LLM, 135),
    entry("big-llm", Family.LLM, 270),
]


def test_shipped_claims_cover_the_paper() -> None:
    settings_, claims = load_claims(CLAIMS_PATH)
    assert {"D1", "D2-semantic", "D2-morphological", "D3", "D4", "D5"} <= {c.id for c in claims}
    assert settings_.correction == "holm" and settings_.resamples >= 1000


def test_comparisons_pair_each_side_and_follow_the_selection() -> None:
    _, claims = load_claims(CLAIMS_PATH)
    d4 = next(c for c in claims if c.id == "D4")
    names = {spec.name for spec in comparisons(d4, ENTRIES, None)}
    assert names == {f"{s} vs {r}" for s in ("small-llm", "big-llm") for r in ("glove", "sbert")}
    only_sbert = {spec.name for spec in comparisons(d4, ENTRIES, {"sbert"})}
    assert only_sbert == {"small-llm vs sbert", "big-llm vs sbert"}
    scale = next(c for c in claims if c.id == "S-analogy")
    assert [spec.name for spec in comparisons(scale, ENTRIES, None)] == ["big-llm vs small-llm"]
    d5 = next(c for c in claims if c.id == "D5")
    assert {
        spec.name for spec in comparisons(d5, [*ENTRIES, entry("sbert-minilm", Family.SENTENCE_ENCODER, 22)], None)
    } == {"sbert-minilm vs glove (anchor small-llm)", "sbert-minilm vs glove (anchor big-llm)"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[claim]]\nid = "X"\n', "missing"),
        ("[settings]\nbogus = 1\n", "settings"),
        (
            '[[claim]]\nid="X"\nstatement="s"\nsection="s"\nmetric="nope"\nsubject={family="llm"}\n'
            'reference={family="static"}\ndirection="greater"\nmargin=0\n',
            "not one of",
        ),
        (
            '[[claim]]\nid="X"\nstatement="s"\nsection="s"\nmetric="agreement"\nsubject={family="llm"}\n'
            'reference={family="static"}\ndirection="sideways"\nmargin=0\n',
            "direction",
        ),
    ],
)
def test_bad_claims_files_are_named_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(text)
    with pytest.raises(ClaimsFileError, match=message):
        load_claims(path)


SUBSET_CLAIMS = """
[settings]
resamples = 200
seed = 1
alpha = 0.05
correction = "holm"
confidence = 0.95
random_pairs = 300

[[claim]]
id = "X1"
statement = "deliberately wrong: the LLM gives random pairs a LOWER mean cosine than GloVe"
section = "test"
metric = "random-pair-similarity"
subject = { name = ["smollm2-135m"] }
reference = { name = ["glove-6b-50d", "sbert-minilm"] }
direction = "less"
margin = 0.0
"""


def test_a_failing_verdict_in_a_subset_session_says_its_family_is_smaller(tmp_path: Path) -> None:
    claims = tmp_path / "claims.toml"
    claims.write_text(SUBSET_CLAIMS)
    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable, "-m", "pytest", "evals/test_claims.py", f"--claims={claims}",
        "-k", "not minilm", "-p", "no:xdist", "-p", "no:cacheprovider", "--no-ledger",
        f"--cache-dir={tmp_path / 'cache'}",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "REFUTED (expected confirmed)" in result.stdout
    assert "this session corrects over 1 comparisons and leaves out some of the default session's" in result.stdout
    whole = [arg for arg in command if arg not in ("-k", "not minilm")]  # the claims file's whole family
    result = subprocess.run(whole, cwd=root, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1 and result.stdout.count("REFUTED (expected confirmed)") >= 2, result.stdout[-3000:]
    assert "leaves out some of the default session's" not in result.stdout
