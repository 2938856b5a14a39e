import os
from pathlib import Path

import pytest

from embedders import disk


def test_digest_is_computed_once_per_file_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_CLAIMS_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    calls: list[Path] = []
    monkeypatch.setattr(disk, "sha256_file", lambda path: calls.append(path) or "d1")
    assert disk.cached_sha256(weights) == "d1"
    assert disk.cached_sha256(weights) == "d1"  # remembered on disk, as a new process would find it
    assert len(calls) == 1
    weights.write_bytes(b"other weights")
    os.utime(weights, ns=(1, 1))
    disk.cached_sha256(weights)
    assert len(calls) == 2


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "entry.txt"
    disk.write_text_atomically(target, "one")
    disk.write_text_atomically(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["entry.txt"]
