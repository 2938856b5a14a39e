"""Command-line options; each value is checked at parse time so a bad one is a usage error before any model loads."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from embedders import EmbedderEntry, LoadOptions, SpecError, resolve
from embedders.devices import AUTO, auto_unavailable
from evals.expectations import ExpectationsError, load_expectations
from evals.tasks.measurement import OOV_POLICIES
from evals.tasks.rated_pairs import MIN_PAIRS
from fixtures import DATASETS, DatasetFormatError, Resolver, SentencePairs, WordPairs
from runtime.store import CACHE_VARIABLE, MODES

STRATEGY_VARIABLE = "EMBEDDING_CLAIMS_LLM_STRATEGY"  # user-facing: read once, as --llm-strategy's default


def given_path(option: str, value: str) -> Path:
    """A path the user typed; an empty one is refused, as Path("") would silently mean the current folder."""
    if not value.strip():
        raise argparse.ArgumentTypeError(f"{option} {value!r}: the path is empty")
    return Path(value).expanduser()


def path_option(option: str) -> Callable[[str], Path]:
    def check(value: str) -> Path:
        return given_path(option, value)

    return check


def embedder_specs(value: str) -> list[EmbedderEntry]:
    specs = [spec.strip() for spec in value.split(",")]
    if not all(specs):
        # an empty --embedder would otherwise select nothing, which the session reads as "every embedder"
        raise argparse.ArgumentTypeError(f"--embedder {value!r}: an empty name; give NAME or FORM:ARGUMENT")
    try:
        return [resolve(spec) for spec in specs]
    except SpecError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def dataset_path(value: str) -> tuple[str, Path]:
    name, sep, raw = value.partition("=")
    if not sep or name not in DATASETS:
        raise argparse.ArgumentTypeError(
            f"--dataset {value!r}: expected NAME=PATH with NAME one of {', '.join(sorted(DATASETS))}"
        )
    path = given_path(f"--dataset {name}=", raw)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"--dataset {name}={path}: the path does not exist")
    try:
        # parsing takes milliseconds: a malformed line is a usage error before any model loads
        dataset = Resolver(((name, path),)).load(name)
    except DatasetFormatError as error:
        raise argparse.ArgumentTypeError(f"--dataset {name}={path}: {error}") from None
    if isinstance(dataset, WordPairs | SentencePairs) and len(dataset.pairs) < MIN_PAIRS:
        raise argparse.ArgumentTypeError(
            f"--dataset {name}={path}: {len(dataset.pairs)} rated pairs; a correlation needs at least {MIN_PAIRS}"
        )
    return name, path


def dataset_paths(given: list[tuple[str, Path]]) -> tuple[tuple[str, Path], ...]:
    """Every --dataset once; the same NAME given two different files is a usage error, not first-one-wins."""
    chosen: dict[str, Path] = {}
    for name, path in given:
        if name in chosen and chosen[name].resolve() != path.resolve():
            raise pytest.UsageError(f"--dataset {name}= given twice with different paths: {chosen[name]} and {path}")
        chosen.setdefault(name, path)
    return tuple(chosen.items())


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def device_name(value: str) -> str:
    """A torch device this machine has, or auto; torch is imported only when the option is given."""
    if value.strip() == AUTO:
        # not a torch device: the loader spreads the model with accelerate, checked now rather than at load
        if reason := auto_unavailable():
            raise argparse.ArgumentTypeError(reason)
        return AUTO
    import torch

    try:
        device = torch.device(value.strip())
    except (RuntimeError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"--device {value!r}: {error}; e.g. cpu, cuda, cuda:1, mps, auto") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise argparse.ArgumentTypeError(f"--device {value!r}: no {device.type} device is available here")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"--device {value!r}: only {torch.cuda.device_count()} CUDA devices here")
    return str(device)


def llm_strategy(value: str) -> str:
    from embedders.llm import Strategy

    try:
        Strategy.parse(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--llm-strategy {value!r}: {error}") from None
    return value


def load_options(config: pytest.Config) -> LoadOptions:
    """The backends' load options, from the command line, read once per process."""
    return LoadOptions(
        device=config.getoption("device") or "cpu",
        dtype=config.getoption("dtype") or "float32",
        trust_remote_code=bool(config.getoption("trust_remote_code")),
        llm_strategy=config.getoption("llm_strategy"),
    )


def readable_file(option: str, read: Callable[[Path], object], error: type[Exception]) -> Callable[[str], Path]:
    """A file read once at parse time, so a missing or malformed one is a usage error naming the option and it."""

    def check(value: str) -> Path:
        path = given_path(option, value)
        try:
            read(path)
        except error as problem:
            raise argparse.ArgumentTypeError(f"{option} {value}: {problem}") from None
        return path

    return check


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedding-claims", "embedding-claims: which embedders and datasets to evaluate")
    group.addoption(
        "--embedder",
        action="append",
        type=embedder_specs,
        default=[],
        metavar="NAME",
        help="embedder(s) to evaluate: a registered name (see --list-embedders) or FORM:ARGUMENT for your own files, "
        "e.g. word2vec:/path/GoogleNews-vectors-negative300.bin, glove:/path/glove.840B.300d.txt, "
        "fasttext:/path/cc.en.300.bin, or a model on an OpenAI-compatible server: openai:MODEL or "
        "openai:MODEL@BASE_URL, e.g. openai:nomic-embed-text@http://localhost:11434/v1 (key, if needed, from "
        "$OPENAI_API_KEY; dimension asked of the server). Repeat or separate with commas. Default: every registered "
        "embedder, those unavailable here skipped with how to get them.",
    )
    group.addoption(
        "--fill-cache-only",
        action="store_true",
        default=False,
        help="compute into the embedding cache every input this session would ask of the embedders named with "
        "--embedder (its embedding plan), one model load each, then exit without running a test: a shard for "
        "python -m runtime.merge",
    )
    group.addoption(
        "--list-embedders",
        action="store_true",
        default=False,
        help="list registered embedders with family, size and availability here, then exit",
    )
    group.addoption(
        "--dataset",
        action="append",
        type=dataset_path,
        default=[],
        metavar="NAME=PATH",
        help=f"read dataset NAME from PATH (repeatable); NAME is one of {', '.join(DATASETS)}. "
        "Datasets not bundled with the installed packages are skipped unless given.",
    )
    group.addoption(
        "--oov-policy",
        choices=OOV_POLICIES,
        default="skip",
        help="items with a word the embedder cannot embed: skip them (coverage is reported) or score them "
        "as zero similarity / a wrong answer. Default: skip.",
    )
    group.addoption(
        "--open-vocabulary-size",
        type=positive_int,
        default=300_000,
        metavar="K",
        help="candidates of the open-vocabulary analogy protocol: the K most frequent words (default 300000, "
        "as gensim's evaluate_word_analogies)",
    )
    group.addoption(
        "--device",
        type=device_name,
        default=None,
        metavar="DEVICE",
        help="torch device for transformer backends, e.g. cpu, cuda, cuda:1, mps (default: cpu), or auto: an LLM "
        "spread by accelerate over every GPU, then CPU memory, for models larger than one GPU; recorded in results",
    )
    group.addoption(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default=None,
        help="weights dtype for LLM backends (default: float32); changes the embedder's fingerprint",
    )
    group.addoption(
        "--trust-remote-code",
        action="store_true",
        default=False,
        help="let model folders (llm:, sbert: paths) run the Python code they ship (transformers' "
        "trust_remote_code). Off by default: read that code first. Recorded in the embedder's weights identity.",
    )
    group.addoption(
        "--llm-strategy",
        type=llm_strategy,
        default=os.environ.get(STRATEGY_VARIABLE) or "mean",
        metavar="STRATEGY",
        help=f"how LLM backends turn hidden states into a vector: mean, last-token, prompt, or a layer choice such as "
        f"mean@-4 (default: ${STRATEGY_VARIABLE}, else mean); changes the embedder's fingerprint",
    )
    group.addoption(
        "--expectations",
        type=readable_file("--expectations", load_expectations, ExpectationsError),
        default=None,
        metavar="TOML",
        help="file of expected outcomes (default: evals/expectations.toml)",
    )

    cache = parser.getgroup("embedding-claims cache", "embedding-claims: the on-disk embedding cache")
    cache.addoption(
        "--cache",
        dest="embedding_cache",
        choices=MODES,
        default="rw",
        help="embedding cache: rw reads and writes (default); ro reads, never writes; refresh recomputes every "
        "input once and overwrites; off neither reads nor writes. Vectors are keyed by the embedder's identity and "
        "fingerprint (weights, pooling, layer, prompt, normalisation, dtype) and the exact input.",
    )
    cache.addoption(
        "--cache-dir",
        dest="embedding_cache_dir",
        type=path_option("--cache-dir"),
        default=None,
        metavar="DIR",
        help=f"folder of the embedding cache (default: ${CACHE_VARIABLE}, else ~/.cache/embedding-claims/embeddings)",
    )


def cache_settings(mode: str, folder: Path | None) -> tuple[str, Path | None]:
    """The cache options checked together; a contradiction is a usage error naming both."""
    if mode == "off" and folder is not None:
        raise pytest.UsageError("--cache=off contradicts --cache-dir: no cache is read or written; drop one of them")
    if folder is not None:
        folder = folder.expanduser()
        if folder.exists() and not folder.is_dir():
            raise pytest.UsageError(f"--cache-dir {folder}: not a folder")
    return mode, folder


def writable_folder(option: str) -> Callable[[str], Path]:
    """A folder the session will write into: refused at parse time when a file is in the way or it cannot be
    created or written, so the problem is a usage error rather than a lost ledger at the end of a long run."""

    def check(value: str) -> Path:
        path = given_path(option, value).absolute()  # relative to where pytest was started, as users expect
        try:
            if path.exists() and not path.is_dir():
                raise argparse.ArgumentTypeError(f"{option} {value}: is a file, not a folder")
            existing = next(p for p in [path, *path.parents] if p.exists())
            if not existing.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{option} {value}: {existing} is a file, so the folder cannot be made"
                )
            if not os.access(existing, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"{option} {value}: {existing} is not writable")
        except OSError as error:  # e.g. a parent folder we may not search
            raise argparse.ArgumentTypeError(f"{option} {value}: {error}") from None
        return path

    return check
