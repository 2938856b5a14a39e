"""pytest side of the ledger and dashboard: records arrive at the controller as test reports and are appended
to the session's ledger at once; the terminal's claims tables and the dashboard are made from the same records."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evals.records import ClaimRecord, EmbedderRecord, MeasurementRecord
from harness.options import path_option, writable_folder
from harness.plugin import DECLARED, claims_path
from harness.report import claims_of, measurements_of
from ledger.file import (
    LEDGER_FORMAT,
    Ledger,
    LedgerError,
    LedgerWriter,
    clean,
    environment,
    ledgers_in,
    read_ledger,
)
from ledger.summary import claim_lines, claims_table, paper_lines, scale_table


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedding-claims")
    group.addoption(
        "--ledger-dir",
        type=writable_folder("--ledger-dir"),
        default=Path("reports/ledger"),
        metavar="DIR",
        help="write this session's ledger (environment, every measurement and claim verdict, one JSON record "
        "a line, each written as its test ends) to DIR/<UTC start>-<commit>.jsonl (default: reports/ledger, "
        "relative to the suite's root)",
    )
    group.addoption("--no-ledger", action="store_true", default=False, help="write no ledger for this session")
    group.addoption(
        "--claims-report",
        type=writable_folder("--claims-report"),
        default=None,
        metavar="DIR",
        help="at the end of the session, write a self-contained HTML dashboard to DIR/index.html (claims matrix, "
        "intervals, D1 distributions, scale plots, history from --claims-history)",
    )
    group.addoption(
        "--claims-history",
        type=path_option("--claims-history"),
        default=None,
        metavar="DIR",
        help="folder of earlier ledgers for the dashboard's history (default: the --ledger-dir folder)",
    )


class LedgerRecorder:
    """Lives on the controller (or the only process): workers' records reach it through pytest_runtest_logreport."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = time.time()
        self.writer: LedgerWriter | None = None
        self.path: Path | None = None  # this session's ledger, also after a failed write stopped the writer
        self.records: list[dict] = []  # what the ledger holds, also when none is written (--no-ledger)
        self.measurements: list[MeasurementRecord] = []
        self.claims: list[ClaimRecord] = []
        self.fingerprints: set[str] = set()
        self.outcomes: dict[str, str] = {}
        self.dashboard: Path | None = None
        self.written = 0
        self.problems: list[str] = []  # what could not be written (full disk, folder gone): said, and fails the run

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.claims:
            terminalreporter.section("claims")
            for line in [*paper_lines(self.claims), *claim_lines(self.claims), *claims_table(self.claims)]:
                terminalreporter.write_line(line)
            scale = scale_table(self.claims)
            if scale:
                terminalreporter.section("scale: metric vs LLM size")
                for line in scale:
                    terminalreporter.write_line(line)
        if self.writer is not None:
            terminalreporter.write_line(f"ledger: {self.writer.path}")
        if self.dashboard is not None:
            terminalreporter.write_line(f"dashboard: {self.dashboard / 'index.html'}")
        for problem in self.problems:
            terminalreporter.write_line(problem, red=True, bold=True)

    @property
    def folder(self) -> Path | None:
        if self.config.getoption("no_ledger") or self.config.getoption("fill_cache_only"):
            return None  # a fill-only session measures nothing: a ledger of it would be an empty session
        folder: Path = self.config.getoption("ledger_dir")
        return folder if folder.is_absolute() else self.config.rootpath / folder

    def open(self) -> None:
        if self.records:
            return
        header = session_header(self.config, self.started)
        self.records.append(header)
        if self.folder is None:
            return
        commit = (header["environment"]["suite"]["commit"] or "nogit")[:7]  # type: ignore[index]
        stamp = datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%dT%H%M%SZ")
        path = self.folder / f"{stamp}-{commit}.jsonl"
        while path.exists():  # two sessions in one second: never append to another session's ledger
            path = path.with_name(path.stem + "-1.jsonl")
        try:
            self.writer = LedgerWriter(path)
        except OSError as error:
            self.problems.append(f"ledger NOT written: cannot create {path}: {error}")
            return
        self.path = path
        self._append(header)

    def write(self, record: dict) -> None:
        self.records.append(clean(record))  # as the file holds it: NaN as null, for the dashboard built in-session
        self._append(record)

    def _append(self, record: dict) -> None:
        """A failed write (disk full, folder removed) stops the ledger there: the lines before it stay complete."""
        if self.writer is None:
            return
        try:
            self.writer.write(record)
            self.written += 1
        except OSError as error:
            self.problems.append(
                f"ledger INCOMPLETE: writing {self.writer.path} failed ({error}); it holds the first {self.written} "
                "records of this session and no footer"
            )
            with contextlib.suppress(OSError):
                self.writer.close()
            self.writer = None
            if self.written == 0:  # not even the header: leave no empty ledger for later dashboards to read
                with contextlib.suppress(OSError):
                    self.path.unlink()  # type: ignore[union-attr]

    def embedder_seen(self, embedder: EmbedderRecord) -> None:
        if embedder.fingerprint and embedder.fingerprint not in self.fingerprints:
            self.fingerprints.add(embedder.fingerprint)
            self.write({"record": "embedder", **embedder.to_json()})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid.startswith("evals/"):
            self.open()
        claims = claims_of(report) if report.when == "call" else []  # parsed once, for the outcome and the ledger
        outcome = _outcome(report, claims)
        if outcome:
            self.outcomes[report.nodeid] = outcome
        if report.when != "call":
            return
        for measurement in measurements_of(report):
            self.embedder_seen(measurement.embedder)
            measurement = measurement.with_test(report.nodeid, outcome)
            self.measurements.append(measurement)
            self.write({"record": "measurement", **measurement.to_json()})
        for claim in claims:
            for embedder in claim.embedders:
                self.embedder_seen(embedder)
            claim = claim.with_test(report.nodeid, outcome)
            self.claims.append(claim)
            self.write({"record": "claim", **claim.to_json()})

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.records:
            families = {c.correction_family.id: c.correction_family for c in self.claims}
            agreement = Counter(c.agreement for c in self.claims if c.agreement)
            self.write(
                {
                    "record": "footer",
                    "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                    "duration_s": round(time.time() - self.started, 1),
                    "exit_status": int(exitstatus),
                    "tests": dict(Counter(self.outcomes.values())),
                    "measurements": len(self.measurements),
                    "claims": len(self.claims),
                    "correction_families": {
                        f.id: {"size": f.size, "in_session": f.in_session} for f in families.values()
                    },
                    "paper_agreement": dict(agreement),
                }
            )
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError as error:
                self.problems.append(f"ledger INCOMPLETE: closing {self.writer.path} failed ({error})")
        target = self.config.getoption("claims_report")
        if target is not None and self.records:
            try:
                self.dashboard = self.build_dashboard(target)
            except OSError as error:
                self.problems.append(f"dashboard NOT written to {target}: {error}")
        if self.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a nightly run that lost its record is not green

    def build_dashboard(self, target: Path) -> Path:
        from ledger.dashboard import build_dashboard

        path = self.path or Path("(no ledger written).jsonl")
        current = Ledger(path, list(self.records))
        history = self.config.getoption("claims_history") or self.folder
        own = path.resolve()
        earlier = [_readable(p) for p in ledgers_in(history) if p.resolve() != own] if history else []
        return build_dashboard(current, earlier, target)


def _readable(path: Path) -> Ledger:
    """An unreadable earlier ledger is named on the dashboard rather than costing the session its dashboard."""
    try:
        return read_ledger(path)
    except (OSError, LedgerError) as error:
        return Ledger(path, problems=[f"left out of the history: {error}"])


def _outcome(report: pytest.TestReport, claims: list[ClaimRecord]) -> str | None:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "inconclusive" if claims else "xfailed"
        if report.passed and claims and claims[0].deviated:
            return "deviated"
        return report.outcome
    if report.outcome == "skipped":
        return "skipped"
    if report.outcome == "failed":
        return "error"
    return None


def session_header(config: pytest.Config, started: float) -> dict[str, object]:
    from harness.claims_plugin import session_claims

    claims = claims_path(config)
    try:
        settings: dict[str, object] | str = asdict(session_claims(config)[0])
    except ValueError as error:
        settings = f"unreadable: {error}"
    declared = config.stash[DECLARED]
    options = {
        "embedder": [e.name for group in config.getoption("embedder") for e in group],
        "dataset": {name: str(path) for name, path in config.getoption("dataset")},
        "oov_policy": config.getoption("oov_policy"),
        "open_vocabulary_size": config.getoption("open_vocabulary_size"),
        "device": config.getoption("device"),
        "dtype": config.getoption("dtype"),
        "expectations": config.getoption("expectations"),
        "claims": str(claims),
        "keyword": config.getoption("keyword") or None,
        "markexpr": config.getoption("markexpr") or None,
        "numprocesses": getattr(config.option, "numprocesses", None),
        "trust_remote_code": config.getoption("trust_remote_code"),
        "cache": config.getoption("embedding_cache"),
    }
    return {
        "record": "session",
        "format": LEDGER_FORMAT,
        "started": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "arguments": list(config.invocation_params.args),
        "options": options,
        "claims_settings": settings,
        # the embedders the session's names may refer to besides the registered ones, as declared
        "declarations": {
            "file": str(declared.source) if declared.source else None,
            "embedders": [asdict(e.declaration) for e in declared.entries.values() if e.declaration],
        },
        "environment": environment(),
    }


RECORDER = pytest.StashKey[LedgerRecorder]()


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # xdist workers only report; the controller writes
        recorder = LedgerRecorder(config)
        config.stash[RECORDER] = recorder
        config.pluginmanager.register(recorder, "embedding-claims-ledger")
