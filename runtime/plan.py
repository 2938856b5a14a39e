"""The session's embedding plan: every input each embedder will be asked for, known before any test runs, so each
model is loaded once, by one process, for all of it.

Tests and claims contribute what they will need (a dataset's words, a claim metric's inputs, a static model's most
frequent words); the union per embedder is that embedder's plan. ``fill`` runs it: for each embedder in turn
(largest first, so parallel workers finish together) a process that can take the embedder's lock loads the model
once, computes every planned input the store lacks, and lets go; one that cannot (another worker is on it) moves
on. Tests then read vectors from the store, waiting on the lock only for an embedder still being computed.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from embedders import EmbedderEntry, EmbedderInfo
from runtime.store import input_key

# input form (see embedders.INPUT_FORMS; and "vocabulary": the head size of a static model's own word list) -> inputs
Inputs = dict[str, list]
Contribution = Callable[[EmbedderInfo], Inputs]


@dataclass
class Need:
    """One test's or claim's inputs for one embedder: ``describe`` names it (and the data it reads) for the plan's
    digest; ``inputs`` lists them, given the embedder's description."""

    describe: str
    inputs: Contribution


@dataclass
class EmbeddingPlan:
    entries: dict[str, EmbedderEntry] = field(default_factory=dict)
    needs: dict[str, list[Need]] = field(default_factory=dict)

    def add(self, entry: EmbedderEntry, need: Need) -> None:
        self.entries.setdefault(entry.name, entry)
        self.needs.setdefault(entry.name, []).append(need)

    def order(self) -> list[EmbedderEntry]:
        """Largest models first: the slowest fill starts first, so parallel workers finish close together."""
        return sorted(self.entries.values(), key=lambda e: -(e.parameters or 0))

    def digest(self, name: str) -> str:
        """What the plan asks of one embedder, by description: equal digests list equal inputs."""
        described = sorted({need.describe for need in self.needs.get(name, [])})
        return hashlib.sha256("\n".join(described).encode()).hexdigest()

    def inputs(self, name: str, info: EmbedderInfo) -> tuple[Inputs, list[str]]:
        """The union of the embedder's needs, by form, each input once; and the needs that could not list their
        inputs (their tests report why when they run)."""
        union: dict[str, dict[Hashable, None]] = {}
        failed: list[str] = []
        for need in self.needs.get(name, []):
            try:
                listed = need.inputs(info)
            except Exception as error:  # the test or claim fails on its own, saying why; the plan goes on
                failed.append(f"{need.describe}: {type(error).__name__}: {error}")
                continue
            for form, items in listed.items():
                union.setdefault(form, {}).update(dict.fromkeys(items))
        return {form: list(items) for form, items in union.items()}, failed


def complete_plan_key(space: str, scope: str) -> bytes:
    """Where a fill-only session records that it embedded every input any session of ``scope`` (the same evals,
    claims and datasets, see harness.plugin.plan_scope) can ask of the embedder with this key space: what lets a
    session without the weights stand on those vectors, whatever it selects."""
    return input_key(space, "complete plan", scope)


@dataclass
class FillReport:
    """What filling one embedder's plan did in this process."""

    name: str
    done_before: bool = False  # the store already held all of it (by the plan's marker)
    skipped: str | None = None  # not run here: unavailable, or the load failed (its tests fail with the reason)
    unlisted: list[str] = field(default_factory=list)


def describe_failure(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"
