"""Where a model runs: the --device values a backend accepts, the devices a loaded model sits on, and a description
of each (GPU model and memory, or the CPU) to record where vectors were computed."""

from __future__ import annotations

import importlib.util
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedders.base import EmbedderUnavailable

if TYPE_CHECKING:
    import torch

# --device auto: the model spread by accelerate over every GPU (then CPU memory), for models larger than one GPU
AUTO = "auto"
ACCELERATE_HOW = "pip install accelerate"


def auto_unavailable() -> str | None:
    """Why --device auto cannot work here, or None: the placement is accelerate's, an optional package."""
    if importlib.util.find_spec("accelerate") is None:
        return f"--device auto spreads the model over the devices with accelerate, not installed here: {ACCELERATE_HOW}"
    return None


def require_auto() -> None:
    if reason := auto_unavailable():
        raise EmbedderUnavailable(reason)


def dispatch_auto(model: Any) -> Any:
    """A model already in CPU memory (a GGUF dequantised without a cached folder) spread as from_pretrained's
    device_map="auto" spreads a folder: balanced over the GPUs, then CPU memory, whole decoder layers per device."""
    require_auto()
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    unsplit = getattr(model, "_no_split_modules", None) or []
    memory = get_balanced_memory(model, no_split_module_classes=unsplit)
    device_map = infer_auto_device_map(model, max_memory=memory, no_split_module_classes=unsplit)
    if "disk" in device_map.values():
        raise EmbedderUnavailable("--device auto: the model does not fit in the GPUs' and the CPU's memory together")
    where = set(device_map.values())
    if len(where) == 1:
        # one device needs no hooks: accelerate itself moves the whole model there in that case
        return model.to(where.pop())
    return dispatch_model(model, device_map=device_map)


def placement(model: Any) -> tuple[str, ...]:
    """The devices a loaded model's weights are on, e.g. ("cuda:0", "cuda:1") or ("cpu",). A model accelerate
    dispatched over several devices says so in its device map (weights it offloaded to CPU or disk sit on the meta
    device, which names nothing); one on a single device holds all its parameters there."""
    device_map = getattr(model, "hf_device_map", None)
    if device_map:
        found = {f"cuda:{where}" if isinstance(where, int) else str(where) for where in device_map.values()}
    else:
        found = {str(parameter.device) for parameter in model.parameters()}
    return tuple(sorted(found))


def input_device(model: Any) -> torch.device:
    """Where a model's inputs go: the device its input embeddings run on. Under accelerate's offloading their
    weights sit on the meta device and the layer's hook names the device it runs on."""
    import torch

    embeddings = model.get_input_embeddings()
    hook = getattr(embeddings, "_hf_hook", None)
    for each in getattr(hook, "hooks", (hook,)):  # accelerate chains several hooks as one SequentialHook
        if getattr(each, "execution_device", None) is not None:
            return torch.device(each.execution_device)
    return embeddings.weight.device


def free_cuda_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device now (after the model was loaded there); None for any other device."""
    import torch

    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)


def cpu_model() -> str:
    # platform.processor() is empty or just the architecture on Linux; /proc/cpuinfo names the model there
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown model"


def describe_device(device: str, dispatched: Sequence[str] = ()) -> str:
    """What ``device`` actually is here: for cuda the GPU's model and memory, for cpu the machine's architecture,
    processor and cores; for auto each device in ``dispatched``, the model's placement (see ``placement``)."""
    if device == AUTO:
        if not dispatched:
            raise ValueError("describe_device('auto') needs the devices the model was dispatched to (its placement)")
        return f"auto: {', '.join(describe_device(each) for each in dispatched)}"
    if device == "disk":
        return "disk (weights offloaded by accelerate, read at every forward pass)"
    if device == "cpu":  # without importing torch: a static model's shard never needs it
        return f"cpu ({platform.machine()}, {cpu_model()}, {os.cpu_count()} logical cores)"
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"device {device!r}: {error}; e.g. cpu, cuda, cuda:1, mps, auto") from None
    if parsed.type == "cpu":
        return f"cpu ({platform.machine()}, {cpu_model()}, {os.cpu_count()} logical cores)"
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: no CUDA device is available here")
        index = parsed.index if parsed.index is not None else torch.cuda.current_device()
        memory = torch.cuda.get_device_properties(index).total_memory / 2**30
        return f"cuda:{index} ({torch.cuda.get_device_name(index)}, {memory:.1f} GiB)"
    if parsed.type == "mps":
        return f"mps (Apple GPU, {platform.machine()}, {cpu_model()})"
    return str(parsed)
