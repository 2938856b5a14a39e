"""Embedder backends behind one protocol, found by name in a registry."""

# importing a backend module registers its embedders; each imports its heavy libraries only when loading
from embedders import api, llm, sentence, simcse, static  # noqa: F401
from embedders.base import (
    INPUT_FORMS,
    Embedder,
    EmbedderInfo,
    EmbedderUnavailable,
    Embeddings,
    Extraction,
    Family,
    HasVocabulary,
    LoadOptions,
    WordInContext,
)
from embedders.devices import describe_device
from embedders.registry import EMBEDDERS, SPEC_FORMS, EmbedderEntry, SpecError, resolve, valid_choices

__all__ = [
    "EMBEDDERS",
    "INPUT_FORMS",
    "SPEC_FORMS",
    "Embedder",
    "EmbedderEntry",
    "EmbedderInfo",
    "EmbedderUnavailable",
    "Embeddings",
    "Extraction",
    "Family",
    "HasVocabulary",
    "LoadOptions",
    "SpecError",
    "WordInContext",
    "describe_device",
    "resolve",
    "valid_choices",
]
