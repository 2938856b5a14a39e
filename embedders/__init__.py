"""Embedder backends behind one protocol, found by name in a registry."""

from embedders import static  # noqa: F401  (registers its embedders)
from embedders.base import (
    Embedder,
    EmbedderInfo,
    EmbedderUnavailable,
    Embeddings,
    Extraction,
    Family,
    HasVocabulary,
    WordInContext,
)
from embedders.registry import EMBEDDERS, KINDS, EmbedderEntry, SpecError, resolve, valid_choices

__all__ = [
    "EMBEDDERS",
    "KINDS",
    "Embedder",
    "EmbedderEntry",
    "EmbedderInfo",
    "EmbedderUnavailable",
    "Embeddings",
    "Extraction",
    "Family",
    "HasVocabulary",
    "SpecError",
    "WordInContext",
    "resolve",
    "valid_choices",
]
