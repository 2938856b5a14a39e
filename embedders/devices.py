"""Where a model runs: the device its inputs go to, and the memory free there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


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
