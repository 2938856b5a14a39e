"""What a device is, in words, for records (placeholder until the GPU backend's version lands)."""

from __future__ import annotations

import os
import platform


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index or 0
        return f"{device} ({torch.cuda.get_device_name(index)})"
    return f"{device} ({platform.machine()}, {os.cpu_count()} cores)"
