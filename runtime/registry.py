"""One registry for everything the suite finds by name: embedders, path formats, datasets, claim metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """A name registered twice, or looked up and not there; the message names the registry and its choices."""

    def __str__(self) -> str:  # KeyError quotes its message; ours is a sentence
        return str(self.args[0])


class Registry(Generic[T]):
    """Names to entries, filled once at import. Registering a name twice is an error, never a silent
    replacement: two modules claiming one name would otherwise make the result depend on import order."""

    def __init__(self, what: str) -> None:
        self.what = what  # e.g. "embedder", for messages
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise RegistryError(f"{self.what} {name!r} registered twice")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove an entry (tests that register their own must not leak it into later tests)."""
        return self._entries.pop(name)

    @contextmanager
    def added(self, name: str, entry: T) -> Iterator[T]:
        """``entry`` registered for the duration of a with-block only (a test's own metric or embedder), refused
        like any other if the name is taken."""
        self.register(name, entry)
        try:
            yield entry
        finally:
            self.unregister(name)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(f"no {self.what} named {name!r}; registered: {', '.join(sorted(self))}") from None

    def get(self, name: str, default: T | None = None) -> T | None:
        return self._entries.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def values(self) -> list[T]:
        return list(self._entries.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {len(self)} entries)"
