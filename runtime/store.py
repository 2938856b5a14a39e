"""Content-addressed store of embeddings on disk: one SQLite file in WAL mode, a sha256 per stored vector.

Why SQLite: every write is one transaction, so a process killed at any moment leaves the file readable and
loses only the transaction in flight; in WAL mode readers never wait for the writer and several processes
(xdist workers) may write the same file. Each row's checksum covers its key, its state and its bytes, so
a flipped bit, a truncated vector or a row copied under another key is noticed on read, reported and
recomputed. Keys are sha256 digests of the embedder's identity and the exact input, so nothing is ever
invalidated: a changed model or protocol simply asks for other keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from embedders.base import EmbedderInfo, Extraction, Family
from embedders.disk import cache_root
from runtime.computation import Computation, ComputationError

CACHE_VARIABLE = "EMBEDDING_CLAIMS_CACHE_DIR"
MODES = ("rw", "ro", "refresh", "off")
DATABASE = "embeddings.sqlite3"
# SQLite's bound-parameter limit is 32766 since 3.32; stay well below it.
LOOKUP_CHUNK = 4000
# A stored input's state: the model could not embed it, embedded it, or embedded it cut to its context window.
NOT_EMBEDDED, EMBEDDED, TRUNCATED = 0, 1, 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY,
    found INTEGER NOT NULL,
    vector BLOB NOT NULL,
    checksum BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS infos (
    identity TEXT PRIMARY KEY,
    info TEXT NOT NULL,
    checksum BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    key BLOB PRIMARY KEY,
    payload BLOB NOT NULL,
    checksum BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS computations (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    recipe TEXT NOT NULL,
    record TEXT NOT NULL,
    checksum BLOB NOT NULL
) WITHOUT ROWID;
"""


class CacheWarning(UserWarning):
    """A damaged cache entry (recomputed) or a cache that could not be used (the run goes on without it)."""


def default_cache_dir() -> Path:
    """$EMBEDDING_CLAIMS_CACHE_DIR, else ``embeddings`` in the suite's cache folder ($EMBEDDING_CLAIMS_CACHE, else
    ~/.cache/embedding-claims)."""
    raw = os.environ.get(CACHE_VARIABLE)
    return Path(raw).expanduser() if raw else cache_root() / "embeddings"


def input_key(space: str, form: str, text: str) -> bytes:
    """The address of one input's vector: the embedder's key space, the input's form (words, sentences, words
    in context) and its exact text."""
    return hashlib.sha256(f"{space}\x00{form}\x00{text}".encode()).digest()


def checksum(key: bytes, found: int, payload: bytes) -> bytes:
    return hashlib.sha256(key + bytes([found]) + payload).digest()


def vector_row_intact(key: object, state: object, payload: object, stored: object) -> bool:
    """A vectors row as written: a known state, a whole number of float32s and its checksum (any column may hold
    any type in a damaged file)."""
    return (
        isinstance(key, bytes)
        and type(state) is int
        and state in (NOT_EMBEDDED, EMBEDDED, TRUNCATED)
        and isinstance(payload, bytes)
        and len(payload) % 4 == 0
        and checksum(key, state, payload) == stored
    )


def info_row_intact(identity: object, text: object, stored: object) -> bool:
    return (
        isinstance(identity, str) and isinstance(text, str) and checksum(identity.encode(), 1, text.encode()) == stored
    )


def result_row_intact(key: object, payload: object, stored: object) -> bool:
    return isinstance(key, bytes) and isinstance(payload, bytes) and checksum(key, 1, payload) == stored


def computation_row_intact(key: object, identity: object, recipe: object, record: object, stored: object) -> bool:
    """A computations row as written: its checksum, and its columns agreeing with the record they index."""
    if not all(isinstance(value, str) for value in (key, identity, recipe, record)):
        return False
    assert isinstance(key, str) and isinstance(record, str)
    if checksum(key.encode(), 1, record.encode()) != stored:
        return False
    try:
        computation = Computation.from_json(record)
    except ComputationError:
        return False
    return (computation.key, computation.identity, computation.recipe) == (key, identity, recipe)


def connect_writable(folder: Path) -> sqlite3.Connection:
    """The store's file in ``folder`` (made if missing), in WAL mode, with every table; autocommit, so each writer
    opens its own transactions."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(folder / DATABASE, timeout=600, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a crash of the process loses nothing committed; a power cut at most the last
    # transactions, never the file's consistency.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    return connection


def info_to_json(info: EmbedderInfo) -> str:
    return json.dumps(asdict(info), sort_keys=True)


def info_from_json(text: str) -> EmbedderInfo:
    raw = json.loads(text)
    raw["family"] = Family(raw["family"])
    raw["extraction"] = Extraction(**raw["extraction"])
    return EmbedderInfo(**raw)


class EmbeddingStore:
    """Vectors, embedder descriptions and measurement results by key, in one SQLite file under ``folder``."""

    def __init__(self, folder: Path, *, writable: bool = True) -> None:
        self.folder = folder
        self.path = folder / DATABASE
        self.writable = writable
        self._connection: sqlite3.Connection | None = None
        self.broken: str | None = None  # why the store is unusable, once it turned out to be

    # ------------------------------------------------------------ connection

    def _connect(self) -> sqlite3.Connection | None:
        if self._connection is not None or self.broken:
            return self._connection
        try:
            if self.writable:
                connection = connect_writable(self.folder)
            else:
                if not self.path.is_file():
                    return None
                # Read-only must not create the -wal/-shm files: when no writer left them, open the file as
                # immutable (each row's checksum still guards what is read).
                live = Path(f"{self.path}-wal").exists() and Path(f"{self.path}-shm").exists()
                flags = "mode=ro" if live else "mode=ro&immutable=1"
                connection = sqlite3.connect(f"{self.path.as_uri()}?{flags}", uri=True, timeout=600)
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.Error, OSError) as error:
            self._give_up(f"cannot open {self.path}: {error}")
            return None
        self._connection = connection
        return connection

    def _give_up(self, reason: str) -> None:
        self.broken = reason
        warnings.warn(
            CacheWarning(f"embedding cache unusable, running without it: {reason} (delete the file to start afresh)"),
            stacklevel=3,
        )
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # ------------------------------------------------------------ vectors

    def get_vectors(self, keys: Sequence[bytes], dimension: int | None) -> dict[bytes, tuple[int, np.ndarray]]:
        """The stored (state, vector) of each key present and intact; damaged rows are reported and left out."""
        connection = self._connect()
        if connection is None or not keys:
            return {}
        hits: dict[bytes, tuple[int, np.ndarray]] = {}
        try:
            for start in range(0, len(keys), LOOKUP_CHUNK):
                chunk = keys[start : start + LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT key, found, vector, checksum FROM vectors WHERE key IN ({marks})", chunk
                ).fetchall()
                for key, state, payload, stored in rows:
                    intact = vector_row_intact(key, state, payload, stored)
                    if intact and dimension is not None and state and len(payload) != 4 * dimension:
                        intact = False
                    if not intact:
                        warnings.warn(
                            CacheWarning(
                                f"embedding cache entry {key.hex()[:16]} in {self.path} fails its checksum "
                                "(damaged or truncated): recomputing it"
                            ),
                            stacklevel=2,
                        )
                        continue
                    hits[key] = (state, np.frombuffer(payload, dtype=np.float32))
        except sqlite3.Error as error:
            self._give_up(f"reading {self.path}: {error}")
        return hits

    def put_vectors(self, rows: Iterable[tuple[bytes, int, np.ndarray]]) -> None:
        """One transaction: all of these rows are stored, or (killed or failed) none."""
        connection = self._connect() if self.writable else None
        if connection is None:
            return
        records = []
        for key, state, vector in rows:
            payload = np.ascontiguousarray(vector, dtype=np.float32).tobytes() if state else b""
            records.append((key, int(state), payload, checksum(key, int(state), payload)))
        try:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", records)
        except sqlite3.Error as error:
            self._give_up(f"writing {self.path}: {error}")

    # ------------------------------------------------------------ embedder descriptions

    def get_info(self, identity: str) -> EmbedderInfo | None:
        connection = self._connect()
        if connection is None:
            return None
        try:
            row = connection.execute("SELECT info, checksum FROM infos WHERE identity = ?", (identity,)).fetchone()
        except sqlite3.Error as error:
            self._give_up(f"reading {self.path}: {error}")
            return None
        if row is None:
            return None
        text, stored = row
        if not info_row_intact(identity, text, stored):
            warnings.warn(CacheWarning(f"stored description of {identity[:16]} fails its checksum"), stacklevel=2)
            return None
        try:
            return info_from_json(text)
        except (ValueError, TypeError, KeyError):
            return None

    def put_info(self, identity: str, info: EmbedderInfo) -> None:
        connection = self._connect() if self.writable else None
        if connection is None:
            return
        text = info_to_json(info)
        try:
            with connection:
                connection.execute(
                    "INSERT OR REPLACE INTO infos VALUES (?, ?, ?)",
                    (identity, text, checksum(identity.encode(), 1, text.encode())),
                )
        except sqlite3.Error as error:
            self._give_up(f"writing {self.path}: {error}")

    # ------------------------------------------------------------ measurement results

    def get_result(self, key: bytes) -> bytes | None:
        connection = self._connect()
        if connection is None:
            return None
        try:
            row = connection.execute("SELECT payload, checksum FROM results WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as error:
            self._give_up(f"reading {self.path}: {error}")
            return None
        if row is None:
            return None
        if not result_row_intact(key, *row):
            warnings.warn(CacheWarning(f"cached result {key.hex()[:16]} fails its checksum: recomputing"), stacklevel=2)
            return None
        return row[0]

    def put_result(self, key: bytes, payload: bytes) -> None:
        connection = self._connect() if self.writable else None
        if connection is None:
            return
        try:
            with connection:
                connection.execute(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?)", (key, payload, checksum(key, 1, payload))
                )
        except sqlite3.Error as error:
            self._give_up(f"writing {self.path}: {error}")

    # ------------------------------------------------------------ where vectors were computed

    def get_computations(self, *, recipe: str | None = None, identity: str | None = None) -> list[Computation]:
        """The intact computation records of a recipe or of an identity; damaged ones are reported and left out."""
        connection = self._connect()
        if connection is None:
            return []
        column, value = ("recipe", recipe) if recipe is not None else ("identity", identity)
        try:
            # a store written before computations were recorded, opened read-only, lacks the table: none recorded
            held = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'computations'"
            if connection.execute(held).fetchone() is None:
                return []
            rows = connection.execute(
                f"SELECT key, identity, recipe, record, checksum FROM computations WHERE {column} = ?", (value,)
            ).fetchall()
        except sqlite3.Error as error:
            self._give_up(f"reading {self.path}: {error}")
            return []
        found = []
        for row in rows:
            if computation_row_intact(*row):
                found.append(Computation.from_json(row[3]))
            else:
                warnings.warn(
                    CacheWarning(f"computation record {str(row[0])[:16]} in {self.path} fails its checks: ignored"),
                    stacklevel=2,
                )
        return found

    def put_computation(self, computation: Computation) -> None:
        """Kept as first written: the same identity on the same device and machine later adds nothing."""
        connection = self._connect() if self.writable else None
        if connection is None:
            return
        record = computation.to_json()
        key = computation.key
        try:
            with connection:
                connection.execute(
                    "INSERT OR IGNORE INTO computations VALUES (?, ?, ?, ?, ?)",
                    (key, computation.identity, computation.recipe, record, checksum(key.encode(), 1, record.encode())),
                )
        except sqlite3.Error as error:
            self._give_up(f"writing {self.path}: {error}")


class Storage:
    """What a session reads and writes: the user's cache, a scratch store of its own, or both.

    ``rw`` and ``refresh`` read and write the user's cache. ``ro`` reads it and writes what it computes to the
    scratch store; ``off`` uses the scratch store alone. The scratch store is a folder made for the session
    (shared by its xdist workers, so each input is still computed once) and removed when the session ends."""

    def __init__(self, read: Sequence[EmbeddingStore], write: EmbeddingStore) -> None:
        self.read, self.write = list(read), write

    def close(self) -> None:
        for store in {id(s): s for s in [*self.read, self.write]}.values():
            store.close()

    def get_vectors(self, keys: Sequence[bytes], dimension: int | None) -> dict[bytes, tuple[int, np.ndarray]]:
        hits: dict[bytes, tuple[int, np.ndarray]] = {}
        for store in self.read:
            missing = [key for key in keys if key not in hits] if hits else keys
            if not missing:
                break
            hits.update(store.get_vectors(missing, dimension))
        return hits

    def put_vectors(self, rows: Iterable[tuple[bytes, int, np.ndarray]]) -> None:
        self.write.put_vectors(rows)

    def get_info(self, identity: str) -> EmbedderInfo | None:
        return next((info for store in self.read if (info := store.get_info(identity)) is not None), None)

    def put_info(self, identity: str, info: EmbedderInfo) -> None:
        self.write.put_info(identity, info)

    def get_result(self, key: bytes) -> bytes | None:
        return next((found for store in self.read if (found := store.get_result(key)) is not None), None)

    def put_result(self, key: bytes, payload: bytes) -> None:
        self.write.put_result(key, payload)

    def get_computations(self, *, recipe: str | None = None, identity: str | None = None) -> list[Computation]:
        found = {c.key: c for store in self.read for c in store.get_computations(recipe=recipe, identity=identity)}
        return list(found.values())

    def put_computation(self, computation: Computation) -> None:
        self.write.put_computation(computation)
