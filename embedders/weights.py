"""Where a model's weights are and what identifies them: a model folder's files, and the local Hugging Face cache.

Only disk is ever looked at: nothing here downloads.
"""

from __future__ import annotations

import json
from pathlib import Path

from embedders.disk import cached_sha256

WEIGHT_PATTERNS = ("*.safetensors", "*.bin")


def weight_files(folder: Path) -> list[Path]:
    """The weight files at the top of a transformers model folder."""
    return sorted(p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file())


def folder_weights(folder: Path) -> str:
    """The identity of a model folder's weights: ``hf:REPO@COMMIT`` for a Hugging Face snapshot, else the sha256 of
    every weight and config file under it by relative name (each hashed once per file version, see cached_sha256).

    A config is part of it because it changes the vectors as surely as the weights (layers, positions, pooling);
    files in module folders (a sentence-transformers model's) count too."""
    snapshot = snapshot_identity(folder)
    if snapshot is not None:
        return snapshot
    files = sorted(
        {p for pattern in (*WEIGHT_PATTERNS, "config.json") for p in folder.rglob(pattern) if p.is_file()},
        key=lambda p: str(p.relative_to(folder)),
    )
    if not any(p.name != "config.json" for p in files):
        raise ValueError(f"{folder} holds no weights (*.safetensors or *.bin)")
    return " ".join(f"{file.relative_to(folder)}:sha256:{cached_sha256(file)}" for file in files)


# ---------------------------------------------------------------- the local Hugging Face cache


def snapshot_identity(folder: Path) -> str | None:
    """``hf:REPO@COMMIT`` when the folder is a snapshot in a Hugging Face cache, else None. A snapshot is
    content-addressed by its commit, so hashing many GB again would add nothing."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        repo = folder.parent.parent.name.removeprefix("models--").replace("--", "/")
        return f"hf:{repo}@{folder.name}"
    return None


def hub_cache(cache_dir: str | None = None) -> Path:
    """The cache folder given, else huggingface_hub's (read when called, so a changed setting is seen)."""
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE)


def cached_file(repo: str, filename: str, cache_dir: str | None = None) -> Path | None:
    """A file of the repo's snapshot that the cache's ``main`` ref points at, if it is on disk."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, filename, cache_dir=str(hub_cache(cache_dir)))
    return Path(found) if isinstance(found, str) else None


def complete_snapshot(snapshot: Path) -> bool:
    """config.json and every weight file, shards included (an interrupted download leaves some out)."""
    if not (snapshot / "config.json").is_file() or not weight_files(snapshot):
        return False
    for index in snapshot.glob("*.index.json"):
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        if not all((snapshot / shard).is_file() for shard in shards):
            return False
    return True


def hub_snapshot(repo: str, cache_dir: str | None = None) -> Path | None:
    """The repo's snapshot in the local Hugging Face cache, if complete: the ``main`` ref's first, else the newest."""
    config = cached_file(repo, "config.json", cache_dir)
    candidates = [config.parent] if config is not None else []
    # A revision fetched without the "main" ref has no refs/main: fall back to any complete snapshot.
    snapshots = hub_cache(cache_dir) / f"models--{repo.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir():
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((snapshot for snapshot in candidates if complete_snapshot(snapshot)), None)


def snapshot_stamp(repo: str) -> str:
    """Which snapshot of the repo the local cache holds, by its commit (the snapshot folder's name), for an entry's
    identity: never the cache's path, so the identity is the same on any machine and under any HOME."""
    snapshot = hub_snapshot(repo)
    return f"hf:{repo}@{snapshot.name}" if snapshot is not None else "not cached"


def hub_weights(repo: str, cache_dir: str | None = None) -> str:
    """Hub revision and weights digest of a checkpoint in the local Hugging Face cache."""
    for filename in ("model.safetensors", "pytorch_model.bin"):
        cached = cached_file(repo, filename, cache_dir)
        if cached is not None:
            return f"hf:{repo}@{cached.parent.name} sha256:{cached_sha256(cached)}"  # snapshots/<commit>/file
    return f"hf:{repo} (weights file not located in the cache)"
