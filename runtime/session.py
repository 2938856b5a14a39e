"""The runtime of one session: where vectors and results are kept, the model pool, the cached embedders, and the
plan's execution. One object, built when the session starts and handed to what needs it."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from embedders import EmbedderEntry, EmbedderUnavailable, LoadOptions
from runtime.embedder import CachedEmbedder, CachedVocabularyEmbedder
from runtime.plan import EmbeddingPlan, FillReport, describe_failure
from runtime.pool import ModelPool
from runtime.results import ResultCache
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
        self.owns_scratch = shared is None and mode in ("ro", "off")
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

    def describe(self) -> str:
        if self.mode == "off":
            return "off (a scratch store for this session only)"
        return f"{self.mode} at {self.folder}"

    def close(self) -> None:
        self.pool.release()
        self.storage.close()
        if self.owns_scratch and self.shared.scratch:
            shutil.rmtree(self.shared.scratch, ignore_errors=True)

    # ------------------------------------------------------------ embedders

    def embedder(self, entry: EmbedderEntry) -> CachedEmbedder:
        """The embedder behind the store, described (from the store, else by loading). Raises
        EmbedderUnavailable, as loading would, when it cannot run here."""
        reason = entry.unavailable_reason()
        if reason:
            raise EmbedderUnavailable(reason)
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

    # ------------------------------------------------------------ the plan

    def fill(self, plan: EmbeddingPlan) -> list[FillReport]:
        """Run this process's share of the plan: every embedder no other process is on, one model load each."""
        reports = []
        for entry in plan.order():
            if entry.unavailable_reason():
                continue  # its tests skip with the reason
            if not self.pool.try_hold(entry.name):
                continue  # another worker is filling it; tests that need it wait for its lock
            try:
                reports.append(self._fill_one(entry, plan))
            finally:
                self.pool.release()
        return reports

    def _fill_one(self, entry: EmbedderEntry, plan: EmbeddingPlan) -> FillReport:
        report = FillReport(entry.name)
        usage = self.pool.usage_of(entry.name)
        try:
            cached = self.embedder(entry)
            digest = plan.digest(entry.name)
            marker = input_key(cached.space, "plan", digest + (self.shared.token if self.mode == "refresh" else ""))
            # which process of this session has accounted for this embedder's plan: the first one, only
            seen = input_key(cached.space, "plan-seen", digest + self.shared.token)
            if self.storage.get_result(seen) is not None:
                report.done_before = True
                return report
            done = self.storage.get_result(marker)
            if done is not None:
                planned = int(json.loads(done)["planned"])
                usage.planned += planned
                usage.from_cache += planned
                self.storage.put_result(seen, b"{}")
                report.done_before = True
                return report
            inputs, report.unlisted = plan.inputs(entry.name, cached.info)
            planned = 0
            for form, items in inputs.items():
                if form == "vocabulary":
                    if isinstance(cached, CachedVocabularyEmbedder):
                        planned += len(cached.vocabulary_head(max(items), planned=True)[0])
                else:
                    cached.embed(form, items, planned=True, refresh=self.mode == "refresh")
                    planned += len(items)
            if not report.unlisted:  # a need that failed to list may list more next time: not done
                self.storage.put_result(marker, json.dumps({"planned": planned}).encode())
                self.storage.put_result(seen, b"{}")
        except Exception as error:  # its tests meet the same failure and report it; the other embedders go on
            report.skipped = describe_failure(error)
        return report
