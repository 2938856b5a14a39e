"""The runtime of one session: where vectors and results are kept, the model pool, the cached embedders, and the
plan's execution. One object, built when the session starts and handed to what needs it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from embedders import EmbedderEntry, EmbedderUnavailable, LoadOptions
from runtime.computation import CacheIncomplete, CacheOnlyEntry, choose
from runtime.embedder import CachedEmbedder, CachedVocabularyEmbedder
from runtime.plan import EmbeddingPlan, FillReport, complete_plan_key, describe_failure
from runtime.pool import ModelPool
from runtime.results import ResultCache
from runtime.served import stored_epoch
from runtime.store import MODES, EmbeddingStore, Storage, default_cache_dir, input_key


@dataclass(frozen=True)
class Shared:
    """What every process of one session (the xdist controller and its workers) must agree on."""

    token: str  # names this session: a refresh recomputes each planned input once per session, not per worker
    scratch: str | None  # the session's own store folder (--cache=ro or off), made by the first process

    def to_json(self) -> str:
        return json.dumps({"token": self.token, "scratch": self.scratch})

    @classmethod
    def from_json(cls, text: str) -> Shared:
        data = json.loads(text)
        return cls(str(data["token"]), data["scratch"])


class Runtime:
    def __init__(
        self,
        mode: str,
        folder: Path | None = None,
        shared: Shared | None = None,
        *,
        options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
        interactive: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"cache mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode
        self.folder = folder or default_cache_dir()
        self.owns_session = shared is None  # the first process (xdist's controller) cleans up after the session
        self.owns_scratch = self.owns_session and mode in ("ro", "off")
        if shared is None:
            scratch = tempfile.mkdtemp(prefix="embedding-claims-session-") if self.owns_scratch else None
            shared = Shared(uuid.uuid4().hex, scratch)
        self.shared = shared
        self.interactive = interactive
        self.options = options
        if mode in ("rw", "refresh"):
            main = EmbeddingStore(self.folder)
            self.storage = Storage([main], main)
            lock_folder = self.folder
        else:
            assert shared.scratch is not None
            scratch = EmbeddingStore(Path(shared.scratch))
            read = [EmbeddingStore(self.folder, writable=False), scratch] if mode == "ro" else [scratch]
            self.storage = Storage(read, scratch)
            lock_folder = Path(shared.scratch)
        self.pool = ModelPool.for_store(lock_folder, options)
        self.results = ResultCache(self.storage, read=mode != "refresh")
        self._embedders: dict[str, CachedEmbedder] = {}
        self.plan: EmbeddingPlan | None = None
        self.reports: list[FillReport] = []  # what filling did in this process, embedder by embedder
        self._settled: set[str] = set()  # embedders whose plan this process filled or found dealt with

    def describe(self) -> str:
        if self.mode == "off":
            return "off (a scratch store for this session only)"
        return f"{self.mode} at {self.folder}"

    def close(self) -> None:
        self.pool.release()
        self.storage.close()
        if self.owns_session:
            shutil.rmtree(self.pool.lock_folder / "sessions" / self.shared.token, ignore_errors=True)
        if self.owns_scratch and self.shared.scratch:
            shutil.rmtree(self.shared.scratch, ignore_errors=True)
            shutil.rmtree(self.pool.lock_folder, ignore_errors=True)  # the scratch store's locks go with it

    # ------------------------------------------------------------ embedders

    def stand_in(self, entry: EmbedderEntry, scope: str, chosen: str | None = None) -> EmbedderEntry:
        """The entry itself when it can run here; else, when a fill-only session where its weights were embedded
        everything a session of this ``scope`` can ask of it (under the same recipe: code and what it computes), an
        entry standing on those vectors alone. ``chosen``: the computation the session's first process chose, so
        that every process stands on the same one. Never under refresh (which recomputes, needing the weights) or
        off (which reads no cache)."""
        reason = entry.unavailable_reason()
        if reason is None or self.mode in ("off", "refresh"):
            return entry
        try:
            recipe = entry.recipe(self.options)
        except Exception:  # its code cannot be read: it stays unavailable, saying why it is
            return entry
        complete = []
        for computation in self.storage.get_computations(recipe=recipe):
            info = self.storage.get_info(computation.identity)
            space = f"{computation.identity}:{info.fingerprint}" if info else None
            space = space and space + stored_epoch(self.storage, space)  # as CachedEmbedder.space reads it
            if space and self.storage.get_result(complete_plan_key(space, scope)) is not None:
                complete.append(computation)
        if chosen is not None:
            complete = [computation for computation in complete if computation.key == chosen]
        computation = choose(complete, self.options)
        return entry if computation is None else CacheOnlyEntry.standing_in(entry, computation, reason)

    def mark_complete(self, entry: EmbedderEntry, scope: str) -> None:
        """Record that this fill-only session embedded everything a session of ``scope`` can ask of the entry."""
        cached = self.embedder(entry)
        self.storage.put_result(complete_plan_key(cached.space, scope), b"{}")

    def embedder(self, entry: EmbedderEntry) -> CachedEmbedder:
        """The embedder behind the store, described (from the store, else by loading). Raises
        EmbedderUnavailable, as loading would, when it cannot run here, or when it stands on the cache alone and
        the session's plan found inputs missing there."""
        reason = entry.unavailable_reason()
        if reason:
            raise EmbedderUnavailable(reason)
        if isinstance(entry, CacheOnlyEntry):
            self._check_cache_only(entry)
        cached = self._embedders.get(entry.name)
        if cached is None:
            kind = CachedVocabularyEmbedder if entry.has_vocabulary else CachedEmbedder
            cached = self._embedders[entry.name] = kind(entry, self)
        cached.info  # noqa: B018 (described now: from the store, else by loading, which may fail like a load)
        return cached

    def release(self, entry: EmbedderEntry) -> None:
        """Free this embedder's model if it is the one loaded; its stored vectors stay available."""
        if self.pool.holds(entry.name):
            self.pool.release()

    def space_of(self, entry: EmbedderEntry) -> str:
        """The embedder's key space (identity and fingerprint), or why it cannot run here; loads no model when
        its description is stored."""
        try:
            return self.embedder(entry).space
        except EmbedderUnavailable as error:
            return f"unavailable: {error}"
        except Exception as error:  # its comparisons fail with it, in the claim run; the others must not
            return f"failed: {error!r}"

    def computed_of(self, entry: EmbedderEntry) -> str | None:
        """Where the embedder's vectors were computed, as its records say; None when it cannot run here."""
        try:
            return self.embedder(entry).computed
        except Exception:  # space_of says why
            return None

    # ------------------------------------------------------------ the plan

    def fill(self, plan: EmbeddingPlan) -> list[FillReport]:
        """Run this process's share of the plan: every embedder no other process is on, one model load each."""
        self.plan = plan
        for entry in plan.order():
            if entry.unavailable_reason():
                continue  # its tests skip with the reason
            if not self.pool.try_hold(entry.name):
                continue  # another process has it; a test that needs it waits for it (ensure_filled)
            try:
                self._fill_one(entry)
            finally:
                self.pool.release()
        return self.reports

    def ensure_filled(self, entry: EmbedderEntry) -> None:
        """Before a test reads what the store lacks (or, under refresh, anything): wait for the process filling
        this embedder's plan, or fill it here, once per process. The lock may have been held by a process that was
        not filling it (a test of another session on the same cache); then this session fills it now, in one load,
        instead of a load per test. Returns holding the embedder's lock, unless this session dealt with the plan
        already (its vectors were committed before the marker was written, so nothing needs to wait)."""
        planned = self.plan is not None and entry.name in self.plan.entries and entry.name not in self._settled
        if planned and self._dealt_with(entry):
            self._settled.add(entry.name)
            return
        self.pool.hold(entry.name)
        if planned:
            self._fill_one(entry)

    def _check_cache_only(self, entry: CacheOnlyEntry) -> None:
        """Whether the plan's inputs were all in the cache, as the process that filled the plan wrote in the
        session's marker (waiting for that process first): if not, its tests skip saying how many were missing."""
        if self.plan is None or entry.name not in self.plan.entries:
            return
        if not self.settled(entry):
            self.ensure_filled(entry)
            self.release(entry)
        marker = self._session_marker(entry)
        problem = marker.read_text() if marker.is_file() else ""
        if problem:
            raise EmbedderUnavailable(problem)

    def _dealt_with(self, entry: EmbedderEntry) -> bool:
        try:
            return self._session_marker(entry).exists()
        except Exception:  # the identity cannot be computed here: _fill_one reports why
            return False

    def settled(self, entry: EmbedderEntry) -> bool:
        return entry.name in self._settled

    def _session_marker(self, entry: EmbedderEntry) -> Path:
        """A file saying that a process of this session has dealt with an embedder's plan: its other processes
        neither fill nor count it again. Kept beside the locks, and removed with the session."""
        assert self.plan is not None
        plan = f"{entry.identity(self.options)}\x00{self.plan.digest(entry.name)}"
        return self.pool.lock_folder / "sessions" / self.shared.token / hashlib.sha256(plan.encode()).hexdigest()[:32]

    def _fill_one(self, entry: EmbedderEntry) -> None:
        """Fill this session's plan for one embedder, unless a process of the session dealt with it already; the
        caller holds the embedder's lock."""
        assert self.plan is not None
        plan = self.plan
        self._settled.add(entry.name)
        report = FillReport(entry.name)
        usage = self.pool.usage_of(entry.name)
        digest = plan.digest(entry.name)
        try:
            seen = self._session_marker(entry)
        except Exception as error:  # a weights stamp that cannot be read: this embedder's tests say why
            report.skipped = describe_failure(error)
            self.reports.append(report)
            return
        if seen.exists():
            return
        refresh = self.mode == "refresh"
        incomplete = ""
        try:
            cached = self.embedder(entry)
            marker = input_key(cached.space, "plan", digest)
            done = None if refresh else self.storage.get_result(marker)
            if done is not None:
                planned = int(json.loads(done)["planned"])
                usage.planned += planned
                usage.from_cache += planned
                report.done_before = True
            else:
                inputs, report.unlisted = plan.inputs(entry.name, cached.info)
                planned = 0
                for form, items in inputs.items():
                    if form == "vocabulary":
                        if isinstance(cached, CachedVocabularyEmbedder):
                            planned += len(cached.vocabulary_head(max(items), planned=True, refresh=refresh)[0])
                    else:
                        cached.embed(form, items, planned=True, refresh=refresh)
                        planned += len(items)
                if not report.unlisted:  # a need that failed to list may list more next time: not done
                    self.storage.put_result(marker, json.dumps({"planned": planned}).encode())
        except CacheIncomplete as error:  # standing on the cache alone, which lacks planned inputs
            report.skipped = incomplete = str(error)
        except Exception as error:  # its tests meet the same failure and report it; the other embedders go on
            report.skipped = describe_failure(error)
        finally:
            # whatever happened, once per session: the other processes neither retry a failed load nor count twice;
            # an embedder standing on the cache alone, which lacks planned inputs, is skipped by them saying so (any
            # other failure its tests meet again, and report)
            seen.parent.mkdir(parents=True, exist_ok=True)
            written = seen.with_name(f"{seen.name}.{os.getpid()}")  # then renamed: never seen half written
            written.write_text(incomplete)
            os.replace(written, seen)
        self.reports.append(report)
