"""Cheap checks of the user's weight files, run when ``--embedder FORMAT:PATH`` is parsed, before any model loads.

Each reads headers only (a few KB, or a GGUF's metadata) and raises ValueError naming the file and what is wrong,
so a damaged file is a usage error rather than a traceback from deep inside gensim, safetensors or transformers.
"""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from embedders.base import EmbedderUnavailable

SAFETENSORS_HEADER_LIMIT = 100 << 20  # the format caps its JSON header at 100 MB
SAFETENSORS_DTYPE_BYTES = {
    **dict.fromkeys(("BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2"), 1),
    **dict.fromkeys(("U16", "I16", "F16", "BF16"), 2),
    **dict.fromkeys(("U32", "I32", "F32"), 4),
    **dict.fromkeys(("U64", "I64", "F64"), 8),
}
# The files a transformers tokenizer is built from: tokenizer.json alone, or one of the slow tokenizers' sets.
TOKENIZER_VOCABULARIES = (
    ("tokenizer.json",),
    ("vocab.txt",),
    ("vocab.json", "merges.txt"),
    ("tokenizer.model",),
    ("spiece.model",),
    ("sentencepiece.bpe.model",),
)
TOKENIZER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# Where a checkpoint keeps its input embedding matrix and its numbered blocks, across the usual architectures
EMBEDDING_SUFFIXES = ("embed_tokens.weight", "word_embeddings.weight", "wte.weight")
LAYER_NAME = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)\.")
OTHER_TOWERS = ("vision", "visual", "audio")  # a multimodal checkpoint's other encoders have layers of their own


class EmbedderFileError(EmbedderUnavailable):
    """The user's weights passed the header checks but failed to load; the message names the file and why."""


def check_regular_file(path: Path) -> None:
    """Reading a FIFO, device or socket blocks or never ends: only regular files (or links to them) are read."""
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a folder where a file is expected")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a FIFO, device or socket), so it is never read")


def check_folder_entries(folder: Path) -> None:
    """Every entry of a model folder, at any depth, is a regular file or a folder: a library loading the folder
    would otherwise block on a FIFO or stream a device. Dangling links are left to the loader to report."""
    for entry in folder.rglob("*"):
        try:
            mode = entry.stat().st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ValueError(f"{entry} is not a regular file (a FIFO, device or socket), so the folder is never read")


def read_json_object(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} holds a JSON {type(document).__name__}, not an object")
    return document


def check_config_json(folder: Path) -> None:
    read_json_object(folder / "config.json")


def check_tokenizer(folder: Path) -> None:
    """The folder holds a whole tokenizer whose files parse: transformers would otherwise fail deep inside, or
    (a tokenizer.json cut short next to a vocab.txt) fall back to another tokenizer than the model's."""
    for name in TOKENIZER_JSON_FILES:
        if (folder / name).is_file():
            read_json_object(folder / name)
    tokenizer_json = folder / "tokenizer.json"
    if tokenizer_json.is_file():
        try:
            from tokenizers import Tokenizer
        except ImportError:
            return
        try:
            Tokenizer.from_file(str(tokenizer_json))
        except Exception as error:  # the Rust parser's one error type: the file does not fit its schema
            raise ValueError(f"{tokenizer_json} is not a tokenizers file ({error})") from None
        return
    for files in TOKENIZER_VOCABULARIES[1:]:
        present = [name for name in files if (folder / name).is_file()]
        if present and len(present) < len(files):
            missing = ", ".join(name for name in files if name not in present)
            raise ValueError(f"{folder} has {', '.join(present)} but not {missing}, so its tokenizer is incomplete")
        if present:
            for name in present:
                if (folder / name).stat().st_size == 0:
                    raise ValueError(f"{folder / name} is empty, so the model has no tokenizer")
            return
    choices = " or ".join("+".join(files) for files in TOKENIZER_VOCABULARIES)
    raise ValueError(f"{folder} has no tokenizer ({choices})")


def check_config_matches_weights(folder: Path, tensors: dict[str, list[int]]) -> None:
    """config.json's sizes against the safetensors' shapes: transformers refuses a different matrix shape only
    with a traceback, and builds layers the weights lack from random numbers (or drops the extra ones) with a
    warning, a silently partial load."""
    document = read_json_object(folder / "config.json")
    config = document.get("text_config") if isinstance(document.get("text_config"), dict) else document
    assert isinstance(config, dict)
    text = {name: shape for name, shape in tensors.items() if not any(tower in name for tower in OTHER_TOWERS)}

    def size(*keys: str) -> int | None:
        found = next((config[key] for key in keys if key in config), None)
        return found if isinstance(found, int) and not isinstance(found, bool) else None

    vocabulary, hidden = size("vocab_size"), size("hidden_size", "n_embd", "d_model")
    embedding = next((name for name in text if name.endswith(EMBEDDING_SUFFIXES) and len(text[name]) == 2), None)
    if embedding is not None and vocabulary is not None and hidden is not None:
        if list(text[embedding]) != [vocabulary, hidden]:
            raise ValueError(
                f"{folder / 'config.json'} says vocab_size {vocabulary} and hidden_size {hidden}, but the weights' "
                f"{embedding} has shape {list(text[embedding])}"
            )
    layers = size("num_hidden_layers", "n_layer", "num_layers")
    present = {int(match.group(1)) for name in text if (match := LAYER_NAME.search(name))}
    if layers is not None and present and present != set(range(layers)):
        raise ValueError(
            f"{folder / 'config.json'} says num_hidden_layers {layers}, but the weights hold layers "
            f"{_ranges(sorted(present))}"
        )


def _ranges(numbers: list[int]) -> str:
    """0, 1, 2, 5 as '0-2, 5'."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def safetensors_header(path: Path) -> tuple[int, dict[str, Any]]:
    """The JSON header's length and its tensors (name: dtype, shape, data_offsets), read without the data."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if length < 2 or length > min(SAFETENSORS_HEADER_LIMIT, size - 8):
            raise ValueError(f"{path} is not a safetensors file ({size} bytes; truncated, empty or another format)")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
        return length, {name: entry for name, entry in header.items() if name != "__metadata__"}
    except (ValueError, AttributeError) as error:
        raise ValueError(f"{path} has a damaged safetensors header ({type(error).__name__})") from None


def check_safetensors(path: Path) -> dict[str, list[int]]:
    """The 8-byte length, the JSON header, and every tensor's data inside the file (a cut copy fails here);
    returns each tensor's shape."""
    size = path.stat().st_size
    length, tensors = safetensors_header(path)
    try:
        ends = [int(entry["data_offsets"][1]) for entry in tensors.values()]
        for name, entry in tensors.items():
            start, end = (int(offset) for offset in entry["data_offsets"])
            count = math.prod(int(extent) for extent in entry["shape"])
            width = SAFETENSORS_DTYPE_BYTES.get(entry["dtype"])
            # safetensors itself refuses these only when the model loads, deep inside transformers; a dtype newer
            # than this table (sub-byte floats) is left to it
            if (width is not None and end - start != count * width) or end < start:
                raise ValueError(
                    f"{path}: tensor {name!r} ({entry['dtype']}, shape {entry['shape']}) does not fit its "
                    f"offsets {start}..{end}"
                )
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{path} has a damaged safetensors header ({type(error).__name__})") from None
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path} has a damaged safetensors header ({type(error).__name__})") from None
    needed = 8 + length + max(ends, default=0)
    if needed > size:
        raise ValueError(f"{path} is truncated: its header describes {needed} bytes, the file has {size}")
    return {name: [int(extent) for extent in entry["shape"]] for name, entry in tensors.items()}


def check_weight_files(files: list[Path]) -> dict[str, list[int]]:
    """Checks each file; returns the shapes of all the safetensors' tensors (a pickled .bin is not opened)."""
    shapes: dict[str, list[int]] = {}
    for file in files:
        check_regular_file(file)
        if file.suffix == ".safetensors":
            shapes |= check_safetensors(file)
        elif file.stat().st_size == 0:
            raise ValueError(f"{file} is empty")
    return shapes


def check_shards(folder: Path) -> None:
    """Every shard named by a ``*.index.json`` is there (an interrupted download leaves some out)."""
    for index in folder.glob("*.index.json"):
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as error:
            raise ValueError(f"{index} is not a valid shard index ({error})") from None
        missing = sorted(shard for shard in shards if not (folder / shard).is_file())
        if missing:
            raise ValueError(f"{index} names shards that are missing: {', '.join(missing)}")


def check_gguf(path: Path) -> None:
    """Parse the GGUF metadata and tensor table; every tensor's bytes must lie inside the file."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
        end = max((tensor.data_offset + int(tensor.n_bytes) for tensor in reader.tensors), default=0)
        architecture = reader.fields["general.architecture"].contents()
    except Exception as error:  # any failure to parse is the same finding: the file is damaged
        raise ValueError(f"{path} is not a complete GGUF file (truncated or damaged: {error})") from None
    if not reader.tensors or end > path.stat().st_size:
        raise ValueError(f"{path} is a truncated GGUF file (its tensors need {end} bytes)")
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:
        return
    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"{path}: GGUF architecture {architecture!r} cannot be loaded by this transformers "
            f"(supported: {', '.join(sorted(GGUF_SUPPORTED_ARCHITECTURES))})"
        )


@contextlib.contextmanager
def user_weights(spec: str, path: Path) -> Iterator[None]:
    """Turn a library's failure to read the user's folder into a skip reason naming it (and the way out)."""
    try:
        yield
    except (OSError, ValueError, pickle.UnpicklingError, EOFError) as error:
        message = " ".join(str(error).split())[:600]
        hint = ""
        if "trust_remote_code" in message:
            hint = "; it ships its own Python code, which runs only with --trust-remote-code (read it first)"
        elif isinstance(error, pickle.UnpicklingError) or "weights_only" in message:
            hint = "; a pickled checkpoint holding more than tensors is never loaded (convert it to safetensors)"
        problem = f"{type(error).__name__}: {message}"
        raise EmbedderFileError(f"{spec}: {path} could not be loaded ({problem}){hint}") from None
