"""A measurement: one embedder on one dataset under one protocol, with per-item scores."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from embedders import EmbedderInfo, Embeddings
from evals.records import EmbedderRecord, MeasurementRecord
from fixtures import DatasetInfo

OOVPolicy = Literal["skip", "zero"]
OOV_POLICIES: tuple[OOVPolicy, ...] = ("skip", "zero")


@dataclass
class Measurement:
    task: str
    variant: str  # the task's own protocol in a few words, e.g. "closed/3cosadd"; part of the test's key
    embedder: EmbedderInfo
    dataset: DatasetInfo
    protocol: dict[str, object]
    metrics: dict[str, float]
    items: np.ndarray = field(repr=False)  # one score per dataset item, NaN where the item was skipped
    computed: str | None = None  # where the embedder's vectors were computed, when the cache says

    @property
    def check(self) -> str:
        return "/".join(part for part in (self.task, self.dataset.name, self.variant) if part)

    def as_record(self) -> MeasurementRecord:
        return MeasurementRecord(
            check=self.check,
            task=self.task,
            variant=self.variant,
            embedder=EmbedderRecord.from_json(self.embedder.as_record() | {"computed": self.computed}),
            dataset=self.dataset.as_record(),
            protocol=self.protocol,
            metrics=self.metrics,
        )


class NonFiniteVectors(RuntimeWarning):
    """A model returned NaN or infinite values; those inputs are treated as missing, never scored."""


def input_counts(embeddings: Embeddings) -> dict[str, int]:
    """What happened to the inputs: recorded with every measurement, so no problem is silently scored."""
    vectors = np.asarray(embeddings.vectors, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    truncated = embeddings.truncated
    return {
        "total": len(vectors),
        "not_embedded": int((~embeddings.found).sum()),
        "non_finite": int((embeddings.found & ~finite).sum()),
        "zero": int((embeddings.found & finite & ~vectors.any(axis=1)).sum()),
        "truncated": int(truncated.sum()) if truncated is not None else 0,
    }


def usable_unit_vectors(embeddings: Embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length, and which rows are usable (found, finite and non-zero).

    NaN or infinite rows are unusable, like missing words, and raise a NonFiniteVectors warning.
    """
    vectors = np.asarray(embeddings.vectors, dtype=np.float32)
    finite = np.isfinite(vectors).all(axis=1)
    if (bad := int((embeddings.found & ~finite).sum())) > 0:
        warnings.warn(
            f"{bad} of {len(vectors)} vectors hold NaN or inf values; they are treated as missing",
            NonFiniteVectors,
            stacklevel=2,
        )
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(np.where(finite[:, None], vectors, 0), axis=1)
    usable = embeddings.found & finite & np.isfinite(norms) & (norms > 0)
    unit = np.zeros_like(vectors)
    unit[usable] = vectors[usable] / norms[usable, None]
    return unit, usable
