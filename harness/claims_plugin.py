"""pytest side of the claims engine: one test per comparison, verdicts as outcomes, a claims summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from embedders import EMBEDDERS
from evals.claims.run import ClaimRun
from evals.claims.spec import CLAIMS_PATH, ComparisonSpec, comparisons, load_claims
from evals.claims.stats import Verdict
from harness.loading import load_embedder, release_embedder
from harness.plugin import SELECTED
from harness.report import records_of

PROPERTY = "claim"
SPECS = pytest.StashKey[list[ComparisonSpec]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedding-claims")
    group.addoption(
        "--claims", type=Path, default=None, metavar="TOML", help="claims file (default: evals/claims.toml)"
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
    candidates = list(selected.values())
    candidates += [e for e in EMBEDDERS.values() if e not in candidates and e.unavailable_reason() is None]
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


@pytest.fixture(scope="session")
def claim_run(pytestconfig: pytest.Config) -> ClaimRun:
    settings, _ = load_claims(_claims_path(pytestconfig))
    return ClaimRun(settings, pytestconfig.stash[SPECS], load_embedder, release_embedder)


@pytest.fixture
def judge_claim(request: pytest.FixtureRequest, claim_run: ClaimRun) -> Callable[[ComparisonSpec], None]:
    """Pass when the observed verdict is the expected one; refuted-when-confirmed-expected fails;
    an inconclusive result that was not expected is reported as INCONCLUSIVE (neither pass nor fail)."""

    def judge(spec: ComparisonSpec) -> None:
        outcome = claim_run.outcome(spec.id)
        if outcome.skipped:
            pytest.skip(outcome.skipped)
        record = outcome.as_record(claim_run.settings)
        request.node.user_properties.append((PROPERTY, json.dumps(record, default=str)))
        request.node.user_properties.extend(junit_properties(record))
        observed, expected = outcome.verdict, Verdict(record["expected"])
        if observed == expected:
            return
        detail = _detail(record)
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
