"""Merge embedding caches filled elsewhere (shards) into one.

    python -m runtime.merge OUT SHARD [SHARD ...]

OUT and each SHARD are cache folders holding ``embeddings.sqlite3``; OUT is made if missing. Every row of every
shard is checked against its checksum: a damaged row is reported and not copied. A row whose key OUT lacks is
copied; one OUT holds with the same bytes is counted as already there; one OUT holds with other bytes is a
conflict, reported, and OUT's row is kept. Rows are copied in transactions of ``BATCH`` rows, so a merge killed at
any moment leaves OUT consistent (whole batches only) and a rerun finishes the job. Shards are never written to.

Exit status: 0 when every row was copied or already there; 1 when a shard had damaged rows, conflicting rows
or could not be read (the rest is merged all the same), or OUT could not be written; 2 on bad usage (a shard
folder without the database, OUT being one of the shards), with a message naming the path.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from runtime.store import (
    DATABASE,
    computation_row_intact,
    connect_writable,
    info_row_intact,
    result_row_intact,
    vector_row_intact,
)

BATCH = 2000  # rows per transaction: small enough that a kill loses little, large enough to be fast
LISTED = 20  # damaged or conflicting rows listed one by one per shard; the rest are counted


class WriteError(Exception):
    """OUT could not be written (full disk, locked past the timeout, not a database): the merge stops."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]  # the key first
    intact: Callable[..., bool]
    # whether a shard's row says what OUT's row under the same key says (else a conflict): the same bytes, but for
    # a computation record, which may differ in when its machine first wrote it
    same: Callable[[tuple, tuple], bool] = lambda held, row: tuple(held) == tuple(row)
    required: bool = True  # False: a shard written before the table existed lacks it


def same_computation(held: tuple, row: tuple) -> bool:
    def without_time(record: tuple) -> tuple:
        data = json.loads(record[3])
        data.pop("written", None)
        return (*record[:3], data)

    return tuple(held) == tuple(row) or without_time(held) == without_time(row)


TABLES = (
    Table("infos", ("identity", "info", "checksum"), info_row_intact),
    Table(
        "computations",
        ("key", "identity", "recipe", "record", "checksum"),
        computation_row_intact,
        same_computation,
        required=False,
    ),
    Table("vectors", ("key", "found", "vector", "checksum"), vector_row_intact),
    Table("results", ("key", "payload", "checksum"), result_row_intact),
)


@dataclass
class ShardReport:
    shard: Path
    read: int = 0
    copied: int = 0
    already: int = 0
    conflicts: int = 0
    damaged: int = 0
    unreadable: str | None = None  # why reading the shard stopped, if it did
    problems: list[str] = field(default_factory=list)  # the first LISTED damaged or conflicting rows

    @property
    def clean(self) -> bool:
        return not (self.conflicts or self.damaged or self.unreadable)

    def note(self, problem: str) -> None:
        if len(self.problems) < LISTED:
            self.problems.append(problem)

    def summary(self) -> str:
        line = (
            f"{self.shard}: {self.read} rows read, {self.copied} copied, {self.already} already there, "
            f"{self.conflicts} conflicts, {self.damaged} damaged"
        )
        listed = [f"  {problem}" for problem in self.problems]
        unlisted = self.conflicts + self.damaged - len(self.problems)
        if unlisted > 0:
            listed.append(f"  ... and {unlisted} more not listed")
        if self.unreadable:
            listed.append(f"  reading stopped: {self.unreadable}")
        return "\n".join([line, *listed])


def key_prefix(key: object) -> str:
    if isinstance(key, bytes):
        return key.hex()[:16]
    return str(key)[:16]


@contextmanager
def open_shard(folder: Path) -> Iterator[sqlite3.Connection]:
    """The shard's database, read without writing anything into its folder. A shard left by a clean close is one
    file, opened immutable. One with a write-ahead log (its writer was killed, or the log travelled with it) holds
    committed rows only in that log, which an immutable open would ignore and a read-only one would need a shared
    memory file beside it for: it is read from a copy of both files, which SQLite recovers in the copy."""
    database = folder / DATABASE
    log = Path(f"{database}-wal")
    if not (log.is_file() and log.stat().st_size > 0):
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            yield connection
        finally:
            connection.close()
        return
    with tempfile.TemporaryDirectory(prefix="embedding-claims-merge-") as scratch:
        copy = Path(scratch) / DATABASE
        shutil.copyfile(database, copy)
        shutil.copyfile(log, f"{copy}-wal")
        connection = sqlite3.connect(copy)
        try:
            yield connection
        finally:
            connection.close()


def merge_shard(out: sqlite3.Connection, shard: Path) -> ShardReport:
    report = ShardReport(shard)
    try:
        with open_shard(shard) as source:
            for table in TABLES:
                if table.name == "results" and not report.clean:
                    # a shard's results include its plan's "done" markers: with vectors missing, OUT must not say
                    # the plan is done (the session would skip the fill and compute per test, or fail without weights)
                    report.note("results not copied: this shard has damaged or conflicting rows; fix and rerun")
                    continue
                merge_table(out, source, table, report)
    except (sqlite3.Error, OSError) as error:
        report.unreadable = f"{type(error).__name__}: {error}"
    return report


def merge_table(out: sqlite3.Connection, source: sqlite3.Connection, table: Table, report: ShardReport) -> None:
    names = ", ".join(table.columns)
    if not table.required:
        held = source.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,))
        if held.fetchone() is None:
            return
    cursor = source.execute(f"SELECT {names} FROM {table.name}")
    while rows := cursor.fetchmany(BATCH):
        report.read += len(rows)
        intact = []
        for row in rows:
            if table.intact(*row):
                intact.append(row)
            else:
                report.damaged += 1
                report.note(f"damaged: {table.name} {key_prefix(row[0])} (fails its checksum; not copied)")
        if not intact:
            continue
        try:
            copy_batch(out, table, intact, report)
        except sqlite3.Error as error:
            raise WriteError(f"writing {table.name}: {error}") from error


def copy_batch(out: sqlite3.Connection, table: Table, intact: list, report: ShardReport) -> None:
    key, names = table.columns[0], ", ".join(table.columns)
    # The lookup and the copy in one write transaction: a session writing OUT meanwhile cannot slip a row in
    # between, and a kill leaves this batch wholly copied or not at all.
    with out:
        out.execute("BEGIN IMMEDIATE")
        marks = ",".join("?" * len(intact))
        stored = {
            row[0]: row
            for row in out.execute(
                f"SELECT {names} FROM {table.name} WHERE {key} IN ({marks})", [row[0] for row in intact]
            )
        }
        new = []
        for row in intact:
            held = stored.get(row[0])
            if held is None:
                new.append(row)
            elif table.intact(*held) and table.same(held, row):
                report.already += 1
            else:
                report.conflicts += 1
                damaged = "" if table.intact(*held) else "; the stored row fails its checksum: delete it and rerun"
                report.note(
                    f"conflict: {table.name} {key_prefix(row[0])} (other bytes than OUT's; kept OUT's{damaged})"
                )
        out.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({','.join('?' * len(table.columns))})", new)
        report.copied += len(new)


def merge(
    out: Path, shards: Sequence[Path], done: Callable[[ShardReport], None] = lambda report: None
) -> list[ShardReport]:
    """Each shard into OUT in turn; ``done`` hears of each shard as soon as it is merged (so a later failure to
    write does not hide what the earlier shards did)."""
    connection = connect_writable(out)
    reports = []
    try:
        for shard in shards:
            reports.append(merge_shard(connection, shard))
            done(reports[-1])
        return reports
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m runtime.merge",
        description="Merge embedding cache folders (shards) into OUT. Exit status: 0 all merged; 1 damaged or "
        "conflicting rows, or an unreadable shard (reported; the rest is merged); 2 bad usage.",
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="the cache folder to merge into (made if missing)")
    parser.add_argument("shards", type=Path, nargs="+", metavar="SHARD", help=f"a cache folder holding {DATABASE}")
    arguments = parser.parse_args(argv)
    out: Path = arguments.out
    if out.exists() and not out.is_dir():
        parser.error(f"OUT {out} is not a folder")
    for shard in arguments.shards:
        if not (shard / DATABASE).is_file():
            parser.error(f"shard {shard} holds no {DATABASE}")
        if out.resolve() == shard.resolve() or (out.exists() and out.samefile(shard)):
            parser.error(f"shard {shard} is OUT itself ({out})")
    try:
        reports = merge(out, arguments.shards, done=lambda report: print(report.summary(), flush=True))
    except (WriteError, sqlite3.Error, OSError) as error:
        print(f"cannot write {out / DATABASE}: {error}", file=sys.stderr)
        return 1
    return 0 if all(report.clean for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
