"""The ledger: one append-only JSON Lines file per session, so a nightly job keeps every number it produced.

Each record is one line, flushed and fsynced as soon as it is written: a session killed half-way leaves a file
that reads up to its last complete record. Only the xdist controller (or the only process) writes it.

Each line's ``record`` field names what it is: ``session`` (the header, always the first line: environment,
settings, options, ``format``), ``embedder`` (a fingerprint, the first time it is seen), ``measurement``,
``claim``, ``footer`` (counts and duration). A measurement or claim line is the JSON of its typed record
(evals/records.py) with ``record`` added.

Format 3 (this one) renamed that field from ``kind`` to ``record``. Which name a file uses is decided once per
file, by the ``format`` of its first line, the session header (absent: format 1, as the dashboard reads it):
format 1 and 2 ledgers name it ``kind`` on every line and read with it renamed to ``record``; format 3 ledgers
name it ``record``. A line without its format's field is an error naming the line; a line is never read by
guessing from which of the two fields it happens to carry. A format newer than this suite's is refused. Format 1
ledgers, whose claims had one Holm family per session, still read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from embedders.versions import version_of
from evals.records import ClaimRecord, MeasurementRecord

LEDGER_FORMAT = 3
OLD_FIELD_FORMATS = (1, 2)  # ledger formats whose lines name their record type ``kind``
SUITE_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "transformers", "sentence-transformers", "gensim", "numpy", "scipy", "scikit-learn", "pytest")


def clean(value: object) -> object:
    """JSON without NaN or Infinity (they are not JSON, and browsers' and jq's parsers reject them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


class LedgerWriter:
    """Appends records to one file; each write is durable before the next test's report is handled."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # O_APPEND: every write lands at the end, whatever else holds the file open
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, record: dict[str, object]) -> None:
        """The whole line, or (disk full, file size limit) nothing: a partial line is cut off again, then raised."""
        data = (json.dumps(clean(record), sort_keys=True, allow_nan=False) + "\n").encode()
        before = os.fstat(self._fd).st_size
        try:
            while data:
                written = os.write(self._fd, data)
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                data = data[written:]
            os.fsync(self._fd)
        except BaseException:  # disk full, or interrupted mid-line: never leave a cut line before the next one
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class Ledger:
    path: Path
    records: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. a truncated last line

    def of_record(self, record: str) -> list[dict]:
        """The lines of one record type (``session``, ``embedder``, ``measurement``, ``claim``, ``footer``)."""
        return [r for r in self.records if r.get("record") == record]

    def claims(self) -> list[ClaimRecord]:
        return self._typed("claim", ClaimRecord)

    def measurements(self) -> list[MeasurementRecord]:
        return self._typed("measurement", MeasurementRecord)

    def _typed(self, name: str, record_type: type) -> list:
        typed = []
        for number, record in enumerate(self.of_record(name), start=1):
            try:
                typed.append(record_type.from_json(record))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise LedgerError(f"{self.path}: {name} record #{number} is not one: {error!r}") from None
        return typed

    @property
    def header(self) -> dict:
        sessions = self.of_record("session")
        return sessions[0] if sessions else {}

    @property
    def footer(self) -> dict | None:
        footers = self.of_record("footer")
        return footers[-1] if footers else None

    @property
    def started(self) -> str:
        return str(self.header.get("started", self.path.stem))


class LedgerError(ValueError):
    pass


def read_ledger(path: Path) -> Ledger:
    """Every complete record; a last line cut short by a killed writer is reported in ``problems``, not fatal.
    A malformed line anywhere else means the file is not a ledger, which is an error naming the line."""
    ledger = Ledger(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    complete_end = text.endswith("\n")
    ledger_format: int | None = None  # the first line's, once read
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines) and not complete_end:
                ledger.problems.append(f"{path}:{number}: last record incomplete (writer stopped mid-line), ignored")
                continue
            raise LedgerError(f"{path}:{number}: not a JSON record: {error}") from None
        if not isinstance(record, dict):
            raise LedgerError(f"{path}:{number}: a ledger record is a JSON object with a 'record'")
        if ledger_format is None:
            ledger_format = _format_of(record, f"{path}:{number}")
        if ledger_format in OLD_FIELD_FORMATS:
            if "kind" not in record:
                raise LedgerError(
                    f"{path}:{number}: a record of a format {ledger_format} ledger is a JSON object with a 'kind' "
                    "(format 3 and later: a 'record')"
                )
            record["record"] = record.pop("kind")
        elif "record" not in record:
            raise LedgerError(f"{path}:{number}: a ledger record is a JSON object with a 'record'")
        ledger.records.append(record)
    if ledger.records and ledger.footer is None:
        ledger.problems.append(f"{path}: no footer: the session did not finish (killed or still running)")
    return ledger


def _format_of(header: dict, where: str) -> int:
    """The ledger format its first line, the session header, declares: absent is format 1."""
    value = header.get("format", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LEDGER_FORMAT:
        raise LedgerError(f"{where}: format = {value!r}: a ledger format is an integer from 1 to {LEDGER_FORMAT}")
    return value


def ledgers_in(folder: Path) -> list[Path]:
    """Ledger files of a folder, oldest first (their names start with the UTC start time)."""
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def package_versions() -> dict[str, str | None]:
    return {name: version_of(name) for name in PACKAGES}


def git_state(root: Path = SUITE_ROOT) -> dict[str, object]:
    """The suite's commit and whether its tracked files differ from it; None when not a git checkout."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def machine() -> dict[str, object]:
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "memory_bytes": memory,
    }


def environment() -> dict[str, object]:
    """What the numbers depend on besides the embedders and data. Deliberately not os.environ: it can hold
    API keys (OPENAI_API_KEY ...), which must never be written anywhere."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "packages": package_versions(),
        "suite": git_state(),
        "machine": machine(),
        "hf_hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    }
