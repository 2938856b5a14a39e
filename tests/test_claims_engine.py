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
from evals.claims.resampling import Resampling
from evals.claims.spec import CLAIMS_PATH, ClaimsFileError, comparisons, load_claims
from evals.claims.stats import Comparison, Undefined, family_adjusted, holm, paired_bootstrap, verdict
from evals.records import Verdict
from evals.weighted import AUC, MEAN, SPEARMAN, once
from tests.conftest import AddMetric


def paired(effect: float, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.normal(0.5, 0.2, n)  # item difficulty both sides share: what pairing removes
    return shared + effect + rng.normal(0, 0.05, n), shared + rng.normal(0, 0.05, n)


def decide(subject, reference, margin: float = 0.0, sign: float = 1.0, resamples: int = 500, seed: int = 1):
    items = Resampling.items(len(subject))
    comparison = paired_bootstrap(
        subject, reference, MEAN, MEAN, items, sign=sign, margin=margin, resamples=resamples, seed=seed
    )
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
    assert once(AUC, separated) == 1.0
    assert once(AUC, np.array([[0.5, 1], [0.5, 1], [0.5, 0], [0.5, 0]])) == 0.5
    assert np.isnan(once(AUC, separated[:2]))  # no random pair: undefined
    assert once(SPEARMAN, np.array([[1, 10], [2, 20], [3, 30.0]])) == pytest.approx(1.0)


def entry(name: str, family: Family, parameters: int) -> EmbedderEntry:
    return EmbedderEntry(name, family, parameters, 8, "", lambda options: None)


ENTRIES = [
    entry("glove", Family.STATIC, 20),
    entry("sbert", Family.SENTENCE_ENCODER, 22),
    entry("small-llm", Family.LLM, 135),
    entry("big-llm", Family.LLM, 270),
]


def test_shipped_claims_cover_the_paper() -> None:
    settings_, claims = load_claims(CLAIMS_PATH)
    ids = {c.id for c in claims}
    assert {"D1", "D3", "D5", "C1", "C2", "C3-variance", "C3-deviation"} <= ids
    assert {"D2-semantic-api", "D2-semantic-llm", "D2-morphological-api", "D2-morphological-llm"} <= ids
    assert {"D4-api", "D4-llm", "D4-llm-msr", "D4-sbert", "D4-llama"} <= ids
    assert settings_.correction == "holm" and settings_.resamples >= 1000


def test_comparisons_pair_each_side_and_follow_the_selection() -> None:
    _, claims = load_claims(CLAIMS_PATH)
    d4 = next(c for c in claims if c.id == "D4-llm")  # LLMs against static vectors only, as the paper states it
    names = {spec.name for spec in comparisons(d4, ENTRIES, None)}
    assert names == {"small-llm vs glove", "big-llm vs glove"}
    assert {spec.name for spec in comparisons(d4, ENTRIES, {"big-llm"})} == {"big-llm vs glove"}
    assert comparisons(d4, ENTRIES, {"sbert"}) == []
    api = entry("ada", Family.API, 0)
    d4_api = next(c for c in claims if c.id == "D4-api")
    assert {spec.name for spec in comparisons(d4_api, [*ENTRIES, api], None)} == {"ada vs glove", "ada vs sbert"}
    scale = next(c for c in claims if c.id == "S-analogy")
    assert [spec.name for spec in comparisons(scale, ENTRIES, None)] == ["big-llm vs small-llm"]
    d5 = next(c for c in claims if c.id == "D5")
    assert {
        spec.name for spec in comparisons(d5, [*ENTRIES, entry("sbert-minilm", Family.SENTENCE_ENCODER, 22)], None)
    } == {"sbert-minilm vs glove (anchor small-llm)", "sbert-minilm vs glove (anchor big-llm)"}
    # an API embedder, where there is one, is the anchor; the LLMs stand in only without one
    with_api = [*ENTRIES, entry("sbert-minilm", Family.SENTENCE_ENCODER, 22), entry("ada", Family.API, 0)]
    assert {spec.name for spec in comparisons(d5, with_api, None)} == {"sbert-minilm vs glove (anchor ada)"}
    # an API embedder that cannot run here (no key) does not displace the proxies, in the session or its family
    keyless = EmbedderEntry("ada", Family.API, 0, 8, "", lambda options: None, check=lambda: "set OPENAI_API_KEY")
    without_key = [*ENTRIES, entry("sbert-minilm", Family.SENTENCE_ENCODER, 22), keyless]
    assert {spec.name for spec in comparisons(d5, without_key, None)} == {
        "sbert-minilm vs glove (anchor small-llm)",
        "sbert-minilm vs glove (anchor big-llm)",
    }


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


# ---------------------------------------------------------------- correction families


def comparison_with(effect: float, p_value: float) -> Comparison:
    return Comparison(effect, effect - 1, effect + 1, 0.1, 100, p_value, 100, 100, 1, "items", 100, 0, 0, 0.95, False)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.booleans(), st.booleans()),  # (p-value, effect above the margin, measured)
        min_size=1,
        max_size=40,
    )
)
def test_a_smaller_session_is_never_more_decisive_and_never_decides_otherwise(
    members: list[tuple[float, bool, bool]],
) -> None:
    names = [f"c{i}" for i in range(len(members))]
    full = family_adjusted(names, {n: p for n, (p, _, _) in zip(names, members, strict=True)})
    measured = {n: p for n, (p, _, chosen) in zip(names, members, strict=True) if chosen}
    subset = family_adjusted(names, measured)
    for name, (p, above, _) in zip(names, members, strict=True):
        if name not in measured:
            continue
        comparison = comparison_with(0.2 if above else -0.2, p)
        whole, part = verdict(comparison, full[name], 0.0, 0.05), verdict(comparison, subset[name], 0.0, 0.05)
        assert subset[name] >= full[name] - 1e-12
        assert part is Verdict.INCONCLUSIVE or part is whole  # decisive only as the whole family decides


def test_members_left_out_count_with_p_one() -> None:
    # three members, one measured: Holm multiplies by the family's size, not by what this session ran
    assert family_adjusted(["a", "b", "c"], {"a": 0.01}) == {"a": pytest.approx(0.03)}
    with pytest.raises(ValueError, match="outside the family"):
        family_adjusted(["a"], {"z": 0.01})


# ---------------------------------------------------------------- degenerate comparisons


def test_an_undefined_statistic_is_said_not_raised_as_an_index_error() -> None:
    constant = np.column_stack([np.full(30, 0.5), np.arange(30.0)])
    varied = np.column_stack([np.linspace(0, 1, 30), np.arange(30.0)])
    items = Resampling.items(30)
    with pytest.raises(Undefined, match="statistic undefined on these items for the subject"):
        paired_bootstrap(constant, varied, SPEARMAN, SPEARMAN, items, resamples=50)
    no_positives = np.column_stack([np.linspace(0, 1, 30), np.zeros(30)])
    with pytest.raises(Undefined, match="subject and reference"):
        paired_bootstrap(no_positives, no_positives, AUC, AUC, items, resamples=50)


def test_resamples_where_the_statistic_is_undefined_are_counted_or_too_many_undecide() -> None:
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(6), np.zeros(54)]  # six related pairs among 60: a few resamples draw none
    subject, reference = np.column_stack([rng.random(60), labels]), np.column_stack([rng.random(60), labels])
    items = Resampling.items(60)
    comparison = paired_bootstrap(subject, reference, AUC, AUC, items, resamples=2000, seed=1)
    assert 0 < comparison.dropped <= 100
    stratified = Resampling.stratified(labels, "pairs, related and random apart")
    assert paired_bootstrap(subject, reference, AUC, AUC, stratified, resamples=2000, seed=1).dropped == 0
    one = np.r_[1.0, np.zeros(59)]  # one related pair: a third of the resamples have none
    subject[:, 1] = reference[:, 1] = one
    with pytest.raises(Undefined, match=r"undefined on .* resamples"):
        paired_bootstrap(subject, reference, AUC, AUC, items, resamples=500, seed=1)
    # drawn apart, it is in every resample, but nothing says how much it varies: never decided on it
    with pytest.raises(Undefined, match="holds 1 usable unit"):
        paired_bootstrap(subject, reference, AUC, AUC, Resampling.stratified(one, "pairs"), resamples=500, seed=1)


def test_an_effect_within_the_tolerance_is_never_decisive() -> None:
    reference = np.linspace(0, 1, 50)
    shifted = reference + 1e-9  # every resample gives the same difference: a spread of zero
    comparison = paired_bootstrap(shifted, reference, MEAN, MEAN, Resampling.items(50), resamples=100)
    assert comparison.within_tolerance and comparison.p_value == 1.0
    assert verdict(comparison, 0.0, 0.0, 0.05) is Verdict.INCONCLUSIVE
    clear = paired_bootstrap(reference + 0.01, reference, MEAN, MEAN, Resampling.items(50), resamples=100)
    assert verdict(clear, clear.p_value, 0.0, 0.05) is Verdict.CONFIRMED


def static_entry(name: str, family: Family, vectors: np.ndarray) -> EmbedderEntry:
    from tests.conftest import small_static

    words = [f"w{i}" for i in range(len(vectors))]
    return EmbedderEntry(name, family, 10, vectors.shape[1], "test", lambda options: small_static(words, vectors, name))


def test_one_failing_comparison_fails_alone(add_metric: AddMetric) -> None:
    from evals.claims.metrics import ClaimMetric, ItemScores
    from evals.claims.run import ClaimRun
    from evals.claims.settings import Settings
    from evals.claims.spec import Claim, Side
    from fixtures import DatasetInfo

    rng = np.random.default_rng(0)
    entries = [static_entry(n, f, rng.normal(size=(6, 4))) for n, f in
               [("llm-a", Family.LLM), ("llm-b", Family.LLM), ("glove-x", Family.STATIC)]]  # fmt: skip

    def scores(memo, settings: Settings) -> ItemScores:
        if memo.info.name == "llm-b":
            raise ZeroDivisionError("this backend's vectors break the metric")
        if memo.info.name == "glove-x":
            values = np.full((40, 1), 0.5)
        else:
            values = rng.random((40, 1)) + 0.5
        return ItemScores(values, MEAN, Resampling.items(40), DatasetInfo("t", "-", "0" * 64, 40), {})

    add_metric(ClaimMetric.of("test-metric", lambda settings, info: {"words": ["w0", "w1"]}, scores))
    test_claim = Claim("T", "s", "s", "test-metric", (), Side(("llm",)), Side(("static",)), "greater", 0.0)
    specs = comparisons(test_claim, entries, None)
    run = ClaimRun(Settings(resamples=100), specs, {"T": [s.id for s in specs]}, lambda e: e.load(), lambda e: None)
    records = run.records()
    broken, fine = records["T:llm-b vs glove-x"], records["T:llm-a vs glove-x"]
    assert broken.verdict is None and "ZeroDivisionError" in broken.error
    assert fine.verdict is Verdict.CONFIRMED and fine.error is None
    assert fine.correction_family.size == 2 and fine.correction_family.measured == 1


BROKEN_CLAIMS = """
[settings]
resamples = 200
random_pairs = 300

[[claim]]
id = "X"
statement = "LLMs give random pairs a higher mean cosine"
section = "test"
metric = "random-pair-similarity"
subject = { name = ["broken-llm", "smollm2-135m"] }
reference = { name = ["glove-6b-50d"] }
direction = "greater"
margin = 0.0
"""


def test_an_embedder_that_fails_to_load_fails_only_its_comparisons(tmp_path: Path) -> None:
    claims = tmp_path / "claims.toml"
    claims.write_text(BROKEN_CLAIMS)
    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable, "-m", "pytest", "evals/test_claims.py", f"--claims={claims}",
        "-p", "tests.broken_embedder_plugin", "-p", "no:xdist", "-p", "no:cacheprovider", "--no-ledger", "-q",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 failed, 1 passed" in result.stdout.splitlines()[-1], result.stdout[-3000:]
    assert "X broken-llm vs glove-6b-50d could not be compared" in result.stdout
    assert "the weights of broken-llm are damaged" in result.stdout
