"""A measurement: one embedder on one dataset under one protocol, with per-item scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from embedders import EmbedderInfo, Embeddings
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

    @property
    def check(self) -> str:
        return "/".join(part for part in (self.task, self.dataset.name, self.variant) if part)

    def as_record(self) -> dict[str, object]:
        return {
            "check": self.check,
            "task": self.task,
            "variant": self.variant,
            "embedder": self.embedder.as_record(),
            "dataset": self.dataset.as_record(),
            "protocol": self.protocol,
            "metrics": self.metrics,
        }


def usable_unit_vectors(embeddings: Embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length, and which rows are usable (found, finite and non-zero)."""
    vectors = np.asarray(embeddings.vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    usable = embeddings.found & np.isfinite(norms) & (norms > 0)
    unit = np.zeros_like(vectors)
    unit[usable] = vectors[usable] / norms[usable, None]
    return unit, usable
