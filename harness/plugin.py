"""pytest hooks and fixtures: select embedders and datasets, parametrize the evals, report what was measured."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from embedders import EMBEDDERS, Embedder, EmbedderEntry, EmbedderInfo, EmbedderUnavailable
from embedders.files import TRUST_REMOTE_CODE_VARIABLE
from evals.records import MeasurementRecord
from evals.tasks.analogy import NEEDS_WORD_LIST, VOCABULARIES
from evals.tasks.measurement import Measurement
from fixtures import Dataset, DatasetInfo, DatasetMissing, Kind, Resolver, names
from harness import loading
from harness.expectations import DEFAULT_PATH, Expectation, failures, load_expectations
from harness.generation import omit
from harness.loading import Usage, load_embedder
from harness.options import add_options, cache_settings, dataset_paths
from harness.report import attach, measurements_of, summary_lines

SELECTED = pytest.StashKey[dict[str, EmbedderEntry]]()
NOT_HERE = pytest.StashKey[list[str]]()
# where every dataset of the session is read from, for evals and claims alike
RESOLVER = pytest.StashKey[Resolver]()
DATASET_FIXTURES = {
    "word_pairs": Kind.WORD_PAIRS,
    "analogies": Kind.ANALOGIES,
    "sentence_pairs": Kind.SENTENCE_PAIRS,
    "outlier_sets": Kind.OUTLIER_SETS,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if config.getoption("list_embedders"):
        print(embedder_table())
        return 0
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "no":
        # with -n, keep each embedder's tests on one worker (see its xdist_group mark): one model load each
        config.option.dist = "loadgroup"
    return None


def embedder_table() -> str:
    rows = [("name", "family", "parameters", "dim", "here")]
    for entry in EMBEDDERS.values():
        reason = entry.unavailable_reason()
        rows.append(
            (
                entry.name,
                str(entry.family),
                f"{entry.parameters / 1e6:,.0f}M" if entry.parameters else "?",
                str(entry.dimension or "?"),
                "available" if reason is None else f"unavailable: {reason}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)] + [0]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) for row in rows)


def pytest_configure(config: pytest.Config) -> None:
    # backends read these when they load, on the controller and on every xdist worker alike
    for option, variable in (("device", "EMBEDDING_CLAIMS_DEVICE"), ("dtype", "EMBEDDING_CLAIMS_DTYPE")):
        if config.getoption(option):
            os.environ[variable] = config.getoption(option)
    os.environ[TRUST_REMOTE_CODE_VARIABLE] = "1" if config.getoption("trust_remote_code") else "0"
    chosen = [entry for group in config.getoption("embedder") for entry in group]
    if not chosen:
        # the default session: what runs here; the rest is named once in the summary, not skipped test by test
        chosen = [entry for entry in EMBEDDERS.values() if entry.unavailable_reason() is None]
        config.stash[NOT_HERE] = [name for name, entry in EMBEDDERS.items() if entry not in chosen]
    config.stash[SELECTED] = {entry.name: entry for entry in chosen}
    config.stash[RESOLVER] = Resolver(dataset_paths(config.getoption("dataset")))
    mode, folder = cache_settings(config.getoption("embedding_cache"), config.getoption("embedding_cache_dir"))
    loading.configure(mode, folder)
    config.addinivalue_line("markers", "xdist_group(name): keep an embedder's tests on one xdist worker")


def _embedder_param(entry: EmbedderEntry, *values: object, ids: tuple[str, ...] = ()) -> object:
    # one worker per embedder, so no model is loaded by two xdist workers
    marks = [pytest.mark.xdist_group(entry.name)]
    reason = entry.unavailable_reason()
    if reason:
        marks.append(pytest.mark.skip(reason=reason))
    return pytest.param(entry.name, *values, id="-".join((entry.name, *ids)), marks=marks)


def _marked_variants(metafunc: pytest.Metafunc) -> int:
    """How many tests each generated parameter set becomes through the test's own parametrize marks."""
    count = 1
    for mark in metafunc.definition.iter_markers("parametrize"):
        count *= len(mark.args[1])
    return count


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    selected = metafunc.config.stash[SELECTED].values()
    # an analogy test's vocabulary is generated with its embedder and dataset, so that the open-vocabulary
    # protocols meet only embedders with a word list of their own (the ids stay embedder-dataset-vocabulary)
    joint = {"embedder", "analogies", "vocabulary"} <= set(metafunc.fixturenames)
    if joint:
        params, left_out = [], 0
        for entry in selected:
            for dataset in names(Kind.ANALOGIES):
                for vocabulary in VOCABULARIES:
                    if vocabulary in NEEDS_WORD_LIST and not entry.has_vocabulary:
                        left_out += 1
                        continue
                    params.append(_embedder_param(entry, dataset, vocabulary, ids=(dataset, vocabulary)))
        metafunc.parametrize(("embedder", "analogies", "vocabulary"), params, indirect=["embedder", "analogies"])
        omit(
            metafunc.config,
            "open-vocabulary analogy tests (embedders without a word list of their own)",
            left_out * _marked_variants(metafunc),
        )
    elif "embedder" in metafunc.fixturenames:
        metafunc.parametrize("embedder", [_embedder_param(entry) for entry in selected], indirect=True)
    for fixture, kind in DATASET_FIXTURES.items():
        if fixture in metafunc.fixturenames and not (joint and fixture == "analogies"):
            metafunc.parametrize(fixture, names(kind), indirect=True)


def _embedder_of(item: pytest.Item | None) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("embedder") if callspec is not None else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Each embedder's tests one after another (in the order the embedders first appear; the rest after them), so
    # a process that keeps one model at a time loads each once. Depends on the items alone: every xdist worker
    # sorts the same collection into the same order, as xdist requires.
    first: dict[str, int] = {}
    for item in items:
        name = _embedder_of(item)
        if name is not None:
            first.setdefault(name, len(first))
    items.sort(key=lambda item: first.get(_embedder_of(item) or "", len(first)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    yield
    # Free the model once the next test needs another (or none): held on, it would keep other workers waiting.
    loading.keep_only(_embedder_of(nextitem))


@pytest.fixture
def embedder(request: pytest.FixtureRequest) -> Embedder:
    entry = request.config.stash[SELECTED][request.param]
    try:
        return load_embedder(entry)
    except EmbedderUnavailable as error:
        pytest.skip(str(error))


def _dataset(request: pytest.FixtureRequest) -> Dataset:
    try:
        return request.config.stash[RESOLVER].load(request.param)  # type: ignore[return-value]
    except DatasetMissing as missing:
        pytest.skip(str(missing))


@pytest.fixture
def word_pairs(request: pytest.FixtureRequest) -> Dataset:
    return _dataset(request)


@pytest.fixture
def analogies(request: pytest.FixtureRequest) -> Dataset:
    return _dataset(request)


@pytest.fixture
def sentence_pairs(request: pytest.FixtureRequest) -> Dataset:
    return _dataset(request)


@pytest.fixture
def outlier_sets(request: pytest.FixtureRequest) -> Dataset:
    return _dataset(request)


TASK_CODE = pytest.StashKey[str]()


@pytest.fixture
def measure(pytestconfig: pytest.Config) -> Callable[..., Measurement]:
    """Run an evaluator, or take its measurement from the result cache when the same evaluator (same code) already
    ran on the same embedder (identity and fingerprint), the same dataset (sha256) and the same protocol."""
    if TASK_CODE not in pytestconfig.stash:
        root = Path(__file__).resolve().parent.parent
        pytestconfig.stash[TASK_CODE] = loading.source_digest(
            root / "evals" / "tasks", root / "fixtures", Path(__file__)
        )

    def run(evaluate: Callable[..., Measurement], embedder: Embedder, dataset: Dataset, *args: object) -> Measurement:
        key = {
            "evaluator": f"{evaluate.__module__}.{evaluate.__qualname__}",
            "embedder": getattr(embedder, "space", None) or embedder.info.fingerprint,
            "dataset": asdict(dataset.info),
            "protocol": [str(arg) for arg in args],
            "code": pytestconfig.stash[TASK_CODE],
        }
        record = loading.cached_result("measurement", key, lambda: _storable(evaluate(embedder, dataset, *args)))
        return _measurement(record, embedder.info, dataset.info)  # type: ignore[arg-type]

    return run


def _storable(measurement: Measurement) -> dict[str, object]:
    return {
        "task": measurement.task,
        "variant": measurement.variant,
        "protocol": measurement.protocol,
        "metrics": measurement.metrics,
        "items": [None if np.isnan(v) else float(v) for v in np.asarray(measurement.items, dtype=float)],
    }


def _measurement(record: dict, info: EmbedderInfo, dataset: DatasetInfo) -> Measurement:
    items = np.array([np.nan if v is None else v for v in record["items"]], dtype=float)
    return Measurement(record["task"], record["variant"], info, dataset, record["protocol"], record["metrics"], items)


@pytest.fixture(scope="session")
def oov_policy(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getoption("oov_policy")


@pytest.fixture(scope="session")
def open_vocabulary_size(pytestconfig: pytest.Config) -> int:
    return pytestconfig.getoption("open_vocabulary_size")


@pytest.fixture(scope="session")
def expectations(pytestconfig: pytest.Config) -> list[Expectation]:
    return load_expectations(pytestconfig.getoption("expectations") or DEFAULT_PATH)


@pytest.fixture
def judge(request: pytest.FixtureRequest, expectations: list[Expectation]) -> Callable[[Measurement], None]:
    """Record a measurement with its protocol, then fail the test if it misses its expected outcome."""

    def judge_measurement(measurement: Measurement) -> None:
        record = measurement.as_record()
        attach(request.node.user_properties, record)
        missed = failures(expectations, measurement)
        if missed:
            pytest.fail(
                f"{measurement.check} with {measurement.embedder.name}: "
                + "; ".join(missed)
                + f"\nprotocol: {json.dumps(record.protocol)}\nextraction: "
                + json.dumps(record.embedder.extraction)
                + f"\ndataset: {json.dumps(record.dataset)}",
                pytrace=False,
            )

    return judge_measurement


@pytest.hookimpl
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # runs on the xdist controller too, which is where the summary is written
    global _ran_evals
    _ran_evals = _ran_evals or report.nodeid.startswith("evals/")
    if report.when == "call":
        _records.extend(measurements_of(report))


_records: list[MeasurementRecord] = []
_ran_evals = False


def pytest_sessionfinish(session: pytest.Session) -> None:
    loading.release_model()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its embedding counts travel to the controller
        workeroutput["embedding_usage"] = json.dumps({n: asdict(u) for n, u in loading.usage().items()})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    raw = getattr(node, "workeroutput", {}).get("embedding_usage")
    for name, counts in json.loads(raw or "{}").items():
        loading.usage().setdefault(name, Usage()).add(Usage(**counts))


def usage_lines(counts: dict[str, Usage]) -> list[str]:
    """One line per embedder: inputs embedded, from the model or the cache, rate, model calls and loads."""
    lines = []
    for name, u in sorted(counts.items()):
        rate = f"{u.inputs / u.seconds:,.0f}/s" if u.seconds > 0 else "-"
        lines.append(
            f"{name:<16} {u.inputs:>8,} inputs: {u.from_model:>7,} from the model, {u.from_cache:>7,} from the cache; "
            f"{rate} over {u.seconds:.1f} s; {u.model_calls} model calls, {u.loads} loads"
        )
    calls = sum(u.model_calls for u in counts.values())
    lines.append(f"model forward calls in this session: {calls}")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    counts = loading.usage()
    if _ran_evals:
        terminalreporter.section("embeddings")
        where = "off" if loading.mode() == "off" else f"{loading.mode()} at {loading.folder()}"
        terminalreporter.write_line(f"embedding cache: {where}")
        for line in usage_lines(counts):
            terminalreporter.write_line(line)
    not_here = config.stash.get(NOT_HERE, [])
    if not_here and _ran_evals:
        terminalreporter.write_line(
            f"embedders not available here, so not run: {', '.join(not_here)} (pytest --list-embedders says how "
            "to get each; name one with --embedder to see its tests skipped with the reason)"
        )
    if not _records:
        return
    terminalreporter.section("measurements")
    for record in sorted(_records, key=lambda r: (r.embedder.name, r.check)):
        for line in summary_lines(record):
            terminalreporter.write_line(line)
