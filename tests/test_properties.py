"""Random input files, each either refused with an error naming the file (and the key or line), or read into a run
whose records are internally consistent: expectations files, claims files run through the claims engine, and
word2vec text files."""

from __future__ import annotations

import math
import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from embedders import Family, SpecError, resolve
from embedders.base import EmbedderUnavailable
from embedders.registry import EmbedderEntry
from evals.claims.metrics import METRICS, ClaimMetric, ItemScores
from evals.claims.resampling import Resampling
from evals.claims.run import ClaimRun
from evals.claims.settings import Settings
from evals.claims.spec import ClaimsFileError, comparisons, correction_families, load_claims
from evals.expectations import DEFAULT_PATH, Expectation, ExpectationsError, load_expectations
from evals.records import ClaimRecord, Verdict
from evals.schema import NameWarning, keys_of
from evals.tasks.measurement import NonFiniteVectors, usable_unit_vectors
from evals.weighted import MEAN
from fixtures import DatasetInfo
from tests.conftest import small_static
from tests.test_claims_schema import toml_value, write_claims

FUNCTION_SCOPED = [HealthCheck.function_scoped_fixture]

# ---------------------------------------------------------------- expectations files

SHIPPED_EXPECTATIONS = tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))["expect"]
EXPECTATION_KEYS = sorted(keys_of(Expectation))
BOUNDS = ("at_least", "at_most")

any_value = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.sampled_from(["*", "llm", "spearman", ""]), max_size=2),
    st.sampled_from(["*", "llm", "static", "glove-6b-50d", "glove:/x.txt", "spearman", "analogy/*", " ", ""]),
)
bound_value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1e308, 1e308, 0.5]),
    st.integers(-3, 3),
)


@st.composite
def expectations_mutations(draw: st.DrawFn) -> tuple[list[dict], dict[int, set[str]]]:
    """The shipped tables with one to three changes, and for each changed table (numbered from 1) its changed keys."""
    tables = [dict(t) for t in SHIPPED_EXPECTATIONS]
    changed: dict[int, set[str]] = {}
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(tables) - 1))
        table = tables[index]
        action = draw(st.sampled_from(["drop", "type", "bound", "crossed", "unknown", "text"]))
        if action == "drop":
            key = draw(st.sampled_from(EXPECTATION_KEYS))
            table.pop(key, None)
        elif action == "type":
            key = draw(st.sampled_from(EXPECTATION_KEYS))
            table[key] = draw(any_value)
        elif action == "bound":
            key = draw(st.sampled_from(BOUNDS))
            table[key] = draw(bound_value)
        elif action == "crossed":
            low = draw(st.floats(-10, 10, allow_nan=False))
            key = "at_most"
            table["at_least"], table["at_most"] = low, low - draw(st.floats(0, 5, allow_nan=False))
        elif action == "unknown":
            key = draw(st.sampled_from(["colour", "at-least", "At_least", "expect", "whom"]))
            table[key] = draw(any_value)
        else:
            key = draw(st.sampled_from(["who", "check", "metric"]))
            table[key] = draw(st.text(max_size=10))
        changed.setdefault(index + 1, set()).add(key)
    return tables, changed


@settings(max_examples=150, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(mutated=expectations_mutations())
def test_a_mutated_expectations_file_is_a_named_error_or_loads_valid(
    tmp_path: Path, mutated: tuple[list[dict], dict[int, set[str]]]
) -> None:
    tables, changed = mutated
    path = tmp_path / "expectations.toml"
    body = ",\n".join(toml_value(t) for t in tables)
    path.write_text(f"expect = [\n{body}\n]\n", encoding="utf-8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NameWarning)
            loaded = load_expectations(path)
    except ExpectationsError as error:
        event("refused")
        message = str(error)
        assert message.startswith(f"{path}: [[expect]] #"), message
        number = int(message.removeprefix(f"{path}: [[expect]] #").split(":", 1)[0])
        assert number in changed, message  # only a changed table is refused
        keys = changed[number] | ({"needs at_least", "above at_most"} if changed[number] & {*BOUNDS} else set())
        assert any(k in message for k in keys) or "missing" in message or "unknown keys" in message, message
        return
    event("loaded")
    assert len(loaded) == len(tables)
    for expectation in loaded:
        for value in (expectation.check, expectation.who, expectation.metric, expectation.why):
            assert isinstance(value, str) and value.strip()
        assert expectation.at_least is not None or expectation.at_most is not None
        for value in (expectation.at_least, expectation.at_most):
            assert value is None or (type(value) is float and math.isfinite(value))
        if expectation.at_least is not None and expectation.at_most is not None:
            assert expectation.at_least <= expectation.at_most
    assert [e.who for e in loaded] == [t["who"] for t in tables]  # every table, in order: none dropped


# ---------------------------------------------------------------- claims files, run in process

ITEMS = 24
LLMS, STATIC = ("llm-a", "llm-b"), "static-x"
SETTINGS_KEYS = sorted(keys_of(Settings))

# each setting: values within its range, and values beyond it (the among them)
WITHIN = {
    "resamples": st.sampled_from([200, 201, 250]),
    "seed": st.integers(0, 2**32 - 1),
    "alpha": st.floats(0, 0.5, exclude_min=True),
    "confidence": st.floats(0.5, 1, exclude_min=True, exclude_max=True),
    "tolerance": st.floats(0, 0.01),
    "correction": st.just("holm"),
}
BEYOND = {
    "resamples": st.sampled_from([1, 199, 0, 100_001, 200.0, True, "200"]),
    "seed": st.sampled_from([-1, 2**32, 1.5, "7"]),
    "alpha": st.sampled_from([0, 2, 0.5000001, -0.1, math.nan, math.inf, "0.05"]),
    "confidence": st.sampled_from([0.5, 1, 0.4, math.nan, True]),
    "tolerance": st.sampled_from([0.0100001, -1e-9, 0.5, math.inf]),
    "correction": st.sampled_from(["bonferroni", "Holm", "", 1, ["holm"]]),
}


@st.composite
def claims_files(draw: st.DrawFn) -> tuple[dict, dict[str, float]]:
    """A claims document of one to three test-metric claims over two LLMs and a static model, settings within
    their ranges but for at most one (so that each refusal is seen alone); and each embedder's shift of its item
    scores (the true effects)."""
    chosen = draw(st.lists(st.sampled_from(sorted(WITHIN)), unique=True, max_size=4))
    beyond = draw(st.sampled_from([None] * len(BEYOND) + sorted(BEYOND)))
    # resamples at the floor unless drawn: the default 2000 would only slow the property down
    document_settings = {"resamples": 200, "random_pairs": 100} | {k: draw(WITHIN[k]) for k in chosen}
    if beyond is not None:
        document_settings[beyond] = draw(BEYOND[beyond])
    families = draw(st.lists(st.sampled_from(["", "F", "G"]), min_size=1, max_size=3))
    claims = []
    for number, family in enumerate(families, start=1):
        claim = {
            "id": f"T{number}",
            "statement": "s",
            "section": "s",
            "metric": "test-metric",
            "subject": {"family": ["llm"]},
            "reference": {"family": ["static"]},
            "direction": draw(st.sampled_from(["greater", "less"])),
            "margin": draw(st.sampled_from([0.0, 0.0, 0.02, -0.02])),
        }
        if family:
            claim["correction_family"] = family
        claims.append(claim)
    shifts = {name: draw(st.one_of(st.just(0.0), st.floats(-0.1, 0.1))) for name in (*LLMS, STATIC)}
    return {"settings": document_settings, "claim": claims}, shifts


def shifted_scores(shifts: dict[str, float], noise: float) -> Callable[..., ItemScores]:
    """Item scores: a shift per embedder plus shared item difficulty and noise, so pairing matters."""
    rng = np.random.default_rng(7)
    difficulty = rng.normal(0.5, 0.2, ITEMS)

    def scores(memo, settings: Settings) -> ItemScores:
        name = memo.info.name
        own = np.random.default_rng(sum(map(ord, name))).normal(0, noise, ITEMS)
        values = difficulty + shifts[name] + own
        return ItemScores(values[:, None], MEAN, Resampling.items(ITEMS), DatasetInfo("t", "-", "0" * 64, ITEMS), {})

    return scores


def two_words(settings: Settings, info: object) -> dict[str, list]:
    return {"words": ["w0", "w1"]}


def entries() -> list[EmbedderEntry]:
    words = ["w0", "w1"]
    vectors = np.eye(2, dtype=np.float32)
    return [
        EmbedderEntry(name, family, size, 2, "test", lambda options, name=name: small_static(words, vectors, name))
        for name, family, size in [(LLMS[0], Family.LLM, 100), (LLMS[1], Family.LLM, 200), (STATIC, Family.STATIC, 10)]
    ]


def assert_consistent(records: dict[str, ClaimRecord], settings_: Settings, families: dict[str, list[str]]) -> None:
    by_family: dict[str, list[ClaimRecord]] = {}
    for record in records.values():
        assert record.error is None and record.skipped is None, record.error or record.skipped
        family = record.correction_family
        # the correction recorded is the one the settings name, and the only one the engine applies
        assert family.correction == settings_.correction == "holm" and family.alpha == settings_.alpha
        assert family.size == len(families[family.id])
        assert record.statistics is not None and record.statistics.resamples == settings_.resamples
        assert record.statistics.confidence == settings_.confidence and record.statistics.seed == settings_.seed
        effect, low, high, p, adjusted = record.effect, record.low, record.high, record.p_value, record.adjusted_p
        assert None not in (effect, low, high, p, adjusted)
        assert low <= effect <= high
        assert 0 <= p <= adjusted <= 1
        within = abs(effect - record.margin) <= settings_.tolerance
        # exactly what stats.verdict guarantees
        if record.verdict is Verdict.INCONCLUSIVE:
            assert within or adjusted >= settings_.alpha
        else:
            assert not within and adjusted < settings_.alpha
            assert (effect > record.margin) == (record.verdict is Verdict.CONFIRMED)
        # and what follows from the t-test: an adjusted p below 1 - confidence puts the margin outside the interval
        if not within and adjusted < 1 - settings_.confidence:
            assert not low <= record.margin <= high
        by_family.setdefault(family.id, []).append(record)
    for family_id, members in by_family.items():
        # every comparison of the family ran here, so Holm over their p-values is the whole correction
        assert sorted(r.claim + ":" + r.comparison for r in members) == sorted(families[family_id])
        expected = multipletests([r.p_value for r in members], method="holm")[1]
        np.testing.assert_allclose([r.adjusted_p for r in members], expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=80, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(generated=claims_files(), noise=st.sampled_from([0.0, 0.01, 0.05, 0.2]))
def test_a_random_claims_file_is_a_named_error_or_a_consistent_run(
    tmp_path: Path, generated: tuple[dict, dict[str, float]], noise: float
) -> None:
    document, shifts = generated
    # registered for this example only: hypothesis runs the function many times within one test's fixtures
    with METRICS.added("test-metric", ClaimMetric.of("test-metric", two_words, shifted_scores(shifts, noise))):
        run_generated(write_claims(tmp_path / "claims.toml", document), document)


def run_generated(path: Path, document: dict) -> None:
    try:
        settings_, claims = load_claims(path)
    except ClaimsFileError as error:
        event("refused")
        message = str(error)
        assert message.startswith(f"{path}: [settings]: "), message
        named = message.removeprefix(f"{path}: [settings]: ").split(" = ", 1)[0]
        if "above 1 - confidence" in message:  # the rule across two keys: the file set at least one of them
            assert {"alpha", "confidence"} & set(document["settings"]), message
        else:
            assert named in document["settings"] and named in SETTINGS_KEYS, message
        return
    available = entries()
    families = correction_families(claims, available)
    specs = [spec for claim in claims for spec in comparisons(claim, available, None)]
    assert len(specs) == 2 * len(claims)  # every claim keeps its comparisons, whatever family it names
    run = ClaimRun(settings_, specs, families, lambda e: e.load(), lambda e: None)
    records = run.records()
    for record in records.values():
        event(f"run: {record.verdict}")
    assert set(records) == {spec.id for spec in specs}
    assert_consistent(records, settings_, families)


# ---------------------------------------------------------------- word2vec text files

WORD_LETTERS = "abcXYZé日ß_-.\u00a0\u2003\u200b"
number_text = st.one_of(
    st.floats(-3, 3, allow_nan=False).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "0", "0.0", "-0", "1e-45", "1e38", "x", ""]),
)


@st.composite
def word2vec_texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A small word2vec text file (header, rows) with random words, dimensions, NaN/inf/zero rows, a header that
    may disagree with the rows, and now and then a ragged row, a tab or a word given twice; and its words."""
    dimension = draw(st.integers(1, 5))
    words = draw(st.lists(st.text(WORD_LETTERS, min_size=1, max_size=6), min_size=1, max_size=8, unique=True))
    if draw(st.integers(0, 9)) == 0:
        words.append(words[0])  # a word twice
    rows = []
    for word in words:
        # a ragged row now and then: most files should get past the checks, to test what is loaded
        kind = (
            "ragged" if draw(st.integers(0, 24)) == 0 else draw(st.sampled_from(["plain"] * 3 + ["nan", "inf", "zero"]))
        )
        if kind == "plain":
            values = [repr(draw(st.floats(-3, 3, allow_nan=False))) for _ in range(dimension)]
        elif kind == "nan":
            values = ["nan"] + ["0.5"] * (dimension - 1)
        elif kind == "inf":
            values = ["-inf"] * dimension
        elif kind == "zero":
            values = ["0"] * dimension
        else:
            values = [draw(number_text) for _ in range(draw(st.integers(0, dimension + 1)))]
        separator = "\t" if draw(st.integers(0, 39)) == 0 else " "
        rows.append(separator.join([word, *values]))
    count = len(rows) + draw(st.sampled_from([0] * 8 + [1, -1]))
    header_dimension = dimension + draw(st.sampled_from([0] * 8 + [1, -1]))
    ending = draw(st.sampled_from(["\n", "\n", "", "\n\n"]))
    return f"{count} {header_dimension}\n" + "\n".join(rows) + ending, words


@settings(max_examples=80, deadline=None, suppress_health_check=FUNCTION_SCOPED)
@given(generated=word2vec_texts(), asked=st.lists(st.text(WORD_LETTERS, min_size=1, max_size=6), max_size=4))
def test_a_random_word2vec_text_file_is_a_named_error_or_gives_what_gensim_reads(
    tmp_path: Path, generated: tuple[str, list[str]], asked: list[str]
) -> None:
    text, words = generated
    path = tmp_path / "vectors.txt"
    path.write_text(text, encoding="utf-8")
    spec = f"word2vec:{path}"
    try:
        entry = resolve(spec)
    except SpecError as error:
        event("refused at parse time")
        assert str(error).startswith(f"--embedder {spec}: "), error
        return
    try:
        embedder = entry.load()
    except EmbedderUnavailable as error:  # a load that would be partial or fails: a skip naming the file
        event("a skip at load")
        assert str(path) in str(error), error
        return
    event("loaded")
    # loaded: every row of the file, as gensim itself reads it (no partial load, no value changed)
    reference = KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert embedder.vocabulary() == reference.index_to_key == words
    queries = [*words, *(w.upper() for w in words), *asked]
    found = embedder.embed_words(queries)
    assert found.vectors.shape == (len(queries), reference.vector_size)
    for row, word in enumerate(queries):
        # case-insensitive, the first (most frequent) variant, as gensim's evaluators look words up
        match = next((i for i, key in enumerate(reference.index_to_key) if key.upper() == word.upper()), None)
        assert bool(found.found[row]) == (match is not None)
        if match is None:
            assert not found.vectors[row].any()  # missing: marked, and zero, never a neighbour's vector
        else:
            np.testing.assert_array_equal(found.vectors[row], reference.vectors[match])
    # a NaN, inf or zero row is never used as a vector: measurements treat it as missing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteVectors)
        unit, usable = usable_unit_vectors(found)
    finite = np.isfinite(found.vectors).all(axis=1)
    assert not (usable & ~(found.found & finite)).any()
    np.testing.assert_allclose(np.linalg.norm(unit[usable], axis=1), 1.0, rtol=1e-5)
    # a finite row is usable unless its length under- or overflows float32 (e.g. a lone 1e-45)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.where(finite[:, None], found.vectors, 0).astype(np.float64), axis=1)
    representable = (norms > 1e-18) & (norms < 1e18)
    assert not (found.found & finite & representable & ~usable).any()
