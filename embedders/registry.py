"""Registries of named embedders and of path-based kinds (``word2vec:/path``), filled by decorators."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from embedders.base import Embedder, EmbedderUnavailable, Family

Loader = Callable[[], Embedder]


@dataclass(frozen=True)
class EmbedderEntry:
    """A registered embedder, described without loading it."""

    name: str
    family: Family
    parameters: int | None
    dimension: int | None
    summary: str
    loader: Loader
    requires: tuple[str, ...] = ()
    how_to_get: str = ""
    check: Callable[[], str | None] | None = None  # a further availability test, e.g. weights on disk

    def unavailable_reason(self) -> str | None:
        """Why this embedder cannot run here, with how to get it; None when it can. Loads nothing."""
        missing = [module for module in self.requires if importlib.util.find_spec(module) is None]
        if missing:
            return f"{self.name} needs {', '.join(missing)}: {self.how_to_get}"
        problem = self.check() if self.check else None
        return f"{self.name}: {problem}" if problem else None

    def load(self) -> Embedder:
        reason = self.unavailable_reason()
        if reason:
            raise EmbedderUnavailable(reason)
        return self.loader()


@dataclass(frozen=True)
class EmbedderKind:
    """A way to load the user's own weights from a path, selected as ``KIND:PATH``."""

    kind: str
    family: Family
    summary: str
    opener: Callable[[Path], Embedder]
    check: Callable[[Path], None]  # raises ValueError on a path this kind cannot open

    def entry(self, spec: str, path: Path) -> EmbedderEntry:
        return EmbedderEntry(
            name=spec,
            family=self.family,
            parameters=None,
            dimension=None,
            summary=f"{self.summary} from {path}",
            loader=lambda: self.opener(path),
        )


EMBEDDERS: dict[str, EmbedderEntry] = {}
KINDS: dict[str, EmbedderKind] = {}


def register_embedder(
    name: str,
    *,
    family: Family,
    parameters: int | None,
    dimension: int | None,
    summary: str,
    requires: Sequence[str] = (),
    how_to_get: str = "",
    check: Callable[[], str | None] | None = None,
) -> Callable[[Loader], Loader]:
    def decorate(loader: Loader) -> Loader:
        if name in EMBEDDERS:
            raise ValueError(f"embedder {name!r} registered twice")
        EMBEDDERS[name] = EmbedderEntry(
            name, family, parameters, dimension, summary, loader, tuple(requires), how_to_get, check
        )
        return loader

    return decorate


def register_kind(
    kind: str, *, family: Family, summary: str, check: Callable[[Path], None]
) -> Callable[[Callable[[Path], Embedder]], Callable[[Path], Embedder]]:
    def decorate(opener: Callable[[Path], Embedder]) -> Callable[[Path], Embedder]:
        if kind in KINDS:
            raise ValueError(f"embedder kind {kind!r} registered twice")
        KINDS[kind] = EmbedderKind(kind, family, summary, opener, check)
        return opener

    return decorate


class SpecError(ValueError):
    """An --embedder value that names nothing we can load."""


def resolve(spec: str) -> EmbedderEntry:
    """Turn one --embedder value into an entry, without loading any weights."""
    spec = spec.strip()
    if spec in EMBEDDERS:
        return EMBEDDERS[spec]
    kind, sep, raw_path = spec.partition(":")
    if sep and kind in KINDS:
        path = Path(raw_path).expanduser()
        if not path.exists():
            raise SpecError(f"--embedder {spec}: {path} does not exist")
        try:
            KINDS[kind].check(path)
        except ValueError as error:
            raise SpecError(f"--embedder {spec}: {error}") from None
        return KINDS[kind].entry(spec, path)
    raise SpecError(f"--embedder {spec!r} is neither a registered name nor KIND:PATH.\n{valid_choices()}")


def valid_choices() -> str:
    names = ", ".join(sorted(EMBEDDERS))
    kinds = ", ".join(f"{kind}:PATH" for kind in sorted(KINDS))
    return f"Registered names: {names}\nPath specs: {kinds}"
