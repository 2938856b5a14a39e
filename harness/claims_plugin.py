"""pytest side of the claims engine: one test per comparison, verdicts as outcomes, a claims summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from embedders import EMBEDDERS
from evals.claims.run import ClaimRun
from evals.claims.spec import CLAIMS_PATH, ClaimsFileError, ComparisonSpec, comparisons, load_claims
from evals.claims.stats import Verdict
from harness.loading import cached_result, load_embedder, release_embedder, source_digest, space_of
from harness.options import readable_file
from harness.plugin import SELECTED
from harness.report import records_of

PROPERTY = "claim"
SPECS = pytest.StashKey[list[ComparisonSpec]]()
DEFAULT_FAMILY = pytest.StashKey[set[str]]()  # the comparisons of a default session (`pytest evals/`) here
SUBSET = pytest.StashKey[bool]()  # some of those were left out (-k, --embedder, node ids): a smaller Holm family
SUBSET_NOTE = (
    "this session corrects over {size} comparisons and leaves out some of the default session's (`pytest "
    "evals/`), on whose larger Holm family the expected verdicts were recorded; a comparison near the threshold "
    "can be decided differently here"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedding-claims")
    group.addoption(
        "--claims",
        type=readable_file("--claims", load_claims, ClaimsFileError),
        default=None,
        metavar="TOML",
        help="claims file (default: evals/claims.toml)",
    )


def _claims_path(config: pytest.Config) -> Path:
    return config.getoption("claims") or CLAIMS_PATH


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "claim_comparison" not in metafunc.fixturenames:
        return
    config = metafunc.config
    _, claims = load_claims(_claims_path(config))
    selected = config.stash[SELECTED]
    explicit = bool(config.getoption("embedder"))
    available = [e for e in EMBEDDERS.values() if e.unavailable_reason() is None]
    candidates = list(selected.values())
    candidates += [e for e in available if e not in candidates]
    config.stash[DEFAULT_FAMILY] = {spec.id for claim in claims for spec in comparisons(claim, available, None)}
    params = []
    for claim in claims:
        for spec in comparisons(claim, candidates, set(selected) if explicit else None):
            marks = [pytest.mark.xdist_group("claims")]
            reasons = [r for e in spec.entries if (r := e.unavailable_reason())]
            if reasons:
                marks.append(pytest.mark.skip(reason="; ".join(reasons)))
            test_id = f"{claim.id} {claim.metric}: {spec.name}"
            params.append(pytest.param(spec, id=test_id, marks=marks))
    metafunc.parametrize("claim_comparison", params)


def pytest_collection_finish(session: pytest.Session) -> None:
    specs = []
    for item in session.items:
        spec = getattr(item, "callspec", None) and item.callspec.params.get("claim_comparison")
        if spec is not None and not item.get_closest_marker("skip"):
            specs.append(spec)
    session.config.stash[SPECS] = specs
    if specs:
        session.config.stash[SUBSET] = not session.config.stash[DEFAULT_FAMILY] <= {spec.id for spec in specs}


@pytest.fixture(scope="session")
def claim_run(pytestconfig: pytest.Config) -> ClaimRun:
    settings, _ = load_claims(_claims_path(pytestconfig))
    settings = replace(settings, datasets=tuple(pytestconfig.getoption("dataset")))
    return ClaimRun(settings, pytestconfig.stash[SPECS], load_embedder, release_embedder)


@pytest.fixture(scope="session")
def claim_records(pytestconfig: pytest.Config, claim_run: ClaimRun) -> dict[str, dict]:
    """Every comparison's record, from the result cache when nothing it depends on changed: the same comparisons
    (Holm's correction spans them all), each embedder's cache key space, the claims file and settings, the code of
    the engine and the data loaders, and the packages the data come from."""
    specs = claim_run.specs
    root = Path(__file__).resolve().parent.parent
    key = {
        "comparisons": [spec.id for spec in specs],
        "embedders": {entry.name: space_of(entry) for spec in specs for entry in spec.entries},
        "claims": _claims_path(pytestconfig).read_text(),
        "settings": repr(claim_run.settings),
        "code": source_digest(root / "evals", root / "fixtures"),
        "packages": [_version(name) for name in ("gensim", "wordnet-lookup", "numpy", "scipy", "scikit-learn")],
    }

    def compute() -> dict[str, dict]:
        return {spec.id: claim_run.outcome(spec.id).as_record(claim_run.settings) for spec in specs}

    return cached_result("claims", key, compute)  # type: ignore[return-value]


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return f"{name} not installed"


@pytest.fixture
def judge_claim(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config, claim_records: dict[str, dict]
) -> Callable[[ComparisonSpec], None]:
    """Pass when the observed verdict is the expected one; refuted-when-confirmed-expected fails;
    an inconclusive result that was not expected is reported as INCONCLUSIVE (neither pass nor fail)."""

    def judge(spec: ComparisonSpec) -> None:
        record = claim_records[spec.id]
        if record["skipped"]:
            pytest.skip(record["skipped"])
        request.node.user_properties.append((PROPERTY, json.dumps(record, default=str)))
        request.node.user_properties.extend(junit_properties(record))
        observed, expected = Verdict(record["verdict"]), Verdict(record["expected"])
        if observed == expected:
            return
        detail = _detail(record)
        if pytestconfig.stash.get(SUBSET, False):
            detail += "\n" + SUBSET_NOTE.format(size=record["statistics"]["family_size"])
        if observed is Verdict.INCONCLUSIVE:
            pytest.xfail(f"INCONCLUSIVE (expected {expected}): {detail}")
        pytest.fail(f"{observed.upper()} (expected {expected}): {detail}\n{_protocol(record)}", pytrace=False)

    return judge


def junit_properties(record: dict) -> list[tuple[str, str]]:
    """What a CI system reading JUnit XML shows per test (pytest.ini's junit_family = xunit1 keeps them valid)."""
    return [
        ("verdict", record["verdict"]),
        ("expected_verdict", record["expected"]),
        ("effect", f"{record['effect']:+.6f}"),
        ("interval", f"[{record['low']:+.6f}, {record['high']:+.6f}]"),
        ("holm_p", f"{record['adjusted_p']:.6g}"),
    ]


def _detail(record: dict) -> str:
    return (
        f"{record['claim']} {record['comparison']}: effect {record['effect']:+.4f} "
        f"[{record['low']:+.4f}, {record['high']:+.4f}] vs margin {record['margin']:+.2f}, "
        f"Holm p {record['adjusted_p']:.4f} over {record['items']} items"
    )


def _protocol(record: dict) -> str:
    sides = {
        side: {"score": record[side].get("score"), "protocol": record[side].get("protocol")}
        for side in ("subject", "reference")
    }
    return json.dumps(
        {
            "statement": record["statement"],
            "sides": sides,
            "dataset": record.get("dataset"),
            "statistics": record["statistics"],
        },
        default=str,
    )


def _claim_record(report: pytest.TestReport) -> dict | None:
    records = records_of(report, PROPERTY)
    return records[0] if records else None


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    record = _claim_record(report)
    if record and report.when == "call" and hasattr(report, "wasxfail") and record.get("verdict") == "inconclusive":
        return "inconclusive", "?", "INCONCLUSIVE"
    return None
