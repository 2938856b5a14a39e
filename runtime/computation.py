"""Where an embedder's vectors were computed, stored beside them; and the entry that lets an embedder whose weights
are not here take part in a session from those vectors alone (the last step of a sharded run: shards embed on the
machines that have the models, one CPU session decides every claim from the merged cache)."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from embedders import Embedder, EmbedderEntry, EmbedderUnavailable, LoadOptions

VERSION = 1


class ComputationError(ValueError):
    """A stored computation record that does not follow its schema."""


class CacheIncomplete(EmbedderUnavailable):
    """An embedder standing on the cache alone was asked for inputs the cache lacks: its tests skip saying so."""


@dataclass(frozen=True)
class Computation:
    """One embedder identity's vectors, as computed on one machine: what the identity was made of (weights stamp,
    package versions, load options), on which device, and when that machine first wrote them."""

    embedder: str
    identity: str
    recipe: str  # what a session without the weights looks the vectors up by (EmbedderEntry.recipe)
    stamp: str | None
    packages: dict[str, str]
    options: dict[str, Any]
    device: str  # what the device was, e.g. "cuda:0 (NVIDIA A100-SXM4-80GB, 80 GB)" or "cpu (x86_64, 2 cores)"
    machine: str  # operating system and architecture, never a host name
    written: str  # UTC, ISO 8601, when this machine first wrote the record
    version: int = VERSION

    @classmethod
    def of(cls, entry: EmbedderEntry, options: LoadOptions, device: str) -> Computation:
        parts = entry.identity_parts(options)
        return cls(
            embedder=entry.name,
            identity=entry.identity(options),
            recipe=entry.recipe(options),
            stamp=parts["stamp"],
            packages=parts["packages"],
            options=parts["options"],
            device=device,
            machine=f"{platform.system()} {platform.machine()}",
            written=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    @property
    def key(self) -> str:
        """The same identity computed on the same device and machine is one record, whenever it was written."""
        return hashlib.sha256(f"{self.identity}\x00{self.device}\x00{self.machine}".encode()).hexdigest()

    def describe(self) -> str:
        dtype = self.options.get("dtype")
        numerics = f", {dtype}" if dtype else ""
        packages = ", ".join(sorted(set(self.packages.values())))  # module -> "distribution==version"
        weights = f"; weights {self.stamp}" if self.stamp else ""
        return (
            f"computed on {self.device}{numerics}, {self.machine}, first written {self.written}"
            f"{weights}; packages: {packages or 'none'}"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Computation:
        """Every field checked against its declared type; a record of another version is refused, not guessed."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ComputationError(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ComputationError("not a JSON object")
        if data.get("version") != VERSION:
            raise ComputationError(f"version {data.get('version')!r}, this suite reads {VERSION}")
        expected = {f.name for f in fields(cls)}
        if set(data) != expected:
            raise ComputationError(f"fields {sorted(set(data) ^ expected)} missing or unknown")
        for name in ("embedder", "identity", "recipe", "device", "machine", "written"):
            if not isinstance(data[name], str):
                raise ComputationError(f"{name} is not a string")
        if data["stamp"] is not None and not isinstance(data["stamp"], str):
            raise ComputationError("stamp is neither a string nor null")
        packages = data["packages"]
        if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
            raise ComputationError("packages is not an object of version strings")
        options = data["options"]
        if not isinstance(options, dict) or not all(isinstance(v, str | bool | int) for v in options.values()):
            raise ComputationError("options is not an object of strings, booleans and numbers")
        try:
            datetime.fromisoformat(data["written"])
        except ValueError:
            raise ComputationError(f"written {data['written']!r} is not an ISO 8601 time") from None
        return cls(**data)


@dataclass(frozen=True, eq=False)
class CacheOnlyEntry(EmbedderEntry):
    """A registered embedder whose weights are not here, standing on the vectors a computation left in the cache:
    its identity is that computation's, and loading it fails saying so (a test that asks for an input the cache
    lacks is skipped with how many were missing)."""

    computation: Computation | None = None
    missing: str = ""  # why the weights cannot be had here

    def unavailable_reason(self) -> str | None:
        return None

    def identity(self, options: LoadOptions = LoadOptions()) -> str:  # noqa: B008 (frozen)
        assert self.computation is not None
        return self.computation.identity

    def load(self, options: LoadOptions = LoadOptions()) -> Embedder:  # noqa: B008
        raise CacheIncomplete(self.lacking("inputs"))

    def lacking(self, what: str) -> str:
        assert self.computation is not None
        return (
            f"{self.missing}; the cache holds {self.name}'s vectors ({self.computation.describe()}) but not {what} "
            "this session asks for: fill them where the weights are (pytest evals/ --embedder "
            f"{self.name} --fill-cache-only --cache-dir SHARD) and merge the shard (python -m runtime.merge)"
        )

    @classmethod
    def standing_in(cls, entry: EmbedderEntry, computation: Computation, missing: str) -> CacheOnlyEntry:
        values = {f.name: getattr(entry, f.name) for f in fields(EmbedderEntry)}
        return cls(**values, computation=computation, missing=missing)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CacheOnlyEntry) and (self.name, self.computation) == (other.name, other.computation)

    def __hash__(self) -> int:
        return hash((self.name, self.computation and self.computation.key))


def choose(computations: list[Computation], options: LoadOptions) -> Computation | None:
    """Of the computations a recipe has in the cache, the one a session without the weights uses: one with the
    session's own device and dtype if there is one (the vectors it would compute itself), else the newest."""
    if not computations:
        return None
    wanted = {"device": options.device, "dtype": options.dtype}

    def rank(computation: Computation) -> tuple[bool, str]:
        same = all(computation.options.get(k, v) == v for k, v in wanted.items())
        return same, computation.written

    return max(computations, key=rank)
