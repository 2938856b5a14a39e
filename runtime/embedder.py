"""An embedder behind the store: every input is looked up first, the real model is asked only for what is missing.

The real model is loaded on the first miss (normally during the session's plan, see runtime/plan.py), so a warm
rerun loads none, but for a served model, which it asks one probe first (runtime/served.py). Its description
(``info``, whose fingerprint keys the store) is stored too, under the entry's identity, which is computed without
loading anything.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from embedders import (
    INPUT_FORMS,
    Embedder,
    EmbedderEntry,
    EmbedderInfo,
    Embeddings,
    Family,
    WordInContext,
)
from embedders.devices import describe_device
from runtime.computation import CacheIncomplete, CacheOnlyEntry, Computation
from runtime.plan import describe_failure
from runtime.pool import Usage
from runtime.served import ServedModelUnchecked, checked_epoch, stored_epoch
from runtime.store import EMBEDDED, NOT_EMBEDDED, TRUNCATED, CacheWarning, input_key

if TYPE_CHECKING:
    from runtime.session import Runtime

# Inputs sent to the model per call: large enough for its own batching, small enough that a killed run loses
# little and the progress bar moves.
CHUNK = 1024


def input_text(form: str, item: Hashable) -> str:
    """The exact text an input is stored under."""
    if form == "in-context":
        assert isinstance(item, WordInContext)
        return f"{item.start}\x00{item.end}\x00{item.sentence}"
    return str(item)


class CachedEmbedder:
    """The Embedder protocol over the store."""

    def __init__(self, entry: EmbedderEntry, runtime: Runtime) -> None:
        self.entry = entry
        self.runtime = runtime
        self.identity = entry.identity(runtime.options)
        self._info: EmbedderInfo | None = None
        self._checked = -1  # which load of the model was last compared with the stored description
        # a served model is asked the probe before anything of it is read (runtime/served.py); one standing on the
        # cache alone, with no server to ask, reads by the probe answer stored
        self._asks_server = bool(entry.served and entry.served()) and not isinstance(entry, CacheOnlyEntry)
        self._epoch: str | None = None
        self._epoch_failure: str | None = None

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.entry.name!r})"

    @property
    def info(self) -> EmbedderInfo:
        if self._info is None:
            self._info = self.stored_info()
        if self._info is None:
            self.runtime.pool.hold(self.entry.name)  # another process may be loading it now: wait, then look again
            self._info = self.stored_info() or self.model().info
        return self._info

    def stored_info(self) -> EmbedderInfo | None:
        return self.runtime.storage.get_info(self.identity)

    @property
    def space(self) -> str:
        """The key space of this embedder's vectors and results: how it was built (identity), what it is
        (fingerprint) and, for a served model, which model the server answered for (runtime/served.py)."""
        epoch = self.epoch()  # first: asking the server may store a new description, hence a new fingerprint
        return self._space() + epoch

    def _space(self) -> str:
        return f"{self.identity}:{self.info.fingerprint}"

    def epoch(self) -> str:
        """The served model's epoch, found once per process: a model not served, or under --cache=off (no earlier
        cache to read), has none. A failure to find it fails every test of the embedder in the process, the server
        asked only the first time."""
        if self._epoch is not None:
            return self._epoch
        if self._epoch_failure is not None:
            raise ServedModelUnchecked(self._epoch_failure)
        if self.runtime.mode == "off":
            self._epoch = ""
        elif self._asks_server:
            try:
                self._epoch = self._ask_server()
            except Exception as error:
                self._epoch_failure = f"{describe_failure(error)}; the server is not asked again in this process"
                raise
        elif isinstance(self.entry, CacheOnlyEntry):
            self._epoch = stored_epoch(self.runtime.storage, self._space())
        else:
            self._epoch = ""
        return self._epoch

    def _ask_server(self) -> str:
        loaded = self.runtime.pool.model(self.entry).model
        if self._info is None or loaded.info.fingerprint != self._info.fingerprint:
            self.model()  # a description not stored yet, or changed: stored as on any load
        self.runtime.pool.usage_of(self.entry.name).model_calls += 1  # the probe: a request like any other
        refresh = self.runtime.mode == "refresh"
        return checked_epoch(loaded, self.runtime.storage, self._space(), accept=refresh)

    def model(self) -> Embedder:
        """The real model (loaded if it is not), its description checked against the stored one."""
        loaded = self.runtime.pool.model(self.entry)
        if loaded.generation == self._checked:
            return loaded.model
        self._checked = loaded.generation
        described = loaded.model.info
        if self._info is not None and described.fingerprint != self._info.fingerprint:
            warnings.warn(
                CacheWarning(
                    f"{self.entry.name}: the loaded model's fingerprint {described.fingerprint} differs from the "
                    f"stored {self._info.fingerprint}; using the loaded one"
                ),
                stacklevel=2,
            )
        self._info = described
        self.runtime.storage.put_info(self.identity, described)
        options = self.runtime.options
        self.runtime.storage.put_computation(Computation.of(self.entry, options, self._device(loaded.model)))
        return loaded.model

    def _device(self, model: Embedder) -> str:
        """Where the model computes: an API's servers; the --device for a backend that reads it (with its own
        placement under auto: the devices accelerate spread it over); the CPU for the others, whatever --device."""
        if self.entry.family == Family.API:
            return "the provider's servers"
        if "device" not in self.entry.reads_options:
            return describe_device("cpu")
        return describe_device(self.runtime.options.device, getattr(model, "placement", ()))

    @property
    def computed(self) -> str | None:
        """Where this embedder's vectors were computed, for its records; None when the cache does not say (it was
        filled before the suite recorded it)."""
        if isinstance(self.entry, CacheOnlyEntry):
            assert self.entry.computation is not None
            return f"from the cache alone, its weights not here: {self.entry.computation.describe()}"
        stored = self.runtime.storage.get_computations(identity=self.identity)
        return max(stored, key=lambda c: c.written).describe() if stored else None

    # ------------------------------------------------------------ protocol

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return self.embed("words", list(words))

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return self.embed("sentences", list(sentences))

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        return self.embed("in-context", list(items))

    # ------------------------------------------------------------ the store in front of the model

    def embed(self, form: str, inputs: list, *, planned: bool = False, refresh: bool = False) -> Embeddings:
        """Vectors of ``inputs`` (rows), computing only what the store lacks; ``planned``: the session's plan asks,
        counted as such; ``refresh``: compute every input again, whatever is stored."""
        usage = self.runtime.pool.usage_of(self.entry.name)
        texts = [input_text(form, item) for item in inputs]
        first_of: dict[str, int] = {}
        for row, text in enumerate(texts):
            first_of.setdefault(text, row)
        distinct = list(first_of)
        space = self.space
        keys = [input_key(space, form, text) for text in distinct]
        self._before_reading(planned)
        found = {} if refresh else self._lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing and not refresh:
            self._wait_for_plan(planned)  # another process may be computing these now: wait, then look again
            found.update(self._lookup([keys[i] for i in missing]))
            missing = [i for i in missing if keys[i] not in found]
        if missing:
            if isinstance(self.entry, CacheOnlyEntry):
                raise CacheIncomplete(self.entry.lacking(f"{len(missing):,} of the {len(distinct):,} {form}"))
            model = self.model()
            if self.space != space:  # the loaded model is not the described one: nothing looked up applies
                return self.embed(form, inputs, planned=planned, refresh=refresh)
            method = getattr(model, INPUT_FORMS[form])
            chunks = [
                [inputs[first_of[distinct[i]]] for i in missing[s : s + CHUNK]] for s in range(0, len(missing), CHUNK)
            ]
            started = time.perf_counter()
            self._compute(method, form, chunks, [keys[i] for i in missing], found, usage)
            usage.seconds += time.perf_counter() - started
        if planned:
            usage.planned += len(distinct)
            usage.from_cache += len(distinct) - len(missing)
            usage.computed += len(missing)
        else:
            usage.unplanned += len(missing)
        return self._assemble(texts, distinct, keys, found)

    def _before_reading(self, planned: bool) -> None:
        """Under --cache=refresh the store holds the old vectors until this session's plan has recomputed them:
        a test waits for that (or does it) before reading anything."""
        if not planned and self.runtime.mode == "refresh" and not self.runtime.settled(self.entry):
            self.runtime.ensure_filled(self.entry)

    def _wait_for_plan(self, planned: bool) -> None:
        if planned:  # the plan itself is being filled, under this embedder's lock
            self.runtime.pool.hold(self.entry.name)
        else:
            self.runtime.ensure_filled(self.entry)

    def _assemble(
        self, texts: list[str], distinct: list[str], keys: list[bytes], found: dict[bytes, tuple[int, np.ndarray]]
    ) -> Embeddings:
        dimension = self.info.dimension or next((len(v) for state, v in found.values() if state), 0)
        vectors = np.zeros((len(texts), dimension), dtype=np.float32)
        present = np.zeros(len(texts), dtype=bool)
        truncated = np.zeros(len(texts), dtype=bool)
        key_of = dict(zip(distinct, keys, strict=True))
        for row, text in enumerate(texts):
            state, vector = found[key_of[text]]
            if state:
                vectors[row] = vector
                present[row] = True
                truncated[row] = state == TRUNCATED
        return Embeddings(vectors, present, truncated)

    def _lookup(self, keys: list[bytes]) -> dict[bytes, tuple[int, np.ndarray]]:
        return self.runtime.storage.get_vectors(keys, self.info.dimension) if keys else {}

    def _compute(
        self,
        method: Callable[[list], Embeddings],
        form: str,
        chunks: list[list],
        keys: list[bytes],
        found: dict[bytes, tuple[int, np.ndarray]],
        usage: Usage,
    ) -> None:
        from tqdm import tqdm

        total = sum(len(chunk) for chunk in chunks)
        progress = tqdm(
            total=total,
            desc=f"{self.entry.name} {form}",
            unit="input",
            file=sys.__stderr__,
            leave=False,
            disable=not self.runtime.interactive or total < CHUNK,
        )
        start = 0
        with progress:
            for chunk in chunks:
                result = method(chunk)
                usage.model_calls += 1
                rows = [
                    (keys[start + j], _state_of(result, j), np.asarray(result.vectors[j], dtype=np.float32))
                    for j in range(len(chunk))
                ]
                self.runtime.storage.put_vectors(rows)
                for key, state, vector in rows:
                    found[key] = (state, vector)
                start += len(chunk)
                progress.update(len(chunk))


def _state_of(result: Embeddings, row: int) -> int:
    if not result.found[row]:
        return NOT_EMBEDDED
    return TRUNCATED if result.truncated is not None and result.truncated[row] else EMBEDDED


class CachedVocabularyEmbedder(CachedEmbedder):
    """A model with a word list of its own (static vectors): the head of that list, which the open-vocabulary
    protocols read, is stored too, so they run without the model once it is."""

    def vocabulary_head(
        self, size: int, *, planned: bool = False, refresh: bool = False
    ) -> tuple[list[str], np.ndarray]:
        """The model's ``size`` most frequent words (fewer if it has fewer) and their vectors, row for row;
        ``refresh``: read them from the model again, whatever is stored."""
        key = input_key(self.space, "vocabulary", str(size))
        self._before_reading(planned)
        stored = None if refresh else self._stored_head(key)
        if stored is None and not refresh:
            self._wait_for_plan(planned)
            stored = self._stored_head(key)
        usage = self.runtime.pool.usage_of(self.entry.name)
        if stored is None:
            model = self.model()
            started = time.perf_counter()
            words, vectors = model.vocabulary_head(size)  # type: ignore[attr-defined]
            rows = [(input_key(self.space, "vocabulary-row", str(i)), EMBEDDED, v) for i, v in enumerate(vectors)]
            self.runtime.storage.put_vectors(rows)
            self.runtime.storage.put_result(key, json.dumps(list(words)).encode())
            usage.model_calls += 1
            usage.seconds += time.perf_counter() - started
            if planned:
                usage.computed += len(words)
            else:
                usage.unplanned += len(words)
            stored = (list(words), np.asarray(vectors, dtype=np.float32))
        elif planned:
            usage.from_cache += len(stored[0])
        if planned:
            usage.planned += len(stored[0])
        return stored

    def _stored_head(self, key: bytes) -> tuple[list[str], np.ndarray] | None:
        raw = self.runtime.storage.get_result(key)
        if raw is None:
            return None
        words = json.loads(raw)
        keys = [input_key(self.space, "vocabulary-row", str(i)) for i in range(len(words))]
        rows = self._lookup(keys)
        if len(rows) < len(keys):
            return None
        return words, np.stack([rows[k][1] for k in keys]) if keys else np.zeros((0, self.info.dimension or 0))
