"""How many threads a backend may use: the machine's cores shared among pytest-xdist workers."""

from __future__ import annotations

import os


def cpu_share() -> int:
    """Cores this process may use, divided among xdist workers (at least one), unless the user chose."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if (value := os.environ.get(variable, "")).isdigit() and int(value) > 0:
            return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    if hasattr(os, "getloadavg") and os.getloadavg()[0] >= cores:
        # cores already busy: a parallel region waits for its slowest, preempted thread (SmolLM2 one word at a
        # time measured 10-20x slower with 2 threads than with 1 on a loaded 2-core machine)
        return 1
    return max(1, cores // workers)


def limit_torch_threads() -> None:
    """Only ever lower torch's thread count: oversubscribed cores make every parallel region wait."""
    import torch

    if torch.get_num_threads() > cpu_share():
        torch.set_num_threads(cpu_share())
