"""Each embedder's model loaded at most once per process, and released when no longer needed."""

from __future__ import annotations

import gc
import importlib.util

from embedders import Embedder, EmbedderEntry
from embedders.threads import limit_torch_threads

_loaded: dict[str, Embedder] = {}


def load_embedder(entry: EmbedderEntry) -> Embedder:
    if entry.name not in _loaded:
        if importlib.util.find_spec("torch") is not None:
            limit_torch_threads()
        _loaded[entry.name] = entry.load()
    return _loaded[entry.name]


def release_embedder(entry: EmbedderEntry) -> None:
    embedder = _loaded.pop(entry.name, None)
    close = getattr(embedder, "close", None)
    if callable(close):
        close()
    del embedder
    gc.collect()
