"""Embedders behind the embedding cache, and at most one model in memory per process.

``load_embedder`` returns a stand-in with the embedder's protocol that looks every input up in the on-disk cache
(harness/embedding_cache.py) and asks the real model only for what is missing. The real model is loaded lazily,
on the first miss, so a warm rerun loads none. Its description (``info``, whose fingerprint keys the cache) is
stored too, under ``EmbedderEntry.identity()``, which is computed without loading anything.

Memory: a process keeps at most one model loaded, and holds a lock named after the embedder while it does, so no
two processes (xdist workers) have the same model in memory at once. A process lets go of its model before it
waits for another's lock, so no two processes can wait for each other. The same lock makes concurrent workers
compute each missing input once: whoever holds it computes, the others wait, then find the vectors on disk.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from embedders import Embedder, EmbedderEntry, EmbedderInfo, EmbedderUnavailable, Embeddings, Family, WordInContext
from embedders.threads import limit_torch_threads
from harness.embedding_cache import (
    EMBEDDED,
    NOT_EMBEDDED,
    TRUNCATED,
    CacheWarning,
    EmbeddingStore,
    default_cache_dir,
    input_key,
)

# Inputs sent to the model per call: large enough for its own batching, small enough that a killed run loses
# little and the progress bar moves.
CHUNK = 1024


@dataclass
class Usage:
    """What one embedder was asked for in this process, and where the answers came from."""

    inputs: int = 0
    from_cache: int = 0
    from_model: int = 0
    model_calls: int = 0
    loads: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class _Loaded:
    name: str
    model: Embedder
    generation: int  # counts loads in this process


class _State:
    mode: str = "rw"
    folder: Path = default_cache_dir()
    store: EmbeddingStore | None = None
    wrappers: dict[str, CachedEmbedder] = {}  # noqa: RUF012 (one process-wide instance)
    usage: dict[str, Usage] = {}  # noqa: RUF012
    held: tuple[str, FileLock] | None = None  # the embedder whose lock this process holds
    loaded: _Loaded | None = None
    generation: int = 0


_state = _State()


def configure(mode: str = "rw", folder: Path | None = None) -> None:
    """Choose the cache for this process (``rw``, ``ro``, ``refresh`` or ``off``); forgets earlier stand-ins."""
    release_model()
    if _state.store is not None:
        _state.store.close()
    _state.mode = mode
    _state.folder = folder or default_cache_dir()
    _state.store = None if mode == "off" else EmbeddingStore(_state.folder, writable=mode != "ro")
    _state.wrappers = {}


def usage() -> dict[str, Usage]:
    return _state.usage


def mode() -> str:
    return _state.mode


def folder() -> Path:
    return _state.folder


def load_embedder(entry: EmbedderEntry) -> Embedder:
    """The embedder behind the cache. Raises EmbedderUnavailable, as loading would, when it cannot run here."""
    reason = entry.unavailable_reason()
    if reason:
        raise EmbedderUnavailable(reason)
    wrapper = _state.wrappers.get(entry.name)
    if wrapper is None:
        kind = CachedStaticEmbedder if entry.family is Family.STATIC else CachedEmbedder
        wrapper = _state.wrappers[entry.name] = kind(entry)
    wrapper.info  # noqa: B018 (described now: from the cache, else by loading, which may fail like a load)
    return wrapper


def release_embedder(entry: EmbedderEntry) -> None:
    """Free this embedder's model, if it is the one loaded; its cached vectors stay available."""
    if _state.held is not None and _state.held[0] == entry.name:
        release_model()


def release_model() -> None:
    """Free the loaded model, if any, and let other processes load it."""
    loaded, _state.loaded = _state.loaded, None
    if loaded is not None:
        close = getattr(loaded.model, "close", None)
        if callable(close):
            close()
        del loaded
        gc.collect()
    held, _state.held = _state.held, None
    if held is not None:
        held[1].release()


def keep_only(name: str | None) -> None:
    """Free the loaded model unless it is ``name``'s: the next test needs another (or none)."""
    if _state.held is not None and _state.held[0] != name:
        release_model()


def _lock_path(name: str) -> Path:
    # Per cache folder, so separate sessions (tests, benchmarks) on separate caches never wait for each other;
    # in the temporary folder, so a read-only cache still gets its locks.
    folder = hashlib.sha256(str(_state.folder.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"embedding-claims-locks-{os.getuid()}" / folder / _lock_name(name)


def _lock_name(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:24] + ".lock"


def _hold(name: str) -> None:
    """Hold ``name``'s lock, letting go of any other model first (holding one while waiting could deadlock)."""
    if _state.held is not None and _state.held[0] == name:
        return
    release_model()
    path = _lock_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    lock.acquire()
    _state.held = (name, lock)


def _model(entry: EmbedderEntry) -> Embedder:
    """The real model, loaded under its lock."""
    _hold(entry.name)
    if _state.loaded is None:
        if importlib.util.find_spec("torch") is not None:
            limit_torch_threads()
        try:
            model = entry.load()
        except BaseException:
            release_model()
            raise
        _state.generation += 1
        _state.loaded = _Loaded(entry.name, model, _state.generation)
        _state.usage.setdefault(entry.name, Usage()).loads += 1
    return _state.loaded.model


def _interactive() -> bool:
    stream = sys.__stderr__
    return stream is not None and stream.isatty() and "PYTEST_XDIST_WORKER" not in os.environ


class CachedEmbedder:
    """The Embedder protocol over the cache; the real model is asked only for inputs the cache lacks."""

    def __init__(self, entry: EmbedderEntry) -> None:
        self.entry = entry
        self.identity = entry.identity()
        self._info: EmbedderInfo | None = None
        self._refreshed: set[bytes] = set()  # --cache=refresh: inputs already recomputed in this session
        self._checked = -1  # which load of the model was last compared with the stored description

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.entry.name!r})"

    @property
    def info(self) -> EmbedderInfo:
        if self._info is None:
            self._info = self._stored_info()
        if self._info is None:
            _hold(self.entry.name)  # another process may be loading it now: wait, then look again
            self._info = self._stored_info() or self._real().info
        return self._info

    def _stored_info(self) -> EmbedderInfo | None:
        store = _state.store
        return store.get_info(self.identity) if store is not None and _state.mode in ("rw", "ro") else None

    @property
    def space(self) -> str:
        """The key space of this embedder's vectors: what it is (fingerprint) and how it was built (identity)."""
        return f"{self.identity}:{self.info.fingerprint}"

    def _real(self) -> Embedder:
        loaded = _state.loaded
        if loaded is not None and loaded.name == self.entry.name and loaded.generation == self._checked:
            return loaded.model  # already compared with the stored description
        model = _model(self.entry)
        self._checked = _state.loaded.generation  # type: ignore[union-attr]
        described = model.info
        if self._info is not None and described.fingerprint != self._info.fingerprint:
            warnings.warn(
                CacheWarning(
                    f"{self.entry.name}: the loaded model's fingerprint {described.fingerprint} differs from the "
                    f"stored {self._info.fingerprint}; using the loaded one"
                ),
                stacklevel=2,
            )
            self._info = described
        if self._info is None:
            self._info = described
        if _state.store is not None and _state.mode in ("rw", "refresh"):
            _state.store.put_info(self.identity, described)
        return model

    # ------------------------------------------------------------ protocol

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return self._embed("word", list(words), list(words), lambda model, batch: model.embed_words(batch))

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return self._embed(
            "sentence", list(sentences), list(sentences), lambda model, batch: model.embed_sentences(batch)
        )

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        texts = [f"{item.start}\x00{item.end}\x00{item.sentence}" for item in items]
        return self._embed("in-context", list(items), texts, lambda model, batch: model.embed_in_context(batch))

    # ------------------------------------------------------------ the cache in front of the model

    def _embed(
        self,
        kind: str,
        inputs: list,
        texts: list[str],
        compute: Callable[[Embedder, list], Embeddings],
    ) -> Embeddings:
        started = time.perf_counter()
        counts = _state.usage.setdefault(self.entry.name, Usage())
        first_of: dict[str, int] = {}
        for row, text in enumerate(texts):
            first_of.setdefault(text, row)
        distinct = list(first_of)
        space = self.space
        keys = [input_key(space, kind, text) for text in distinct]
        found: dict[bytes, tuple[int, np.ndarray]] = self._lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        computed = 0
        if missing:
            _hold(self.entry.name)  # another process may be computing these now: wait, then look again
            found.update(self._lookup([keys[i] for i in missing]))
            missing = [i for i in missing if keys[i] not in found]
        if missing:
            model = self._real()
            space_now = self.space
            if space_now != space:  # the loaded model is not the described one: nothing cached applies
                return self._embed(kind, inputs, texts, compute)
            computed = self._compute(model, kind, missing, distinct, first_of, inputs, keys, found, compute, counts)
        dimension = self.info.dimension or next((len(v) for state, v in found.values() if state), 0)
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        present = np.zeros(len(texts), dtype=bool)
        truncated = np.zeros(len(texts), dtype=bool)
        row_of = {text: i for i, text in enumerate(distinct)}
        for row, text in enumerate(texts):
            state, vector = found[keys[row_of[text]]]
            if state:
                vectors[row] = vector
                present[row] = True
                truncated[row] = state == TRUNCATED
        counts.inputs += len(distinct)
        counts.from_model += computed
        counts.from_cache += len(distinct) - computed
        counts.seconds += time.perf_counter() - started
        return Embeddings(vectors, present, truncated)

    def _lookup(self, keys: list[bytes]) -> dict[bytes, tuple[int, np.ndarray]]:
        store = _state.store
        if store is None or not keys:
            return {}
        hits = store.get_vectors(keys, self.info.dimension)
        if _state.mode == "refresh":
            hits = {key: value for key, value in hits.items() if key in self._refreshed}
        return hits

    def _compute(
        self,
        model: Embedder,
        kind: str,
        missing: list[int],
        distinct: list[str],
        first_of: dict[str, int],
        inputs: list,
        keys: list[bytes],
        found: dict[bytes, tuple[int, np.ndarray]],
        compute: Callable[[Embedder, list], Embeddings],
        counts: Usage,
    ) -> int:
        from tqdm import tqdm

        store = _state.store
        progress = tqdm(
            total=len(missing),
            desc=f"{self.entry.name} {kind}s",
            unit=kind,
            file=sys.__stderr__,
            leave=False,
            disable=not _interactive() or len(missing) < CHUNK,
        )
        with progress:
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                result = compute(model, [inputs[first_of[distinct[i]]] for i in chunk])
                counts.model_calls += 1
                rows = [
                    (keys[i], _state_of(result, j), np.asarray(result.vectors[j], dtype=np.float32))
                    for j, i in enumerate(chunk)
                ]
                if store is not None and _state.mode in ("rw", "refresh"):
                    store.put_vectors(rows)
                for key, state, vector in rows:
                    found[key] = (state, vector)
                    if _state.mode == "refresh":
                        self._refreshed.add(key)
                progress.update(len(chunk))
        return len(missing)


def _state_of(result: Embeddings, row: int) -> int:
    if not result.found[row]:
        return NOT_EMBEDDED
    return TRUNCATED if result.truncated is not None and result.truncated[row] else EMBEDDED


class CachedStaticEmbedder(CachedEmbedder):
    """A static model's own word list, which the open-vocabulary protocols read: from the model itself."""

    def vocabulary(self) -> Sequence[str]:
        return self._real().vocabulary()  # type: ignore[attr-defined]

    def vocabulary_vectors(self, limit: int) -> np.ndarray:
        return self._real().vocabulary_vectors(limit)  # type: ignore[attr-defined]

    def index_of(self, word: str) -> int:
        return self._real().index_of(word)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- measurement results


def space_of(entry: EmbedderEntry) -> str:
    """The embedder's cache key space (identity and fingerprint), or why it cannot run here; loads no model when
    its description is cached."""
    try:
        return load_embedder(entry).space  # type: ignore[attr-defined]
    except EmbedderUnavailable as error:
        return f"unavailable: {error}"
    except Exception as error:  # its comparisons fail with it, in the claim run; the others must not
        return f"failed: {error!r}"


def cached_result(
    kind: str,
    key_parts: dict[str, object],
    compute: Callable[[], object],
    keep: Callable[[object], bool] = lambda result: True,
) -> object:
    """A JSON-able result kept in the same store as the vectors, under a digest of everything it depends on
    (the embedders' key spaces, the data, the code and the settings that produced it); one that ``keep`` refuses
    (a failure that may not recur) is returned but not stored."""
    payload = json.dumps({"kind": kind, **key_parts}, sort_keys=True, default=str)
    key = hashlib.sha256(payload.encode()).digest()
    store = _state.store
    if store is not None and _state.mode in ("rw", "ro"):
        stored = store.get_result(key)
        if stored is not None:
            try:
                return json.loads(stored)
            except ValueError:
                pass
    result = json.loads(json.dumps(compute(), default=str))  # stored or not, the caller sees the same form
    if store is not None and _state.mode in ("rw", "refresh") and keep(result):
        store.put_result(key, json.dumps(result).encode())
    return result


def source_digest(*roots: Path) -> str:
    """sha256 over each file root and every file under each folder root (code, TOML, the authored data files),
    leaving out bytecode, hidden files and editor backups: results computed by other code or from other data
    never match."""
    digest = hashlib.sha256()
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if _is_source(p, root))
        for path in paths:
            try:
                content = path.read_bytes()
            except OSError:  # removed while we looked (an editor's temporary file)
                continue
            digest.update(f"{path.relative_to(root.parent)}\n".encode())
            digest.update(content)
    return digest.hexdigest()


def _is_source(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    hidden = any(part.startswith(".") or part == "__pycache__" for part in parts)
    return not hidden and not path.name.endswith("~") and path.is_file()
