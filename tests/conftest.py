from __future__ import annotations

import numpy as np
import pytest
from gensim.models import KeyedVectors

from embedders.static import StaticEmbedder


def small_static(words: list[str], vectors: np.ndarray, name: str = "tiny") -> StaticEmbedder:
    """The real static backend over a handful of vectors we choose."""
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(words, vectors.astype(np.float32))
    return StaticEmbedder(name, keyed, "test-vectors")


@pytest.fixture(scope="session")
def glove():
    from embedders import resolve

    return resolve("glove-6b-50d").load()
