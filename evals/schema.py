"""The schema of the TOML files we read: every key is declared with a check that says what it allows, so a key
is validated by declaring it and a key nobody declared is refused.

Our own few checks rather than pydantic: pydantic is in the venv only as another package's dependency, not one of
ours, and what the files need (ranges, choices, names in our registries, cross-key rules) is a few lines each with
messages in our words. A dataclass field declares its TOML key with ``key(check)`` in its metadata."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, fields
from typing import Any, TypeVar

from embedders import EMBEDDERS, SPEC_FORMS, Family

Check = Callable[[object], Any]  # the value as it is used; raises Invalid saying what is allowed


class Invalid(ValueError):
    """A value outside what its key allows; the message says what is allowed."""


class NameWarning(UserWarning):
    """A name no registry knows yet: allowed (a plugin may register it later), never silently."""


def text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("must be a non-empty text")
    return value


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid("must be true or false")
    return value


def integer(at_least: int, at_most: int | None = None) -> Check:
    def check(value: object) -> int:
        # TOML's booleans are Python ints: true is not a count
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid("must be a whole number")
        if value < at_least or (at_most is not None and value > at_most):
            raise Invalid(f"must be at least {at_least}" + (f" and at most {at_most}" if at_most is not None else ""))
        return value

    return check


def number(low: float = -math.inf, high: float = math.inf, *, open_low: bool = False, open_high: bool = False) -> Check:
    """A finite number within [low, high]; ``open_low``/``open_high`` exclude the bound itself."""
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"

    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid("must be a number")
        value = float(value)
        if not math.isfinite(value):
            raise Invalid("must be a finite number")
        below = value <= low if open_low else value < low
        above = value >= high if open_high else value > high
        if below or above:
            raise Invalid(f"must be in {interval}")
        return value

    return check


def choice(allowed: Iterable[str]) -> Check:
    options = tuple(allowed)

    def check(value: object) -> str:
        if value not in options:
            raise Invalid(f"is not one of {', '.join(map(repr, options))}")
        return str(value)

    return check


def one_or_list(item: Check) -> Check:
    """One value or a non-empty list of them; a list becomes a tuple (records are hashable)."""

    def check(value: object) -> object:
        if isinstance(value, list | tuple):
            if not value:
                raise Invalid("must not be an empty list")
            return tuple(item(v) for v in value)
        return item(value)

    return check


def list_of(item: Check) -> Check:
    def check(value: object) -> tuple:
        if not isinstance(value, list):
            raise Invalid("must be a list")
        return tuple(item(v) for v in value)

    return check


@dataclass(frozen=True)
class Key:
    check: Check
    required: bool = False


def key(check: Check, name: str | None = None, absent: object = MISSING) -> dict[str, object]:
    """Field metadata declaring the field's TOML key (its own name unless ``name``) and its check; ``absent`` is
    the value when the file leaves the key out, for a field that has no default of its own."""
    return {"key": Key(check), "toml": name, "absent": absent}


def keys_of(cls: type) -> dict[str, tuple[str, Key]]:
    """TOML key -> (field name, declaration) for each field of the dataclass that declares one; a field with no
    default, in the class or as ``absent``, is required."""
    declared: dict[str, tuple[str, Key]] = {}
    for f in fields(cls):
        if "key" not in f.metadata:
            continue
        declaration: Key = f.metadata["key"]
        required = _no_default(f) and f.metadata["absent"] is MISSING
        declared[f.metadata["toml"] or f.name] = (f.name, Key(declaration.check, required))
    return declared


def _no_default(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def read_table(table: object, declared: Mapping[str, Key], where: str, error: type[Exception]) -> dict[str, object]:
    """The table's values, each checked against its declaration; ``error`` names ``where`` and the key."""
    if not isinstance(table, dict):
        raise error(f"{where}: must be a table of keys, got {type(table).__name__}")
    if unknown := sorted(set(table) - set(declared)):
        raise error(f"{where}: unknown keys {unknown}; allowed: {sorted(declared)}")
    if missing := sorted(k for k, d in declared.items() if d.required and k not in table):
        raise error(f"{where}: missing {missing}")
    values = {}
    for name, value in table.items():
        try:
            values[name] = declared[name].check(value)
        except Invalid as problem:
            raise error(f"{where}: {name} = {_shown(value)}: {problem}") from None
    return values


T = TypeVar("T")


def read_dataclass(cls: type[T], table: object, where: str, error: type[Exception], **extra: object) -> T:
    """An instance of ``cls`` from the table, every key checked against the field that declares it."""
    declared = keys_of(cls)
    values = read_table(table, {k: d for k, (_, d) in declared.items()}, where, error)
    absent = {f.name: f.metadata["absent"] for f in fields(cls) if f.metadata.get("absent", MISSING) is not MISSING}
    return cls(**absent | {declared[k][0]: v for k, v in values.items()}, **extra)


def embedder_name(name: str, where: str) -> None:
    """A registered embedder's name or a user's FORM:ARGUMENT are known; any other name is allowed, since a plugin may
    register it after the file is read, but with a warning naming it: a misspelt name would otherwise match nothing
    and drop its comparisons or expectations without a word."""
    prefix, sep, _ = name.partition(":")
    if name in EMBEDDERS or (sep and prefix in SPEC_FORMS):
        return
    warnings.warn(
        f"{where}: embedder {name!r} is not registered here: it matches nothing unless a plugin registers it "
        f"(registered: {', '.join(sorted(EMBEDDERS))}; "
        f"or FORM:ARGUMENT, FORM one of {', '.join(sorted(SPEC_FORMS))})",
        NameWarning,
        stacklevel=2,
    )


FAMILIES = tuple(str(f) for f in Family)


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
