"""pytest hooks and fixtures: select embedders and datasets, parametrize the evals, report what was measured."""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest

from embedders import EMBEDDERS, Embedder, EmbedderEntry, EmbedderInfo, EmbedderUnavailable
from embedders.declarations import Declarations
from embedders.devices import describe_device
from embedders.registry import spec_form_lines
from evals.claims.spec import CLAIMS_PATH
from evals.expectations import DEFAULT_PATH, Expectation, failures, load_expectations
from evals.records import MeasurementRecord
from evals.tasks.analogy import NEEDS_WORD_LIST, VOCABULARIES
from evals.tasks.inputs import task_inputs
from evals.tasks.measurement import Measurement
from fixtures import DATASETS, Dataset, DatasetInfo, DatasetMissing, Kind, Resolver, names
from harness.generation import omit
from harness.options import add_options, cache_settings, dataset_paths, load_options, suite_declarations
from harness.report import attach, measurements_of, summary_lines
from runtime.computation import CacheOnlyEntry
from runtime.embedder import CachedEmbedder
from runtime.plan import EmbeddingPlan, FillReport, Need
from runtime.pool import Usage
from runtime.results import source_digest
from runtime.session import Runtime, Shared

SELECTED = pytest.StashKey[dict[str, EmbedderEntry]]()
DECLARED = pytest.StashKey[Declarations]()
CANDIDATES = pytest.StashKey[dict[str, EmbedderEntry]]()
CLAIMS_CODE = pytest.StashKey[str]()  # see claims_code
NOT_HERE = pytest.StashKey[list[str]]()
# where every dataset of the session is read from, for evals and claims alike
RESOLVER = pytest.StashKey[Resolver]()
SESSION = pytest.StashKey["EmbeddingSession"]()
EVALS = Path(__file__).resolve().parent.parent / "evals"
SHARED = "embedding_claims_shared"  # the key of the session's Shared in an xdist worker's input
STAND_INS = "embedding_claims_stand_ins"  # and of the computations its embedders without weights stand on
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
        mode, folder = cache_settings(config.getoption("embedding_cache"), config.getoption("embedding_cache_dir"))
        # read only: listing neither makes the cache folder nor writes to it
        declared = suite_declarations()
        runtime = Runtime("ro" if mode == "rw" else mode, folder, options=load_options(config))
        scope = plan_scope(config, Resolver(dataset_paths(config.getoption("dataset"))), claims_code())
        try:
            entries = [*EMBEDDERS.values(), *declared.entries.values()]
            print(embedder_table([runtime.stand_in(entry, scope) for entry in entries], declared))
            print("\n".join(["", *spec_form_lines()]))  # what --embedder takes besides these names
        finally:
            runtime.close()
        return 0
    if config.getoption("fill_cache_only"):
        if not config.getoption("embedder"):
            raise pytest.UsageError("--fill-cache-only fills the cache for the embedders it is given: add --embedder")
        if getattr(config.option, "numprocesses", None):
            raise pytest.UsageError("--fill-cache-only runs in one process (one model load per embedder): drop -n")
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "no":
        # with -n, the claims comparisons stay on one worker (their xdist_group mark): one claim run
        config.option.dist = "loadgroup"
    return None


def embedder_table(entries: list[EmbedderEntry], declared: Declarations) -> str:
    rows = [("name", "family", "parameters", "dim", "here")]
    for entry in entries:
        reason = entry.unavailable_reason()
        if isinstance(entry, CacheOnlyEntry) and entry.computation is not None:
            here = f"from the cache alone ({entry.computation.describe()}); weights: {entry.missing}"
        else:
            here = "available" if reason is None else f"unavailable: {reason}"
        if where := declared.where(entry.name):
            here = f"{where}; {here}"
        rows.append(
            (
                entry.name,
                str(entry.family),
                f"{entry.parameters / 1e6:,.0f}M" if entry.parameters else "?",
                str(entry.dimension or "?"),
                here,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)] + [0]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) for row in rows)


def pytest_configure(config: pytest.Config) -> None:
    mode, folder = cache_settings(config.getoption("embedding_cache"), config.getoption("embedding_cache_dir"))
    workerinput = getattr(config, "workerinput", None)
    shared = Shared.from_json(workerinput[SHARED]) if workerinput and SHARED in workerinput else None
    interactive = sys.__stderr__ is not None and sys.__stderr__.isatty() and workerinput is None
    declared = config.stash[DECLARED] = suite_declarations()
    runtime = Runtime(mode, folder, shared, options=load_options(config), interactive=interactive)
    resolver = config.stash[RESOLVER] = Resolver(dataset_paths(config.getoption("dataset")))
    code = config.stash[CLAIMS_CODE] = claims_code()  # hashed once per process, for the scope and the claims
    scope = plan_scope(config, resolver, code)
    # an xdist worker stands on the computations its controller chose (one may have been merged in meanwhile)
    chosen = json.loads(workerinput[STAND_INS]) if workerinput and STAND_INS in workerinput else None

    def here(entry: EmbedderEntry) -> EmbedderEntry:
        return runtime.stand_in(entry, scope, None if chosen is None else chosen.get(entry.name, ""))

    # every registered and declared embedder, as it can take part here: loaded, or standing on the vectors the
    # cache holds
    candidates = config.stash[CANDIDATES] = {
        name: here(entry) for name, entry in [*EMBEDDERS.items(), *declared.entries.items()]
    }
    # a candidate named with --embedder is that candidate (one entry per name, so a claim meets it once); a
    # FORM:ARGUMENT spec is an entry of its own
    selected = [candidates.get(entry.name) or here(entry) for group in config.getoption("embedder") for entry in group]
    named: dict[str, EmbedderEntry] = {}
    for entry in selected:
        other = named.setdefault(entry.name, entry)
        if other.summary != entry.summary:  # e.g. one model name served at two ports of one host
            raise pytest.UsageError(
                f"--embedder: {other.summary} and {entry.summary} are both {entry.name}, one embedder to the cache "
                "(an embedder is named by its served model and host, not the port): run them in separate sessions, "
                "each with its own --cache-dir"
            )
    if not selected:
        # the default session: what runs here; the rest is named once in the summary, not skipped test by test
        selected = [entry for entry in candidates.values() if entry.unavailable_reason() is None]
        config.stash[NOT_HERE] = [name for name in candidates if name not in {entry.name for entry in selected}]
    config.stash[SELECTED] = {entry.name: entry for entry in selected}
    session = EmbeddingSession(runtime, scope)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "embedding-claims-session")
    config.addinivalue_line("markers", "xdist_group(name): keep an embedder's tests on one xdist worker")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION, None)
    if session is not None:
        session.runtime.close()


def claims_path(config: pytest.Config) -> Path:
    """The session's claims file: --claims, else the suite's."""
    return config.getoption("claims", None) or CLAIMS_PATH


def claims_code() -> str:
    """The claims engine's and data loaders' code (all of evals/ and fixtures/): in the plan's scope and
    descriptions, and in the claims' result key."""
    return source_digest(EVALS, EVALS.parent / "fixtures")


def plan_scope(config: pytest.Config, resolver: Resolver, code: str) -> str:
    """What decides the inputs any session can ask of an embedder, whatever it selects: the evals' and claims' code
    and data loaders (``code``, see claims_code), the claims file, the open-vocabulary size and which datasets have a
    copy. Never a path, so a shard filled on another machine has the same scope."""
    parts = {
        "code": code,
        "claims": claims_path(config).read_text(),
        "open_vocabulary_size": config.getoption("open_vocabulary_size"),
        "datasets": sorted(name for name in DATASETS if resolver.locate(name) is not None),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _embedder_param(entry: EmbedderEntry, *values: object, ids: tuple[str, ...] = ()) -> object:
    reason = entry.unavailable_reason()
    marks = [pytest.mark.skip(reason=reason)] if reason else []
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
            for dataset in [name for name in names(Kind.ANALOGIES) if _wanted(metafunc.config, name)]:
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
            here = [name for name in names(kind) if _wanted(metafunc.config, name)]
            metafunc.parametrize(fixture, here, indirect=True)


def _wanted(config: pytest.Config, dataset: str) -> bool:
    """A dataset's tests are generated when it has a copy here, or when the user named it (``-k``, a node id, or
    ``--dataset``), so that they are skipped saying how to get it; the rest are one header line."""
    if config.stash[RESOLVER].locate(dataset) is not None:
        return True
    return dataset in (config.option.keyword or "") or any(dataset in arg for arg in config.args)


def pytest_report_header(config: pytest.Config) -> list[str]:
    declared = config.stash[DECLARED]
    # which file the session's own embedders came from, in its log
    lines = [f"embedders declared in {declared.source}: {', '.join(declared.entries)}"] if declared.entries else []
    if not any(Path(arg.split("::")[0]).resolve().is_relative_to(EVALS) for arg in config.args):
        return lines  # a session of the suite's own tests: no eval is generated from datasets
    kinds = set(DATASET_FIXTURES.values())
    missing = [name for name, entry in DATASETS.items() if entry.kind in kinds and not _wanted(config, name)]
    if not missing:
        return lines
    return [
        *lines,
        f"datasets without a copy here, so not run: {', '.join(missing)} (README's What is checked says how to get "
        "each; pass --dataset NAME=PATH, or name one with -k to see its tests skipped saying how)",
    ]


@pytest.fixture
def embedder(request: pytest.FixtureRequest) -> Embedder:
    entry = request.config.stash[SELECTED][request.param]
    try:
        return request.config.stash[SESSION].runtime.embedder(entry)
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


@pytest.fixture
def measure(pytestconfig: pytest.Config) -> Callable[..., Measurement]:
    """Run an evaluator, or take its measurement from the result cache when the same evaluator (same code) already
    ran on the same embedder (identity and fingerprint), the same dataset (sha256) and the same protocol."""
    session = pytestconfig.stash[SESSION]
    results = session.runtime.results

    def run(evaluate: Callable[..., Measurement], embedder: Embedder, dataset: Dataset, *args: object) -> Measurement:
        key = {
            "evaluator": f"{evaluate.__module__}.{evaluate.__qualname__}",
            # an error while finding the key space (a served model's check) fails the test, never a key without it
            "embedder": embedder.space if isinstance(embedder, CachedEmbedder) else embedder.info.fingerprint,
            "dataset": asdict(dataset.info),
            "protocol": [str(arg) for arg in args],
            "code": session.task_code,
        }
        try:
            record = results.get_or_compute("measurement", key, lambda: _storable(evaluate(embedder, dataset, *args)))
        except EmbedderUnavailable as error:  # on the cache alone, which lacks inputs no plan listed
            pytest.skip(str(error))
        measurement = _measurement(record, embedder.info, dataset.info)  # type: ignore[arg-type]
        measurement.computed = getattr(embedder, "computed", None)
        return measurement

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
    declared = pytestconfig.stash[DECLARED].entries
    return load_expectations(pytestconfig.getoption("expectations") or DEFAULT_PATH, declared)


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


@dataclass
class FillOnly:
    """What a --fill-cache-only session did: the embedders whose plans it filled, those it could not, how long."""

    filled: list[str]
    failed: list[str]
    seconds: float
    whole: bool  # every eval was collected, so the shard serves a session without the weights

    def summary(self, device: str) -> str:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux: the process's peak RSS
        failed = f"; not filled: {', '.join(self.failed)}" if self.failed else ""
        part = (
            ""
            if self.whole
            else "; a part of the evals only (-k, -m, --deselect, --ignore, --lf or a narrower path), so a session "
            "without these weights will not stand on this shard: fill with `pytest evals/` for that"
        )
        return (
            f"fill only: {', '.join(self.filled) or 'nothing planned'} in {self.seconds:.1f} s on {device}, peak RSS "
            f"{peak:.2f} GB{failed}{part}; no test ran (merge this cache with python -m runtime.merge)"
        )


class EmbeddingSession:
    """The session's embedding state, kept on the config (as pytest-xdist keeps its DSession): the runtime, the
    embedding plan, the measurement records and whether any eval ran."""

    def __init__(self, runtime: Runtime, scope: str) -> None:
        self.runtime = runtime
        self.scope = scope  # see plan_scope: a complete shard is recorded under it
        self.plan = EmbeddingPlan()
        self.records: list[MeasurementRecord] = []
        self.ran_evals = False
        # what filling the plan did, here (the runtime's own list, which a late fill in a test adds to too) and, on
        # the xdist controller, in every worker
        self.fill_reports: list[FillReport] = runtime.reports
        self.fill_only: FillOnly | None = None  # what --fill-cache-only did
        self.task_code = ""  # digest of the evals' code, from collection on
        self.modules: set[str] = set()  # the test modules collected, by node id
        self.deselected = 0  # tests collected, then deselected

    @pytest.hookimpl(optionalhook=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Each eval test's inputs, per embedder, into the plan (the claims plugin adds its comparisons')."""
        config = session.config
        selected, resolver = config.stash[SELECTED], config.stash[RESOLVER]
        root = Path(__file__).resolve().parent.parent
        # the evaluators' and data loaders' code (and this plugin's, which stores measurements): in the plan's
        # descriptions and in every measurement's result key
        self.task_code = code = source_digest(root / "evals" / "tasks", root / "fixtures", Path(__file__))
        open_size = config.getoption("open_vocabulary_size")
        for item in session.items:
            params = getattr(item, "callspec", None) and item.callspec.params
            if not params or "embedder" not in params or item.get_closest_marker("skip"):
                continue
            dataset = next((params[f] for f in DATASET_FIXTURES if f in params), None)
            if dataset is None:
                continue
            vocabulary = params.get("vocabulary")
            self.plan.add(
                selected[params["embedder"]],
                Need(
                    f"eval {dataset} {vocabulary} {open_size} {resolver!r} {code}",
                    lambda info, name=dataset, vocabulary=vocabulary: task_inputs(
                        resolver.load(name), vocabulary, open_size
                    ),
                ),
            )

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: object) -> None:
        # xdist controller: every worker uses this session's token and scratch store, and stands on the same
        # computations (by key) for the embedders whose weights are not here
        node.workerinput[SHARED] = self.runtime.shared.to_json()  # type: ignore[attr-defined]
        config: pytest.Config = node.config  # type: ignore[attr-defined]
        chosen = {
            entry.name: entry.computation.key
            for entry in [*config.stash[CANDIDATES].values(), *config.stash[SELECTED].values()]
            if isinstance(entry, CacheOnlyEntry) and entry.computation is not None
        }
        node.workerinput[STAND_INS] = json.dumps(chosen)  # type: ignore[attr-defined]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session):
        option = session.config.option
        collection_failed = session.testsfailed and not option.continue_on_collection_errors
        if not (option.collectonly or option.setupplan or option.setuponly or collection_failed):
            if option.fill_cache_only:
                self._fill_only(session)  # an empty plan too: it says which embedders it could not fill
            elif self.plan.entries:
                self.runtime.fill(self.plan)
        yield
        if option.fill_cache_only and self.fill_only is not None:
            # the exit status: 1 when a named embedder's plan could not be filled (set after the loop, which would
            # read failures before it as collection errors)
            session.testsfailed += len(self.fill_only.failed)

    def _fill_only(self, session: pytest.Session) -> None:
        """Fill the named embedders' plans (what this session's tests and claims would ask of them; the other
        embedders their comparisons meet are left out), then let the test loop find nothing to run."""
        selected = session.config.stash[SELECTED]
        plan = EmbeddingPlan(
            {name: entry for name, entry in self.plan.entries.items() if name in selected},
            {name: needs for name, needs in self.plan.needs.items() if name in selected},
        )
        started = time.perf_counter()
        self.runtime.fill(plan)
        failed = {r.name for r in self.fill_reports if r.skipped or r.unlisted}
        for name, entry in selected.items():
            if name not in plan.entries:  # unavailable here, or none of the session's tests and claims need it
                failed.add(f"{name} ({entry.unavailable_reason() or 'nothing in this session needs it'})")
        # a shard of every eval (and, from the claims plugin, of every claim its embedders can take part in) is
        # complete for any session of the same scope: one without the weights may stand on it
        whole = self._whole_evals(session.config)
        if whole:
            attempted = {report.name for report in self.fill_reports}
            for name in plan.entries:
                if name in attempted and name not in failed:
                    self.runtime.mark_complete(plan.entries[name], self.scope)
        self.fill_only = FillOnly(sorted(plan.entries), sorted(failed), time.perf_counter() - started, whole)
        self.ran_evals = True  # the embeddings section says what was filled
        session.items[:] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.passed and report.nodeid.endswith(".py"):
            self.modules.add(report.nodeid)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def _whole_evals(self, config: pytest.Config) -> bool:
        """Whether the session collected every eval module and deselected nothing (-k, -m, --deselect, --lf): what
        a fill-only session must have done to fill a complete shard. Modules are counted, not tests, so a module
        with no test for these embedders still counts as collected."""
        every = {f"{EVALS.name}/{path.name}" for path in EVALS.glob("test_*.py")}
        return not self.deselected and self.modules >= every and all("::" not in arg for arg in config.args)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None):
        yield
        # a model loaded outside the plan (a test asked for what no plan listed) is let go after its test: held
        # on, it would keep other workers waiting on its lock
        self.runtime.pool.release()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # runs on the xdist controller too, which is where the summary is written
        self.ran_evals = self.ran_evals or report.nodeid.startswith("evals/")
        if report.when == "call":
            self.records.extend(measurements_of(report))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.runtime.pool.release()
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: its embedding counts travel to the controller
            workeroutput["embedding_usage"] = json.dumps({n: asdict(u) for n, u in self.runtime.pool.usage.items()})
            failed = [asdict(report) for report in self.fill_reports if report.skipped or report.unlisted]
            workeroutput["embedding_fill"] = json.dumps(failed)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: object, error: object) -> None:
        raw = getattr(node, "workeroutput", {}).get("embedding_usage")
        for name, counts in json.loads(raw or "{}").items():
            self.runtime.pool.usage_of(name).add(Usage(**counts))
        raw = getattr(node, "workeroutput", {}).get("embedding_fill")
        self.fill_reports.extend(FillReport(**report) for report in json.loads(raw or "[]"))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        if self.ran_evals:
            terminalreporter.section("embeddings")
            terminalreporter.write_line(f"embedding cache: {self.runtime.describe()}")
            for line in usage_lines(self.runtime.pool.usage) + fill_failure_lines(self.fill_reports):
                terminalreporter.write_line(line)
            unfilled = {report.name for report in self.fill_reports if report.skipped}  # said above, with why
            for entry in config.stash[SELECTED].values():
                if isinstance(entry, CacheOnlyEntry) and entry.computation is not None and entry.name not in unfilled:
                    terminalreporter.write_line(
                        f"{entry.name} took part from the cache alone ({entry.missing}): {entry.computation.describe()}"
                    )
            if self.fill_only is not None:
                device = self.runtime.options.device  # under auto, each model's placement is in its record
                described = device if device == "auto" else describe_device(device)
                terminalreporter.write_line(self.fill_only.summary(described))
        not_here = config.stash.get(NOT_HERE, [])
        if not_here and self.ran_evals:
            terminalreporter.write_line(
                f"embedders not available here, so not run: {', '.join(not_here)} (pytest --list-embedders says "
                "how to get each; name one with --embedder to see its tests skipped with the reason)"
            )
        if not self.records:
            return
        terminalreporter.section("measurements")
        for record in sorted(self.records, key=lambda r: (r.embedder.name, r.check)):
            for line in summary_lines(record):
                terminalreporter.write_line(line)


def fill_failure_lines(reports: list[FillReport]) -> list[str]:
    """What the plan could not do, said once (a failure that does not recur, such as a refused request, would
    otherwise be seen by no test)."""
    lines = []
    for report in sorted(reports, key=lambda r: r.name):
        if report.skipped:
            lines.append(f"{report.name}: its plan was not filled: {report.skipped}")
        lines.extend(f"{report.name}: a need could not list its inputs: {need}" for need in report.unlisted)
    return lines


def usage_lines(counts: dict[str, Usage]) -> list[str]:
    """One line per embedder: inputs the plan listed, from the store or computed, inputs outside the plan, model
    loads and seconds."""
    lines = [usage.line(name) for name, usage in sorted(counts.items())]
    calls = sum(u.model_calls for u in counts.values())
    lines.append(f"model forward calls in this session: {calls}")
    return lines
