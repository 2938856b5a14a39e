"""Wall-clock, model forward calls and peak memory (whole process tree) of `pytest evals/` on the defaults.

    flock /tmp/ec-heavy.lock .venv/bin/python bench/session_cache.py --cache-dir /tmp/wt6-bench/cache \
        --runs cold,warm --workers 4

``cold`` empties the embedding cache first (converted models stay in ~/.cache/embedding-claims, so no run
pays the one-time GGUF conversion); ``warm`` reruns on the filled cache. Memory is the sum of the resident set
sizes of pytest and all its descendants (xdist workers), sampled every 0.2 s; its maximum is reported.
Each run prints one JSON line; pytest's own output goes to --log-dir.
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

ROOT = Path(__file__).resolve().parent.parent
CALLS = re.compile(r"model forward calls in this session: (\d+)")
OUTCOME = re.compile(r"=+ (.*(?:passed|failed).*) in [\d.]+s")


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def run(name: str, cache_dir: Path, workers: int, log_dir: Path, extra: list[str]) -> dict[str, object]:
    if name == "cold":
        shutil.rmtree(cache_dir, ignore_errors=True)
    command = [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "--cache-dir", str(cache_dir)]
    if workers > 1:
        command += ["-n", str(workers)]
    command += extra
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = log_dir / f"{name}-n{workers}.log"
    started = time.perf_counter()
    peak = 0
    with open(log, "w") as out:
        process = psutil.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            peak = max(peak, tree_rss(process))
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    text = log.read_text()
    calls = CALLS.findall(text)
    outcome = OUTCOME.findall(text)
    return {
        "run": name,
        "workers": workers,
        "seconds": round(seconds, 1),
        "peak_rss_gb": round(peak / 1e9, 2),
        "model_forward_calls": int(calls[-1]) if calls else None,
        "exit_code": process.returncode,
        "outcome": outcome[-1] if outcome else None,
        "log": str(log),
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/wt6-bench/cache"))
    parser.add_argument("--runs", default="cold,warm", help="comma-separated: cold (empty cache first) and/or warm")
    parser.add_argument("--workers", type=int, default=4, help="xdist workers (-n); 1 runs without xdist")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp/wt6-bench/logs"))
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args()
    args.log_dir.mkdir(parents=True, exist_ok=True)
    for name in args.runs.split(","):
        print(json.dumps(run(name.strip(), args.cache_dir, args.workers, args.log_dir, args.pytest_args)), flush=True)


if __name__ == "__main__":
    main()
