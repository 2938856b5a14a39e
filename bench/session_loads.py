"""Model loads, wall-clock and peak memory of `pytest evals/` on the defaults: cold at -n 1, cold at -n 4, then
warm at -n 4, in one run (machines here are shared and noisy: compare within a run, not across runs).

    .venv/bin/python bench/session_loads.py --work /tmp/session-loads

Each cold run starts from an empty embedding cache (its own folder under --work); converted models stay in
~/.cache/embedding-claims, so no run pays the one-time GGUF conversion. Checked, and printed as JSON lines:
every embedder is loaded exactly once in each cold run and never in the warm one; the cold -n 4 run takes no
longer than the cold -n 1 run; peak memory at -n 4 is under 8 GB; the warm run makes no forward call and takes
under 10 s. Memory is the proportional set size (PSS) of pytest and all its descendant processes, read from
/proc/PID/smaps_rollup every 0.2 s: shared pages are split among the processes that share them, and a process's
threads are one entry, so nothing is counted twice. The exit code is 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

from runtime.pool import Usage

ROOT = Path(__file__).resolve().parent.parent
CALLS = re.compile(r"model forward calls in this session: (\d+)")
OUTCOME = re.compile(r"=+ (.*(?:passed|failed).*) in [\d.]+s")
MEMORY_LIMIT_GB = 8.0
WARM_LIMIT_SECONDS = 10.0


def tree_pss(process: psutil.Process) -> int:
    """Bytes of PSS over the process and its descendants (processes, not threads)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            text = Path(f"/proc/{member.pid}/smaps_rollup").read_text()
        except OSError:
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
        total += int(match.group(1)) * 1024 if match else 0
    return total


def run(name: str, cache_dir: Path, workers: int, log_dir: Path, cold: bool) -> dict[str, object]:
    if cold:
        shutil.rmtree(cache_dir, ignore_errors=True)
    command = [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "--cache-dir", str(cache_dir)]
    if workers > 1:
        command += ["-n", str(workers)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = log_dir / f"{name}.log"
    started = time.perf_counter()
    peak = 0
    with open(log, "w") as out:
        process = psutil.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            peak = max(peak, tree_pss(process))
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    text = log.read_text()
    calls = CALLS.findall(text)
    outcome = OUTCOME.findall(text)
    return {
        "run": name,
        "workers": workers,
        "seconds": round(seconds, 1),
        "peak_pss_gb": round(peak / 1e9, 2),
        "loads": {embedder: usage.loads for embedder, usage in Usage.read_lines(text).items()},
        "model_forward_calls": int(calls[-1]) if calls else None,
        "exit_code": process.returncode,
        "outcome": outcome[-1] if outcome else None,
        "log": str(log),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/session-loads"), help="caches and logs go here")
    args = parser.parse_args()
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    one = run("cold-n1", args.work / "cache-n1", 1, logs, cold=True)
    print(json.dumps(one), flush=True)
    four = run("cold-n4", args.work / "cache-n4", 4, logs, cold=True)
    print(json.dumps(four), flush=True)
    warm = run("warm-n4", args.work / "cache-n4", 4, logs, cold=False)
    print(json.dumps(warm), flush=True)
    ratio = four["seconds"] / one["seconds"]  # type: ignore[operator]
    checks = {
        "cold -n 1: every embedder loaded once": bool(one["loads"]) and set(one["loads"].values()) == {1},  # type: ignore[union-attr]
        "cold -n 4: every embedder loaded once": bool(four["loads"]) and set(four["loads"].values()) == {1},  # type: ignore[union-attr]
        f"cold -n 4 no slower than -n 1 (ratio {ratio:.2f})": ratio <= 1.0,
        f"peak PSS at -n 4 under {MEMORY_LIMIT_GB:g} GB ({four['peak_pss_gb']} GB)": four["peak_pss_gb"]
        < MEMORY_LIMIT_GB,  # type: ignore[operator]
        "warm -n 4: no load, no forward call": set(warm["loads"].values()) <= {0} and warm["model_forward_calls"] == 0,  # type: ignore[union-attr]
        f"warm -n 4 under {WARM_LIMIT_SECONDS:g} s ({warm['seconds']} s)": warm["seconds"] < WARM_LIMIT_SECONDS,  # type: ignore[operator]
        "every run exited 0": all(r["exit_code"] == 0 for r in (one, four, warm)),
    }
    print(json.dumps({"cold_n1_seconds": one["seconds"], "cold_n4_seconds": four["seconds"], "ratio": round(ratio, 3)}))
    for check, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {check}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
