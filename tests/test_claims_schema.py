"""Every key of claims.toml and expectations.toml is checked when the file is read: a bad value is an error naming
the file, the entry and the key; a file that loads satisfies every declared constraint."""

from __future__ import annotations

import fnmatch
import json
import math
import os
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedders import Family
from evals.claims.metrics import METRICS, ClaimMetric, metric
from evals.claims.settings import Settings
from evals.claims.spec import CLAIMS_PATH, Claim, ClaimsFileError, load_claims, possible_comparisons
from evals.expectations import DEFAULT_PATH, ExpectationsError, load_expectations
from evals.records import Verdict
from evals.schema import NameWarning, keys_of
from evals.tasks.analogy import METHODS
from fixtures import Kind, names
from runtime.registry import RegistryError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = tomllib.loads(CLAIMS_PATH.read_text(encoding="utf-8"))


def toml_value(value: object) -> str:
    """Just enough TOML for these documents: every table inline, one line per claim."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # JSON's escapes are TOML's, but for characters beyond the BMP (TOML has no surrogate pairs) and DEL
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def write_claims(path: Path, document: dict) -> Path:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in document.items() if k != "claim"]
    if "claim" in document:
        lines.append("claim = [\n" + ",\n".join(toml_value(c) for c in document["claim"]) + "\n]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def copy_of_shipped() -> dict:
    return json.loads(json.dumps(SHIPPED))


def claim_by_metric(document: dict, metric_name: str) -> dict:
    return next(c for c in document["claim"] if c["metric"] == metric_name)


def test_the_shipped_files_load_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", NameWarning)
        settings_, claims = load_claims(CLAIMS_PATH)
        assert len(claims) >= 20 and settings_ == Settings(data=settings_.data)
        assert len(load_expectations(DEFAULT_PATH)) >= 5


def test_the_inline_writer_reproduces_the_shipped_file(tmp_path: Path) -> None:
    assert load_claims(write_claims(tmp_path / "c.toml", copy_of_shipped())) == load_claims(CLAIMS_PATH)


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("resamples", 1, "at least 200"),
        ("resamples", 199, "at least 200"),
        ("resamples", 2000.0, "whole number"),
        ("resamples", True, "whole number"),
        ("seed", -1, "at least 0"),
        ("seed", "1", "whole number"),
        ("alpha", 0, r"in \(0, 0.5\]"),
        ("alpha", 2, r"in \(0, 0.5\]"),
        ("alpha", math.nan, "finite"),
        ("correction", "bonferroni", "not one of 'holm'"),
        ("correction", 1, "not one of 'holm'"),
        ("confidence", 1, r"in \(0.5, 1\)"),
        ("confidence", 0.5, r"in \(0.5, 1\)"),
        ("tolerance", -1e-9, r"in \[0, 0.01\]"),
        ("tolerance", 0.5, r"in \[0, 0.01\]"),
        ("random_pairs", 99, "at least 100"),
        ("random_pairs", "many", "whole number"),
        ("colour", 1, "unknown keys"),
    ],
)
def test_a_bad_setting_is_an_error_naming_file_table_and_key(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    document = copy_of_shipped()
    document["settings"][key] = value
    path = write_claims(tmp_path / "claims.toml", document)
    with pytest.raises(ClaimsFileError, match=rf"{tmp_path}.*\[settings\]: .*{message}") as error:
        load_claims(path)
    assert key in str(error.value)


# ---------------------------------------------------------------- claims

D1 = 1  # the shipped file's first claim, D1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("id", "", "non-empty text"),
        ("id", 3, "non-empty text"),
        ("statement", "  ", "non-empty text"),
        ("section", ["a"], "non-empty text"),
        ("metric", "random-pair-similarity2", "not one of"),
        ("direction", "sideways", "not one of 'greater', 'less'"),
        ("margin", "0", "must be a number"),
        ("margin", math.inf, "finite"),
        ("margin", True, "must be a number"),
        ("pairing", "smaller-vs-larger", "not one of 'cross', 'larger-vs-smaller'"),
        ("subject", {"family": ["llms"]}, "not one of"),
        ("subject", {"families": ["llm"]}, "unknown keys"),
        ("subject", {}, "at least one family or name"),
        ("reference", {"name": [""]}, "non-empty text"),
        ("reference", "static", "must be a table"),
        ("correction_family", "", "non-empty text"),
        ("correction_family", 1, "non-empty text"),
        ("paper", "yes", "true or false"),
        ("paper_protocol", "", "non-empty text"),
        ("params", "dataset", "must be a table"),
        ("anchor", {"family": ["api"]}, "anchor: only metric 'agreement'"),
        ("anchor_proxy", {"family": ["llm"]}, "anchor_proxy: only metric 'agreement'"),
        ("expect", {"comparison": "x"}, "must be \\[\\[claim.expect\\]\\] tables"),
        ("colour", "red", "unknown keys"),
    ],
)
def test_a_bad_claim_value_is_an_error_naming_file_claim_and_key(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    document = copy_of_shipped()
    document["claim"][D1 - 1][key] = value
    path = write_claims(tmp_path / "claims.toml", document)
    with pytest.raises(ClaimsFileError, match=rf"{tmp_path}.*\[\[claim\]\] #1 \(.*?\): .*{message}") as error:
        load_claims(path)
    assert key in str(error.value)


@pytest.mark.parametrize("key", ["id", "statement", "section", "metric", "subject", "reference", "direction", "margin"])
def test_a_missing_required_key_is_named(tmp_path: Path, key: str) -> None:
    document = copy_of_shipped()
    del document["claim"][0][key]
    with pytest.raises(ClaimsFileError, match=rf"\[\[claim\]\] #1 .*missing \['{key}'\]"):
        load_claims(write_claims(tmp_path / "claims.toml", document))


def test_a_repeated_id_and_an_agreement_without_anchor_are_named(tmp_path: Path) -> None:
    document = copy_of_shipped()
    document["claim"][1]["id"] = document["claim"][0]["id"]
    with pytest.raises(ClaimsFileError, match=r"\[\[claim\]\] #2 .*id 'D1' used twice"):
        load_claims(write_claims(tmp_path / "claims.toml", document))
    document = copy_of_shipped()
    del claim_by_metric(document, "agreement")["anchor"]
    with pytest.raises(ClaimsFileError, match="anchor: metric 'agreement' needs an anchor side"):
        load_claims(write_claims(tmp_path / "claims.toml", document))


def test_a_correction_family_naming_another_claim_is_refused_and_no_claim_leaves_the_families(tmp_path: Path) -> None:
    from embedders import EMBEDDERS
    from evals.claims.spec import comparisons, correction_families

    document = copy_of_shipped()
    family_member = next(c for c in document["claim"] if c.get("correction_family") == "D2")
    family_member["correction_family"] = "D1"  # a typo for a family that is another claim's id
    with pytest.raises(ClaimsFileError, match="correction_family 'D1' is the id of another claim"):
        load_claims(write_claims(tmp_path / "claims.toml", document))
    # a family no other claim uses is a family of its own, and its claim is still corrected and run
    family_member["correction_family"] = "D2-typo"
    _, claims = load_claims(write_claims(tmp_path / "claims.toml", document))
    entries = list(EMBEDDERS.values())
    families = correction_families(claims, entries)
    every = [spec.id for claim in claims for spec in comparisons(claim, entries, None)]
    assert sorted(m for members in families.values() for m in members) == sorted(every)
    assert all(any(s.startswith(f"{claim.id}:") for s in every) for claim in claims)


# ---------------------------------------------------------------- a metric's params

ANALOGIES = names(Kind.ANALOGIES)


@pytest.mark.parametrize(
    ("metric_name", "params", "message"),
    [
        ("analogy-accuracy", {"method": "3cosfoo"}, "method = '3cosfoo': is not one of '3cosadd', '3cosmul'"),
        ("analogy-accuracy", {"dataset": "lee50"}, "dataset = 'lee50': is not a dataset of kind analogies"),
        ("analogy-accuracy", {"dataset": ["bats", "googel-analogy"]}, "is not a dataset of kind analogies"),
        ("analogy-accuracy", {"dataset": []}, "empty list"),
        ("analogy-accuracy", {"k": 5}, r"unknown keys \['k'\]"),
        ("related-vs-random-auc", {"relation": "syntactic"}, "relation = 'syntactic'"),
        ("related-vs-random-auc", {"negatives": "hard"}, "negatives = 'hard'"),
        ("related-vs-random-auc", {"relation": None}, r"missing \['relation'\]"),
        ("category-silhouette", {"dataset": "google-analogy"}, "is not a dataset of kind categories"),
        ("category-silhouette", {"dataset": ["common-categories"]}, "is not a dataset of kind categories"),
        ("sentence-similarity", {"correlation": "kendall"}, "correlation = 'kendall'"),
        ("sentence-similarity", {"dataset": "wordsim353"}, "is not a dataset of kind sentence-pairs"),
        ("contextualization", {"measure": "varience"}, "measure = 'varience'"),
        ("variation-discrimination", {"dataset": "lee50"}, r"unknown keys \['dataset'\]"),
        ("random-pair-similarity", {"pairs": 10}, r"unknown keys \['pairs'\]"),
        ("agreement", {"anchor": "x"}, r"unknown keys \['anchor'\]"),
    ],
)
def test_bad_params_are_named_against_the_metrics_declaration(
    tmp_path: Path, metric_name: str, params: dict, message: str
) -> None:
    document = copy_of_shipped()
    claim = claim_by_metric(document, metric_name)
    merged = {**claim.get("params", {}), **params}
    claim["params"] = {k: v for k, v in merged.items() if v is not None}
    with pytest.raises(ClaimsFileError, match=rf"\({claim['id']}\): params: metric '{metric_name}': .*{message}"):
        load_claims(write_claims(tmp_path / "claims.toml", document))


def test_every_metric_declares_exactly_the_params_it_takes() -> None:
    assert all(name == m.name == m.params.metric for name, m in METRICS.items())
    assert set(METRICS["analogy-accuracy"].params.declared) == {"dataset", "method"}
    assert not METRICS["agreement"].params.declared and not METRICS["variation-discrimination"].params.declared
    assert METRICS["related-vs-random-auc"].params.declared["relation"].required


def test_a_metric_name_registered_twice_is_refused_and_its_params_must_match() -> None:
    shipped = METRICS["agreement"]

    def again(memo: object, settings: object) -> object:
        raise AssertionError

    with pytest.raises(RegistryError, match="claim metric 'agreement' registered twice"):
        metric("agreement", lambda *_, **__: {})(again)
    with pytest.raises(RegistryError, match="claim metric 'agreement' registered twice"):
        with METRICS.added("agreement", ClaimMetric.of("agreement", lambda *_, **__: {}, again)):
            pass
    assert METRICS["agreement"] is shipped  # the refused one replaced nothing, and was not unregistered either

    def takes(memo: object, settings: object, colour: str = "red") -> object:
        raise AssertionError

    with pytest.raises(TypeError, match=r"params declared \[\], taken \['colour'\]"):
        metric("a-new-metric", lambda *_, **__: {})(takes)
    assert "a-new-metric" not in METRICS


def test_a_metric_added_for_a_test_is_gone_after_it() -> None:
    def scores(memo: object, settings: object) -> object:
        raise AssertionError

    with METRICS.added("a-test-metric", ClaimMetric.of("a-test-metric", lambda *_, **__: {}, scores)) as added:
        assert METRICS["a-test-metric"] is added
    assert "a-test-metric" not in METRICS
    with pytest.raises(RegistryError, match=r"no claim metric named .a-test-metric.; registered: .*agreement"):
        METRICS["a-test-metric"]


# ---------------------------------------------------------------- [[claim.expect]]


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        ({"comparison": "gemma3-270m vs e5-small", "verdict": "wrong", "why": "w"}, "verdict = 'wrong': is not one of"),
        ({"comparison": "gemma3-270m vs e5-small", "verdict": "refuted"}, r"missing \['why'\]"),
        ({"comparison": "", "verdict": "refuted", "why": "w"}, "comparison = '': must be a non-empty text"),
        ({"comparison": "gemma3-270m vs e5-small", "verdict": "refuted", "why": "w", "x": 1}, "unknown keys"),
        ({"comparison": "gemma3-270m vs e5-smal", "verdict": "refuted", "why": "w"}, "matches no comparison"),
        ({"comparison": "glove-6b-50d vs *", "verdict": "refuted", "why": "w"}, "matches no comparison"),
    ],
)
def test_a_bad_expected_verdict_is_named(tmp_path: Path, expectation: dict, message: str) -> None:
    document = copy_of_shipped()
    document["claim"][0]["expect"] = [expectation]
    with pytest.raises(ClaimsFileError, match=rf"\(D1\): .*\[\[claim.expect\]\] #1.*{message}"):
        load_claims(write_claims(tmp_path / "claims.toml", document))


def test_an_expectation_may_name_any_registered_embedder_available_or_not(tmp_path: Path) -> None:
    document = copy_of_shipped()
    document["claim"][0]["expect"] = [
        {"comparison": "openai-3-large vs glove-6b-50d", "verdict": "refuted", "why": "w"}
    ]
    (claim, *_) = load_claims(write_claims(tmp_path / "claims.toml", document))[1]
    assert claim.expected_verdict("openai-3-large vs glove-6b-50d")[0] is Verdict.REFUTED


def test_an_expectation_may_name_a_users_own_path_embedder_of_a_sides_family(tmp_path: Path) -> None:
    """A `glove:PATH` embedder joins D1's static side through its family, so its expectations are not refused."""
    document = copy_of_shipped()
    document["claim"][0]["expect"] = [
        {"comparison": "gemma3-270m vs glove:/data/my vectors.txt", "verdict": "refuted", "why": "w"},
        {"comparison": "* vs glove:*", "verdict": "refuted", "why": "w"},
    ]
    (claim, *_) = load_claims(write_claims(tmp_path / "claims.toml", document))[1]
    assert claim.expected_verdict("smollm2-135m vs glove:/x.txt")[0] is Verdict.REFUTED


def test_an_unregistered_embedder_name_loads_with_a_warning_naming_it(tmp_path: Path) -> None:
    document = copy_of_shipped()
    document["claim"][0]["subject"] = {"name": ["gemma3-270n"]}
    document["claim"][0].pop("expect")
    with pytest.warns(NameWarning, match=r"\[\[claim\]\] #1 \(D1\): subject: embedder 'gemma3-270n' is not registered"):
        load_claims(write_claims(tmp_path / "claims.toml", document))


# ---------------------------------------------------------------- expectations.toml

GOOD = {"check": "word-similarity/*", "who": "*", "metric": "spearman", "at_least": 0.05, "why": "w"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"check": ""}, "check = '': must be a non-empty text"),
        ({"who": 3}, "who = 3: must be a non-empty text"),
        ({"metric": ["spearman"]}, "metric = .*: must be a non-empty text"),
        ({"at_least": "0.05"}, "at_least = '0.05': must be a number"),
        ({"at_most": math.nan}, "at_most = nan: must be a finite number"),
        ({"at_least": True}, "at_least = True: must be a number"),
        ({"at_least": 0.9, "at_most": 0.1}, "at_least 0.9 is above at_most 0.1"),
        ({"at_least": None}, "needs at_least and/or at_most"),
        ({"why": None}, r"missing \['why'\]"),
        ({"why": " "}, "why = ' ': must be a non-empty text"),
        ({"colour": "red"}, r"unknown keys \['colour'\]"),
    ],
)
def test_a_bad_expectation_is_named(tmp_path: Path, change: dict, message: str) -> None:
    table = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    path = tmp_path / "expect.toml"
    path.write_text(f"expect = [{toml_value(GOOD)}, {toml_value(table)}]\n")
    with pytest.raises(ExpectationsError, match=rf"{path}: \[\[expect\]\] #2: {message}"):
        load_expectations(path)


def test_who_is_a_name_a_family_or_everyone_and_an_unknown_name_is_warned_of(tmp_path: Path) -> None:
    path = tmp_path / "expect.toml"
    tables = [{**GOOD, "who": who} for who in ("*", "llm", "glove-6b-50d", "glove:/data/vectors.txt")]
    path.write_text(f"expect = [{', '.join(toml_value(t) for t in tables)}]\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NameWarning)
        assert [e.who for e in load_expectations(path)] == [t["who"] for t in tables]
    path.write_text(f"expect = [{toml_value({**GOOD, 'who': 'glove-6b-5Od'})}]\n")
    with pytest.warns(NameWarning, match=r"\[\[expect\]\] #1: who: embedder 'glove-6b-5Od'"):
        load_expectations(path)


# ---------------------------------------------------------------- random mutations of the shipped file

CLAIM_KEYS = set(keys_of(Claim))
SETTINGS_KEYS = set(keys_of(Settings))
PARAM_KEYS = {k for m in METRICS.values() for k in m.params.declared}

values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["holm", "greater", "less", "cross", "larger-vs-smaller", "llm", "api", "agreement", "3cosmul"]),
    st.sampled_from(sorted(METRICS) + ANALOGIES + ["semantic", "morphological", "random", "spearman", "variance"]),
    st.lists(st.sampled_from(["llm", "static", "gemma3-270m", "bats", ""]), max_size=3),
    st.fixed_dictionaries(
        {}, optional={"family": st.sampled_from(["llm", "api", "llms"]), "name": st.text(max_size=5)}
    ),
)


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else []


@st.composite
def mutations(draw: st.DrawFn) -> tuple[dict, str]:
    """The shipped document with one or two changes, and where the last one is (for the error it must name)."""
    document = copy_of_shipped()
    where = ""
    for _ in range(draw(st.integers(1, 2))):
        place = draw(st.sampled_from(["settings", "claim", "params", "expect"]))
        if place == "settings":
            table, keys, where = document["settings"], SETTINGS_KEYS, "[settings]"
        else:
            number_ = draw(st.integers(0, len(document["claim"]) - 1))
            table, keys, where = document["claim"][number_], CLAIM_KEYS, f"[[claim]] #{number_ + 1} "
            if place == "params" and isinstance(given := table.setdefault("params", {}), dict):
                # an earlier change may have set "params" to any value: only a table can be changed further
                table, keys = given, PARAM_KEYS
            elif place == "expect" and (tables := [e for e in _as_list(table.get("expect")) if isinstance(e, dict)]):
                # an earlier change may have set "expect" to any value: only its tables can be changed further
                table, keys = draw(st.sampled_from(tables)), {"comparison", "verdict", "why"}
        key = draw(st.sampled_from(sorted(keys | {"unknown-key"})))
        action = draw(st.sampled_from(["drop", "set", "set"]))
        if action == "drop":
            table.pop(key, None)
        else:
            table[key] = draw(values)
    return document, where


def satisfies_every_constraint(settings_: Settings, claims: list[Claim]) -> None:
    """The declared constraints, restated here independently of the schema that enforces them."""
    assert isinstance(settings_.resamples, int) and 200 <= settings_.resamples <= 100_000
    assert isinstance(settings_.seed, int) and settings_.seed >= 0
    assert 0 < settings_.alpha <= 0.5 and 0.5 < settings_.confidence < 1 and 0 <= settings_.tolerance <= 0.01
    assert settings_.correction == "holm" and isinstance(settings_.random_pairs, int) and settings_.random_pairs >= 100
    assert len({c.id for c in claims}) == len(claims)
    families = {str(f) for f in Family}
    for c in claims:
        assert all(isinstance(v, str) and v.strip() for v in (c.id, c.statement, c.section))
        assert (
            c.metric in METRICS and c.direction in ("greater", "less") and c.pairing in ("cross", "larger-vs-smaller")
        )
        assert isinstance(c.margin, float) and math.isfinite(c.margin) and isinstance(c.paper, bool)
        for side in (c.subject, c.reference, c.anchor, c.anchor_proxy):
            if side is not None:
                assert set(side.families) <= families and all(isinstance(n, str) and n.strip() for n in side.names)
                assert side.families or side.names
        assert (c.anchor is not None) == (c.metric == "agreement")
        assert c.anchor_proxy is None or c.metric == "agreement"
        params = dict(c.params)
        assert set(params) <= set(METRICS[c.metric].params.declared)
        assert params.get("method", "3cosadd") in METHODS
        for dataset in (params["dataset"],) if isinstance(params.get("dataset"), str) else params.get("dataset", ()):
            assert dataset in names(Kind.ANALOGIES) + names(Kind.CATEGORIES) + names(Kind.SENTENCE_PAIRS)
        for e in c.expected:
            assert isinstance(e.verdict, Verdict) and e.why.strip()
            assert any(fnmatch.fnmatchcase(n, e.comparison) for n in possible_comparisons(c))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated=mutations())
def test_a_mutated_claims_file_is_a_named_error_or_loads_valid(tmp_path: Path, mutated: tuple[dict, str]) -> None:
    document, _ = mutated
    path = write_claims(tmp_path / "claims.toml", document)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NameWarning)
            settings_, claims = load_claims(path)
    except ClaimsFileError as error:
        message = str(error)
        assert message.startswith(f"{path}: ")
        assert "[settings]" in message or "[[claim]] #" in message
        assert any(k in message for k in CLAIM_KEYS | SETTINGS_KEYS | PARAM_KEYS | {"unknown keys", "expect"})
        return
    satisfies_every_constraint(settings_, claims)


# ---------------------------------------------------------------- at option parsing: exit 4


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("settings", "correction", "bonferroni"), "correction = 'bonferroni'"),
        (("params", "method", "3cosfoo"), "method"),
    ],
)
def test_a_bad_claims_file_is_a_usage_error_naming_the_key(tmp_path: Path, change: tuple, named: str) -> None:
    document = copy_of_shipped()
    place, key_, value = change
    if place == "settings":
        document["settings"][key_] = value
    else:
        claim_by_metric(document, "analogy-accuracy")["params"][key_] = value
    path = write_claims(tmp_path / "bad.toml", document)
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/test_claims.py", "--claims", str(path), "--collect-only", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--claims" in result.stderr and named in result.stderr and str(path) in result.stderr


def test_alpha_above_the_intervals_level_is_refused(tmp_path: Path) -> None:
    """A confirmed verdict must mean an interval that excludes the margin: alpha at most 1 - confidence."""
    document = copy_of_shipped()
    document["settings"] = {**document["settings"], "alpha": 0.2, "confidence": 0.95}
    with pytest.raises(ClaimsFileError, match=r"\[settings\]: alpha = 0.2 is above 1 - confidence"):
        load_claims(write_claims(tmp_path / "claims.toml", document))


def test_a_correction_family_no_other_claim_names_is_said(tmp_path: Path) -> None:
    """A misspelt shared family (D22 for D2) splits the family and weakens its correction: it is warned of."""
    document = copy_of_shipped()
    next(c for c in document["claim"] if c["id"] == "D2-morphological-llm")["correction_family"] = "D22"
    with pytest.warns(NameWarning, match=r"\(D2-morphological-llm\): correction_family 'D22' is named by no other"):
        load_claims(write_claims(tmp_path / "claims.toml", document))
