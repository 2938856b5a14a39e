"""At most one model in memory per process, and no model in two processes at once.

A process holds a file lock named after the embedder while it has that model loaded, or while it computes that
embedder's vectors, so concurrent xdist workers compute each missing input once: whoever holds the lock computes,
the others wait, then find the vectors in the store. A process lets go of its model (and lock) before it waits for
another lock, so no two processes can wait for each other.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from embedders import Embedder, EmbedderEntry, LoadOptions


@dataclass
class Usage:
    """What one embedder cost this session: inputs the plan listed, where their vectors came from, inputs computed
    outside the plan (a test asked for what no plan listed), model calls, loads and their seconds, and the seconds
    spent computing."""

    planned: int = 0
    from_cache: int = 0
    computed: int = 0
    unplanned: int = 0
    model_calls: int = 0
    loads: int = 0
    load_seconds: float = 0.0
    seconds: float = 0.0  # computing and storing vectors (not loading, not waiting for another process)

    def add(self, other: Usage) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def line(self, name: str) -> str:
        """The embedder's line of a session's embeddings section; ``read_lines`` reads it back."""
        extra = f", {self.unplanned:,} computed outside the plan" if self.unplanned else ""
        return (
            f"{name:<16} {self.planned:>8,} planned: {self.from_cache:>7,} from the cache, {self.computed:>7,} "
            f"computed{extra}; {self.model_calls} model calls, {self.loads} loads ({self.load_seconds:.1f} s), "
            f"{self.seconds:.1f} s computing"
        )

    @classmethod
    def read_lines(cls, text: str) -> dict[str, Usage]:
        """Every embedder's usage in a session's output, by name (for benchmarks and tests that run sessions)."""
        found = {}
        for match in USAGE_LINE.finditer(text):
            fields = {key: value.replace(",", "") for key, value in match.groupdict("0").items() if key != "name"}
            found[match["name"]] = cls(**{key: type(getattr(cls, key))(value) for key, value in fields.items()})
        return found


USAGE_LINE = re.compile(
    r"^(?P<name>\S+)\s+(?P<planned>[\d,]+) planned:\s+(?P<from_cache>[\d,]+) from the cache,\s+(?P<computed>[\d,]+) "
    r"computed(?:, (?P<unplanned>[\d,]+) computed outside the plan)?; (?P<model_calls>\d+) model calls, "
    r"(?P<loads>\d+) loads \((?P<load_seconds>[\d.]+) s\), (?P<seconds>[\d.]+) s computing$",
    re.MULTILINE,
)


@dataclass
class Loaded:
    name: str
    model: Embedder
    generation: int  # counts loads in this process: a wrapper compares a reloaded model with the stored description


class ModelPool:
    """The one model this process may have loaded, the lock that goes with it, and every embedder's usage."""

    def __init__(self, lock_folder: Path, options: LoadOptions) -> None:
        self.lock_folder = lock_folder
        self.options = options
        self.usage: dict[str, Usage] = {}
        self.loaded: Loaded | None = None
        self._held: tuple[str, FileLock] | None = None
        self._generation = 0

    @classmethod
    def for_store(cls, folder: Path, options: LoadOptions) -> ModelPool:
        """Locks per store folder (separate sessions on separate caches never wait for each other), kept in the
        temporary folder (a read-only cache still gets its locks)."""
        digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
        return cls(Path(tempfile.gettempdir()) / f"embedding-claims-locks-{os.getuid()}" / digest, options)

    def usage_of(self, name: str) -> Usage:
        return self.usage.setdefault(name, Usage())

    def holds(self, name: str) -> bool:
        return self._held is not None and self._held[0] == name

    def hold(self, name: str) -> None:
        """Hold ``name``'s lock, waiting for it; any other model is let go first (holding one while waiting for
        another could deadlock)."""
        self._take(name, blocking=True)

    def try_hold(self, name: str) -> bool:
        """Hold ``name``'s lock if no other process has it; False (and nothing held) if one does."""
        return self._take(name, blocking=False)

    def _take(self, name: str, *, blocking: bool) -> bool:
        if self.holds(name):
            return True
        self.release()
        self.lock_folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_folder / (hashlib.sha256(name.encode()).hexdigest()[:24] + ".lock")))
        try:
            lock.acquire(timeout=-1 if blocking else 0)
        except Timeout:
            return False
        self._held = (name, lock)
        return True

    def model(self, entry: EmbedderEntry) -> Loaded:
        """The entry's model, loaded under its lock if it is not the one in memory."""
        self.hold(entry.name)
        if self.loaded is None:
            if importlib.util.find_spec("torch") is not None:
                from embedders.threads import limit_torch_threads

                limit_torch_threads()
            started = time.perf_counter()
            try:
                model = entry.load(self.options)
            except BaseException:
                self.release()
                raise
            self._generation += 1
            self.loaded = Loaded(entry.name, model, self._generation)
            usage = self.usage_of(entry.name)
            usage.loads += 1
            usage.load_seconds += time.perf_counter() - started
        return self.loaded

    def release(self) -> None:
        """Free the loaded model, if any, and let other processes have its lock."""
        loaded, self.loaded = self.loaded, None
        if loaded is not None:
            close = getattr(loaded.model, "close", None)
            if callable(close):
                close()
            del loaded
            gc.collect()
        held, self._held = self._held, None
        if held is not None:
            held[1].release()
