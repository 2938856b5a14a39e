"""GGUF files dequantised to dense float32 transformers models, and kept as safetensors folders in the suite's cache.

Dense weights, so the numbers do not depend on whether a GGUF matmul kernel happens to be installed; the cached
folder makes later loads skip the conversion and memory-map the weights (measured: SmolLM2 16 s / 1.2 GB peak RSS
-> 3 s / 0.5 GB; Gemma-3 43 s / 2.7 GB -> 5 s / 0.8 GB).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedders.disk import cache_root

GGUF_MAGIC = b"GGUF"
# Dequantising multiplies a GGUF's size several times; past this a cached fp32 copy costs more disk than it saves time.
CONVERT_CACHE_LIMIT = 1 << 30


@dataclass(frozen=True)
class Dense:
    """A GGUF's weights dequantised: a converted folder to load, or, when none is kept, the model in memory."""

    folder: Path | None = None
    tokenizer: Any = None
    model: Any = None


def converted_folder(key: str) -> Path:
    from transformers import __version__ as transformers_version

    # The transformers version is in the name: its GGUF conversion (permutations, names) may change.
    return cache_root() / "llm" / f"{key}-transformers{transformers_version}"


def dequantised(gguf: Callable[[], Path], key: str, *, cache: bool = True) -> Dense:
    """The GGUF that ``gguf()`` gives, dequantised. With ``cache`` the result is kept as a folder named by ``key``
    (one per file content), and a folder already there is used without reading the GGUF at all."""
    from filelock import FileLock

    if not cache:
        return _convert(gguf(), None)
    folder = converted_folder(key)
    if folder.is_dir():
        return Dense(folder)
    # One converter at a time (xdist workers start together): the others wait, then read its folder.
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{folder}.lock"):
        if folder.is_dir():
            return Dense(folder)
        return _convert(gguf(), folder)


def _convert(path: Path, folder: Path | None) -> Dense:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options: dict[str, Any] = {"gguf_file": path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(path.parent, **options)
    try:
        from transformers import GgufConfig

        options["quantization_config"] = GgufConfig(gguf_file=path.name, dequantize=True)
    except ImportError:
        pass
    model = AutoModelForCausalLM.from_pretrained(path.parent, dtype=torch.float32, **options)
    _drop_quantizer(model)
    if folder is not None:
        _save(tokenizer, model, folder)
    return Dense(tokenizer=tokenizer, model=model)


def _drop_quantizer(model: Any) -> None:
    """The weights are plain dense tensors after dequantising; the GGUF quantizer would only refuse to save or cast."""
    packed = [type(module).__name__ for module in model.modules() if type(module).__name__.startswith("Gguf")]
    if packed:
        raise RuntimeError(f"GGUF weights were left packed ({packed[0]}), though dequantising was asked for")
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")


def _save(tokenizer: Any, model: Any, folder: Path) -> None:
    """Write the dequantised model atomically: a temporary folder renamed into place, so no half copy is ever read."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        temporary.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        os.rename(temporary, folder)
    except OSError as error:
        if not folder.is_dir():  # another process renaming first is fine; anything else only costs speed
            warnings.warn(f"could not cache the converted model in {folder}: {error}", stacklevel=2)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
