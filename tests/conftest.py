from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

import numpy as np
import pytest
from gensim.models import KeyedVectors

from embedders.static import StaticEmbedder

if TYPE_CHECKING:
    from evals.claims.metrics import ClaimMetric

AddMetric = Callable[["ClaimMetric"], "ClaimMetric"]


def small_static(words: list[str], vectors: np.ndarray, name: str = "tiny") -> StaticEmbedder:
    """The real static backend over a handful of vectors we choose."""
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(words, vectors.astype(np.float32))
    return StaticEmbedder(name, keyed, "test-vectors")


@pytest.fixture(scope="session")
def glove():
    from embedders import resolve

    return resolve("glove-6b-50d").load()


@pytest.fixture
def add_metric() -> Iterator[AddMetric]:
    """Registers a test's own claim metrics for that test only (the registry refuses a name taken, so a metric
    left behind would break the next test that adds it)."""
    from evals.claims.metrics import METRICS

    with ExitStack() as added:
        yield lambda metric: added.enter_context(METRICS.added(metric.name, metric))
