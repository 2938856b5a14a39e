"""The suite's folder on disk (not the embedding cache inside it), atomic writes into it, and file digests computed
once per file version."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from embedders.base import sha256_file


def cache_root() -> Path:
    """$EMBEDDING_CLAIMS_CACHE, else ~/.cache/embedding-claims."""
    return Path(os.environ.get("EMBEDDING_CLAIMS_CACHE") or Path.home() / ".cache" / "embedding-claims").expanduser()


def write_text_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one, whenever the writer is killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cached_sha256(path: Path) -> str:
    """sha256 of a file, remembered on disk by the file's version so a large file is hashed once.

    The version is (device, inode, size, mtime, ctime): the change time is set by the kernel on every write and
    cannot be set back, so a same-size rewrite whose modification time was restored is hashed again. One small
    file per key, so concurrent processes never rewrite each other's entries.
    """
    stat = path.stat()
    version = f"{stat.st_dev}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}"
    key = hashlib.sha256(version.encode()).hexdigest()[:32]
    memo = cache_root() / "sha256" / key
    if memo.is_file():
        return memo.read_text().strip()
    digest = sha256_file(path)
    try:
        write_text_atomically(memo, digest)
    except OSError:
        pass  # a read-only cache only costs hashing again next time
    return digest
