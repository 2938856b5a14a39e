"""A process that embeds words through the embedding cache, for the multi-process tests of test_embedding_cache.py.

    python tests/cache_worker.py CACHE_DIR LOG_FILE N_WORDS [--hold SECONDS]

Every word the fake model computes is appended to LOG_FILE with this process's id, so a test can count
computations across processes; the digest of the vectors it got is printed on stdout.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embedders import EmbedderEntry, EmbedderInfo, Embeddings, Extraction, Family, WordInContext
from runtime.session import Runtime

DIMENSION = 16
CONTEXT = 30


def vector_of(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)


class FakeModel:
    """Deterministic vectors from the text; logs what it computes; optionally slow, to widen races."""

    def __init__(self, log: Path | None, delay: float = 0.0, extraction: Extraction | None = None) -> None:
        self.log, self.delay = log, delay
        self.info = EmbedderInfo(
            name="fake",
            family=Family.SENTENCE_ENCODER,
            parameters=1,
            dimension=DIMENSION,
            extraction=extraction
            or Extraction(pooling="mean", layer="last", prompt=None, normalisation="none", casing="as given", oov="-"),
            weights="fake-weights-1",
        )
        self.computed: list[str] = []

    def _vectors(self, texts: Sequence[str]) -> Embeddings:
        time.sleep(self.delay)
        self.computed.extend(texts)
        if self.log is not None:
            with open(self.log, "a") as out:
                out.write("".join(f"{os.getpid()} {text}\n" for text in texts))
        found = np.array([t != "" for t in texts], dtype=bool)
        # Inputs longer than the fake context window are marked truncated, as the real backends mark theirs.
        truncated = np.array([len(t) > CONTEXT for t in texts], dtype=bool)
        return Embeddings(np.stack([vector_of(t) for t in texts]), found, truncated)

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return self._vectors(list(words))

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return self._vectors(list(sentences))

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        return self._vectors([f"{i.sentence}|{i.start}|{i.end}" for i in items])


class Loader:
    """Counts loads; each load gives a fresh fake model (as a real reload would)."""

    def __init__(self, **options: object) -> None:
        self.models: list[FakeModel] = []
        self.options = options

    def __call__(self) -> FakeModel:
        self.models.append(FakeModel(None, **self.options))  # type: ignore[arg-type]
        return self.models[-1]

    @property
    def computed(self) -> list[str]:
        return [text for model in self.models for text in model.computed]


def fake_entry(loader: Callable[[], object], name: str = "fake") -> EmbedderEntry:
    """An entry whose loader ignores the load options (a fake model has none to honour)."""
    return EmbedderEntry(
        name, Family.SENTENCE_ENCODER, 1, DIMENSION, "a fake model for cache tests", lambda options: loader()
    )


def main() -> None:
    cache_dir, log, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    runtime = Runtime("rw", cache_dir)
    try:
        embedder = runtime.embedder(fake_entry(lambda: FakeModel(log, delay=0.5)))
        result = embedder.embed_words([f"word{i}" for i in range(count)])
    finally:
        runtime.close()
    print(hashlib.sha256(result.vectors.tobytes() + result.found.tobytes() + result.truncated.tobytes()).hexdigest())


if __name__ == "__main__":
    main()
