"""A copy of the suite's sources at another path, for tests that run sessions from another checkout (with files of
its own at its root, such as embedders.toml, or at a path that must not enter any identity)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (
    "conftest.py",
    "pytest.ini",
    "pyproject.toml",
    "embedders",
    "evals",
    "fixtures",
    "harness",
    "ledger",
    "runtime",
)


def checkout(folder: Path) -> Path:
    """The suite's sources copied into ``folder`` (made if need be); returns it."""
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    return folder
