"""Installed package versions, looked up one way for backends, identities and ledgers alike."""

from __future__ import annotations

import functools
import importlib.metadata


def version_of(distribution: str) -> str | None:
    """The installed version of a distribution (its PyPI name), or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def installed(distribution: str) -> str:
    """``name==version``, or ``name not installed``: for text that names what produced a result."""
    found = version_of(distribution)
    return f"{distribution}=={found}" if found is not None else f"{distribution} not installed"


@functools.cache
def module_versions(module: str) -> str:
    """The distributions that provide an importable module (a module may come from several), each as
    ``name==version``; ``not installed`` when none does."""
    distributions = _distributions_of_modules().get(module.split(".")[0], [])
    return " ".join(f"{name}=={version_of(name) or '?'}" for name in sorted(set(distributions))) or "not installed"


@functools.cache
def _distributions_of_modules() -> dict[str, list[str]]:
    # reads every installed distribution's metadata: a quarter of a second each time, so once per process
    return importlib.metadata.packages_distributions()
