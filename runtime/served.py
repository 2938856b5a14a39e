"""Which model a server answered for, as the cache's keys say it (EmbedderEntry.served: a model name pins no weights
on such a server).

The first answer the server gives to one probe text is stored beside the embedder's vectors, and a digest of it (the
epoch) goes into the key space of every vector and result of the embedder. Each session process asks the server the
probe again before reading anything: an answer like the stored one keeps the epoch; another fails the embedder's
tests, unless --cache=refresh accepts it, which stores it and so starts a new epoch, where nothing computed from the
earlier model can be found. A cache filled before probes were stored has none: its vectors stay under the key space
without an epoch, where a session that asks the server never looks; one standing on the cache alone, with no server
to ask, reads them there (the computation record says where they came from).
"""

from __future__ import annotations

import hashlib

import numpy as np

from embedders import Embedder
from runtime.store import EMBEDDED, Storage, input_key

# Stored under a form of its own, so that no eval's input shares its row.
PROBE = "Is this still the model whose vectors the cache holds?"
PROBE_FORM = "probe"
# The cosine above which two answers to the probe come from one model. Measured in tests/test_llama_server.py: the
# server's vectors against llama.cpp's own, in another batch shape, above 0.9999; the same SmolLM2 weights pooled by
# the last token instead of the mean, 0.670. A GPU server's run-to-run differences were not measured here.
SAME_MODEL = 0.999


class ServedModelChanged(RuntimeError):
    """The server answers the probe otherwise than when the cached vectors were computed."""


class ServedModelUnchecked(RuntimeError):
    """Checking the server failed earlier in this process; it is not asked again (one round of retries, not one per
    test)."""


def stored_epoch(storage: Storage, space: str) -> str:
    """The epoch of the probe answer stored under ``space`` (identity and fingerprint), as a suffix of that key
    space; empty when none is stored. What a session without the server (standing on the cache) reads by."""
    stored = _stored_answer(storage, space)
    return "" if stored is None else _epoch(stored)


def checked_epoch(model: Embedder, storage: Storage, space: str, *, accept: bool) -> str:
    """The epoch of the model the server answers for now, after asking it the probe: the stored one when the answer
    is like it; a new one when nothing is stored or ``accept`` (--cache=refresh) takes a different answer;
    ServedModelChanged otherwise."""
    answer = model.embed_words([PROBE])
    if not answer.found[0]:
        raise ServedModelChanged(f"{model.info.name}: the server gave no vector for the probe {PROBE!r}")
    now = np.asarray(answer.vectors[0], dtype=np.float32)
    then = _stored_answer(storage, space)
    if then is not None:
        cosine = _cosine(now, then)
        if cosine >= SAME_MODEL:
            return _epoch(then)
        if not accept:
            raise ServedModelChanged(
                f"{model.info.name}: the server now answers the probe {PROBE!r} otherwise than when this cache stored "
                f"its vectors (cosine {cosine:.4f} between the two answers; one model gives above {SAME_MODEL}): it "
                "serves other weights, or the same ones otherwise, under that name. Recompute with --cache=refresh "
                "(which keys the new vectors apart from the old), or leave this cache as it is with --cache=off or "
                "another --cache-dir"
            )
    storage.put_vectors([(input_key(space, PROBE_FORM, PROBE), EMBEDDED, now)])
    return _epoch(now)


def _stored_answer(storage: Storage, space: str) -> np.ndarray | None:
    key = input_key(space, PROBE_FORM, PROBE)
    stored = storage.get_vectors([key], None).get(key)
    return stored[1] if stored is not None and stored[0] else None


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:  # the same fingerprint has one dimension; a damaged row need not
        return 0.0
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norms if norms else 0.0


def _epoch(vector: np.ndarray) -> str:
    return ":probe=" + hashlib.sha256(np.ascontiguousarray(vector, dtype=np.float32).tobytes()).hexdigest()[:16]
