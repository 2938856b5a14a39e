"""A user's vector file is identified by its content: a same-size rewrite whose modification time was set back
gets a new identity and so new vectors; an unchanged file is not read again to know it (its digest is remembered
on disk by file version, as a new session finds it); the identity names no folder of this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from embedders import disk, resolve
from runtime.session import Runtime


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EMBEDDING_CLAIMS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def session(cache_folder: Path) -> Iterator[list[Runtime]]:
    """The runtimes a test opens on the cache (one per pytest session it stands for), closed after it."""
    opened: list[Runtime] = []
    yield opened
    for runtime in opened:
        runtime.close()


def vectors_file(path: Path, first: str) -> Path:
    path.write_text(f"3 2\ncat {first}\ndog 0.5 0.5\nsun -1.0 0.25\n")
    return path


def test_a_same_size_rewrite_with_the_old_mtime_gets_new_vectors(
    tmp_path: Path, cache_folder: Path, session: list[Runtime]
) -> None:
    path = vectors_file(tmp_path / "vectors.txt", "1.0 0.0")
    before = os.stat(path)
    entry = resolve(f"word2vec:{path}")
    identity = entry.identity()
    session.append(Runtime("rw", cache_folder / "embeddings"))
    old = session[-1].embedder(entry).embed_words(["cat"]).vectors[0]
    session[-1].close()

    vectors_file(path, "0.0 1.0")  # as many bytes as before
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    session.append(Runtime("rw", cache_folder / "embeddings"))  # a new session, same cache
    entry = resolve(f"word2vec:{path}")
    assert entry.identity() != identity
    new = session[-1].embedder(entry).embed_words(["cat"]).vectors[0]
    session[-1].release(entry)
    assert not np.allclose(old, new)
    assert np.allclose(new / np.linalg.norm(new), [0.0, 1.0])


def test_an_unchanged_file_is_not_read_again_and_its_identity_is_portable(
    tmp_path: Path, cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = vectors_file(tmp_path / "vectors.txt", "1.0 0.0")
    stamp = resolve(f"word2vec:{path}").stamp
    assert stamp is not None
    first = stamp()
    assert first == f"sha256:{disk.sha256_file(path)}" and str(tmp_path) not in first
    reads: list[Path] = []
    hash_file = disk.sha256_file
    monkeypatch.setattr(disk, "sha256_file", lambda file: reads.append(file) or hash_file(file))
    # nothing in this process remembers it: the digest comes from the memo on disk, as in a new session
    assert resolve(f"word2vec:{path}").stamp() == first  # type: ignore[misc]
    assert reads == []
    # a folder's stamp names its files relative to it
    folder = tmp_path / "model"
    folder.mkdir()
    vectors_file(folder / "vectors.txt", "1.0 0.0")
    from embedders.registry import path_stamp

    assert path_stamp(folder) == f"vectors.txt:{first}"
