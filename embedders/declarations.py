"""Embedders a team declares once, by name: ``[[embedder]]`` tables in ``embedders.toml`` at the suite's root, or
the same tables under ``[tool.embedding-claims]`` in its pyproject.toml (never both: which one counts would be a
guess). Each gives a spec (anything --embedder accepts), the family and size the claims and the scale view use,
and optionally the paper model it stands for::

    [[embedder]]
    name = "team-glove"
    spec = "glove:/data/vectors/glove.6B.300d.txt"
    family = "static"
    parameters = 120_000_000
    paper_model = "glove-6b-50d"   # a registered paper model: sides naming it include this one

A declared name is used like a registered one: in --embedder, in claims.toml sides, in --list-embedders."""

from __future__ import annotations

import functools
import inspect
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from embedders.base import Embedder, Family, LoadOptions
from embedders.registry import (
    EMBEDDERS,
    SPEC_FORMS,
    EmbedderEntry,
    PathFormat,
    SpecError,
    resolve,
    split_strategy,
    with_strategy,
)
from evals.schema import FAMILIES, Invalid, choice, integer, key, key_line, read_dataclass, table_lines, text

ROOT = Path(__file__).resolve().parent.parent  # the suite's root, where conftest.py and pyproject.toml are
FILE_NAME = "embedders.toml"
PYPROJECT = "pyproject.toml"
TOOL = "embedding-claims"
TABLE = "embedder"
# a declared name goes into comma-separated --embedder lists, test ids and -k expressions, and must not read as a
# FORMAT:PATH spec or a strategy suffix
NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")  # a letter first: never a bare number, which --embedder splits on


class DeclarationsError(ValueError):
    """A declarations file that does not follow its schema; the message names the file and the line."""


def declared_name(value: object) -> str:
    name = text(value)
    if not NAME.fullmatch(name):
        raise Invalid("must be letters, digits, '.', '_' or '-', starting with a letter")
    return name


def paper_model_name(value: object) -> str:
    """The registered name of one of the paper's own models (an entry that declares its paper_model)."""
    return choice(sorted(name for name, entry in EMBEDDERS.items() if entry.paper_model))(value)


# Each field that declares a key (evals/schema.py) is a key of [[embedder]]; one with no default is required.
@dataclass(frozen=True)
class Declaration:
    name: str = field(metadata=key(declared_name))
    spec: str = field(metadata=key(text))
    family: Family = field(metadata=key(lambda value: Family(choice(FAMILIES)(value))))
    parameters: int = field(metadata=key(integer(1)))
    paper_model: str | None = field(default=None, metadata=key(paper_model_name))
    location: str = ""  # "FILE line N": not a key, where the table is, for messages and --list-embedders


@dataclass(frozen=True)
class DeclaredEntry(EmbedderEntry):
    """The entry a declaration's spec resolves to, under the declared name, family, size and paper model. Its
    identity is made of the declared name and the resolved entry's parts (code, packages, options, weights stamp:
    a FORMAT:PATH file's content, never its path), so its vectors are found from any machine."""

    declaration: Declaration | None = None

    def load(self, options: LoadOptions = LoadOptions()) -> Embedder:  # noqa: B008 (frozen)
        model = super().load(options)
        # the model describes itself as what it was loaded from (glove:/data/...): the measurements, the fingerprint
        # its vectors are keyed by and the records name the declared embedder instead
        model.info = replace(model.info, name=self.name, family=self.family, parameters=self.parameters)
        return model


@dataclass(frozen=True)
class Declarations:
    """The declared embedders of a suite, by name, and the file they were read from (None: no file)."""

    source: Path | None = None
    entries: Mapping[str, DeclaredEntry] = field(default_factory=dict)

    def resolve(self, spec: str) -> EmbedderEntry:
        """An --embedder value: a declared name, else whatever the registry resolves."""
        name = spec.strip()
        if name in self.entries:
            return self.entries[name]
        try:
            return resolve(spec)
        except SpecError as error:
            if not self.entries:
                raise
            raise SpecError(f"{error}\nDeclared in {self.source}: {', '.join(self.entries)}") from None

    def where(self, name: str) -> str | None:
        """'declared in FILE line N as SPEC' for a declared name; None for any other."""
        entry = self.entries.get(name)
        if entry is None or entry.declaration is None:
            return None
        return f"declared in {entry.declaration.location} as {entry.declaration.spec}"


def load_declarations(root: Path = ROOT) -> Declarations:
    """The declarations of the suite at ``root``: its embedders.toml, or its pyproject.toml's
    [tool.embedding-claims]; none when neither has any."""
    own, pyproject = root / FILE_NAME, root / PYPROJECT
    tool = _read(pyproject).get("tool", {}).get(TOOL) if pyproject.is_file() else None
    if own.is_file() and tool is not None:
        raise DeclarationsError(
            f"embedders are declared in both {own} and {pyproject} ([tool.{TOOL}]): keep one of them"
        )
    if own.is_file():
        return _declarations(own, _read(own), TABLE, f"[[{TABLE}]]")
    if tool is not None:
        return _declarations(pyproject, tool, f"tool.{TOOL}.{TABLE}", f"[[tool.{TOOL}.{TABLE}]]")
    return Declarations()


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise DeclarationsError(f"{path}: {error}") from None


def _declarations(path: Path, document: object, header: str, shown: str) -> Declarations:
    """``document`` holds the [[embedder]] tables (the file itself, or pyproject's [tool.embedding-claims]);
    ``header`` is their dotted name in the file, by which their lines are found."""
    if not isinstance(document, dict):
        raise DeclarationsError(f"{path}: [tool.{TOOL}] must be a table")
    if unknown := sorted(set(document) - {TABLE}):
        raise DeclarationsError(f"{path}: unknown keys {unknown}; allowed: {TABLE} (the {shown} tables)")
    tables = document.get(TABLE, [])
    if not isinstance(tables, list):
        raise DeclarationsError(f"{path}: {TABLE} must be {shown} tables")
    source = path.read_text(encoding="utf-8")
    lines = table_lines(source, header)
    entries: dict[str, DeclaredEntry] = {}
    for number, table in enumerate(tables, start=1):
        line = lines[number - 1] if len(lines) == len(tables) else None
        name = table.get("name") if isinstance(table, dict) else None
        label = f"{shown} #{number} ({name if isinstance(name, str) and name.strip() else '?'})"
        where = f"{path} line {line}" if line else str(path)

        def locate(key_name: str, line: int | None = line, label: str = label) -> str:
            """The key's own line when it is written on one, else its table's."""
            found = (key_line(source, line, key_name) or line) if line else None
            return f"{path} line {found}: {label}" if found else f"{path}: {label}"

        declaration = read_dataclass(Declaration, table, f"{where}: {label}", DeclarationsError, locate, location=where)
        if declaration.name in entries:
            first = entries[declaration.name].declaration
            raise DeclarationsError(
                f"{locate('name')}: name {declaration.name!r} is declared twice (first in {first and first.location})"
            )
        if declaration.name in EMBEDDERS:
            raise DeclarationsError(
                f"{locate('name')}: name {declaration.name!r} is a registered embedder "
                f"({registered_at(EMBEDDERS[declaration.name])}): declare it under another name"
            )
        paper = EMBEDDERS[declaration.paper_model] if declaration.paper_model else None
        if paper is not None and paper.family != declaration.family:
            # a claim's sides are families and names: a stand-in of another family would join the wrong side
            raise DeclarationsError(
                f"{locate('paper_model')}: paper_model {declaration.paper_model!r} is of family '{paper.family}', "
                f"this embedder of '{declaration.family}': a stand-in is of its paper model's family"
            )
        resolved, here = _resolved(anchored(declaration.spec, path.parent), locate("spec"))
        if here and resolved.family != declaration.family:
            # the model decides its family (its config, or its form): a declared one that differs would put it on
            # the wrong claim sides, or count it as another family's paper model
            raise DeclarationsError(
                f"{locate('family')}: family = '{declaration.family}', but {declaration.spec!r} is a "
                f"'{resolved.family}' embedder"
            )
        entries[declaration.name] = declared_entry(declaration, resolved)
    return Declarations(path, entries)


def anchored(spec: str, folder: Path) -> str:
    """The spec with a FORMAT:PATH's relative path made absolute when it names something beside the declarations
    file (in ``folder``): the file means the same weights from wherever pytest starts. Any other spec as written (a
    name, an absolute path, a hub id, a relative path found nowhere beside the file)."""
    base, strategy = split_strategy(spec.strip())
    form, sep, argument = base.partition(":")
    if not sep or not isinstance(SPEC_FORMS.get(form), PathFormat):
        return spec
    path = Path(argument.strip()).expanduser()
    beside = folder / path
    if path.is_absolute() or not beside.exists():
        return spec
    return f"{form}:{beside}" + (f"#{strategy}" if strategy else "")


def _resolved(spec: str, at: str) -> tuple[EmbedderEntry, bool]:
    """The spec's entry, and whether its weights are here (else it is unavailable, saying why, and its family is
    the declaration's word alone)."""
    try:
        return resolve(spec), True
    except SpecError as error:
        try:
            absent = absent_path_entry(spec)
        except SpecError as problem:  # e.g. a strategy that is no strategy, on a path that is not here
            raise DeclarationsError(f"{at}: spec = {spec!r}: {problem}") from None
        if absent is None:
            raise DeclarationsError(f"{at}: spec = {spec!r}: {error}") from None
        return absent, False


def absent_path_entry(spec: str) -> EmbedderEntry | None:
    """The entry of a FORMAT:PATH_OR_HUB_ID spec (with its #STRATEGY, if any) whose path or hub snapshot is not on
    this machine: unavailable, saying so, yet under the recipe a machine with the weights computes its vectors
    under, so that it can take part from a merged cache. None for any other spec (weights that are here but wrong
    are the declaration's error)."""
    base, strategy = split_strategy(spec.strip())
    form, sep, argument = base.partition(":")
    path_format = SPEC_FORMS.get(form) if sep else None
    if not isinstance(path_format, PathFormat) or not argument.strip():
        return None
    path = Path(argument).expanduser()
    if path.exists():
        return None
    try:
        path_format.locate(argument)
        return None  # a hub id whose snapshot is here after all
    except ValueError as error:
        reason = str(error)
    # the size and family are read from the model's files, which are not here: the declaration states them
    entry = replace(path_format, measure=None).entry(base, path)
    entry = replace(entry, check=lambda: reason)
    return entry if strategy is None else with_strategy(entry, spec.strip(), strategy)


def declared_entry(declaration: Declaration, resolved: EmbedderEntry) -> DeclaredEntry:
    """The resolved entry under the declared name, family, size and paper model (None unless declared: a declared
    embedder is a proxy unless its declaration says which paper model it stands for)."""
    values = {f.name: getattr(resolved, f.name) for f in fields(EmbedderEntry)}
    values |= {
        "name": declaration.name,
        "family": declaration.family,
        "parameters": declaration.parameters,
        "paper_model": EMBEDDERS[declaration.paper_model].paper_model if declaration.paper_model else None,
    }
    return DeclaredEntry(**values, declaration=declaration)


def registered_at(entry: EmbedderEntry) -> str:
    """Where a registered embedder's loader is defined, for a message about a name clash."""
    function = entry.loader.func if isinstance(entry.loader, functools.partial) else entry.loader
    try:
        file = Path(inspect.getsourcefile(function) or "")
        line = inspect.getsourcelines(function)[1]
    except (OSError, TypeError):
        return "registered by a plugin"
    shown = file.relative_to(ROOT) if file.is_relative_to(ROOT) else file
    return f"registered in {shown} line {line}"
