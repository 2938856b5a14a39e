"""The one narrow protocol every embedder backend implements, and the metadata that describes it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


class Family(StrEnum):
    STATIC = "static"
    SENTENCE_ENCODER = "sentence-encoder"
    LLM = "llm"
    API = "api"


@dataclass(frozen=True)
class Extraction:
    """Every choice that changes the vectors an embedder returns; recorded with each result."""

    pooling: str
    layer: str
    prompt: str | None
    normalisation: str
    casing: str
    oov: str


@dataclass(frozen=True)
class EmbedderInfo:
    name: str
    family: Family
    parameters: int | None
    dimension: int | None
    extraction: Extraction
    weights: str  # identity of the weights: a sha256, a package version or a hub revision
    # What the backend can do, declared by it (never guessed from the free-text extraction): a word list of its
    # own, which the open-vocabulary protocols search; and a vector of its own for a word in context (its tokens',
    # or a static model's word vector) rather than the whole sentence's, which token-level claims (C3) need.
    has_vocabulary: bool = False
    token_vectors: bool = False

    @property
    def fingerprint(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def as_record(self) -> dict[str, object]:
        record = asdict(self)
        record["fingerprint"] = self.fingerprint
        return record


@dataclass(frozen=True)
class WordInContext:
    """A word given by its character span inside a sentence."""

    sentence: str
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.sentence[self.start : self.end]


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a batch of inputs; rows whose input the model cannot embed have found=False and are zero."""

    vectors: np.ndarray
    found: np.ndarray
    # rows whose input was longer than the model's context and was cut before embedding (None: none were)
    truncated: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.found) != len(self.vectors):
            raise ValueError("found mask and vectors differ in length")
        if self.truncated is not None and len(self.truncated) != len(self.vectors):
            raise ValueError("truncated mask and vectors differ in length")

    @classmethod
    def complete(cls, vectors: np.ndarray) -> Embeddings:
        return cls(vectors, np.ones(len(vectors), dtype=bool))

    @property
    def coverage(self) -> float:
        return float(self.found.mean()) if len(self.found) else 1.0


# Each form of input and the protocol method that embeds it; an input's form is part of its key in the store.
INPUT_FORMS = {"words": "embed_words", "sentences": "embed_sentences", "in-context": "embed_in_context"}


@runtime_checkable
class Embedder(Protocol):
    info: EmbedderInfo

    def embed_words(self, words: Sequence[str]) -> Embeddings: ...

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings: ...

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings: ...


@dataclass(frozen=True)
class LoadOptions:
    """How the session asks a backend to load its model (--device, --dtype, --trust-remote-code, --llm-strategy):
    handed to every loader, and part of every identity, since each may change the vectors."""

    device: str = "cpu"
    dtype: str = "float32"
    trust_remote_code: bool = False
    llm_strategy: str = "mean"


class EmbedderUnavailable(RuntimeError):
    """The embedder's weights or package cannot be had here; the message says how to get them."""


def fold_index(keys: Sequence[str]) -> dict[str, int]:
    """Case-insensitive lookup that, like gensim's evaluators, prefers the most frequent case variant."""
    return {key.upper(): index for index, key in reversed(list(enumerate(keys)))}


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@runtime_checkable
class HasVocabulary(Protocol):
    """A model with its own word list (static vectors), which the open-vocabulary protocols need."""

    def vocabulary_head(self, size: int) -> tuple[list[str], np.ndarray]:
        """The ``size`` most frequent words (fewer if the model has fewer) and their vectors, row for row."""
        ...
