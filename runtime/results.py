"""Results computed from embeddings (measurements, claim records), kept in the store under a digest of everything
they depend on, and the code digest that goes into those keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from runtime.store import Storage


class ResultCache:
    """JSON-able results by key. ``read``: whether stored results are used (not under --cache=refresh)."""

    def __init__(self, storage: Storage, *, read: bool) -> None:
        self.storage, self.read = storage, read

    def get_or_compute(
        self,
        namespace: str,
        key_parts: dict[str, object],
        compute: Callable[[], object],
        keep: Callable[[object], bool] = lambda result: True,
    ) -> object:
        """The stored result under a digest of ``namespace`` and ``key_parts`` (the embedders' key spaces, the
        data, the code and the settings that produced it), else ``compute()``'s, stored unless ``keep`` refuses it
        (a failure that may not recur)."""
        payload = json.dumps({"namespace": namespace, **key_parts}, sort_keys=True, default=str)
        key = hashlib.sha256(payload.encode()).digest()
        if self.read:
            stored = self.storage.get_result(key)
            if stored is not None:
                try:
                    return json.loads(stored)
                except ValueError:
                    pass
        result = json.loads(json.dumps(compute(), default=str))  # stored or not, the caller sees the same form
        if keep(result):
            self.storage.put_result(key, json.dumps(result).encode())
        return result


def source_digest(*roots: Path) -> str:
    """sha256 over each file root and every file under each folder root (code, TOML, the authored data files),
    leaving out bytecode, hidden files and editor backups: results computed by other code or from other data
    never match."""
    digest = hashlib.sha256()
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if _is_source(p, root))
        for path in paths:
            try:
                content = path.read_bytes()
            except OSError:  # removed while we looked (an editor's temporary file)
                continue
            digest.update(f"{path.relative_to(root.parent)}\n".encode())
            digest.update(content)
    return digest.hexdigest()


def _is_source(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    hidden = any(part.startswith(".") or part == "__pycache__" for part in parts)
    return not hidden and not path.name.endswith("~") and path.is_file()
