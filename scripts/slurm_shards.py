"""Fill one cache shard per embedder as a submitit job array (Slurm, or local processes), then merge the shards.

    python scripts/slurm_shards.py --embedder NAME [--embedder NAME ...] --out OUT_CACHE --work FOLDER
        [--executor slurm|local] [--partition P --gpus-per-node N --timeout-min M --mem-gb G] [-- pytest args]

Each job runs `pytest evals/ --embedder NAME --fill-cache-only --cache-dir WORK/shards/NAME --no-ledger` in the
repository root; the shards whose job succeeded are merged into OUT with `python -m runtime.merge`. Exit 0 when every
job and the merge succeeded, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import submitit
from submitit.core.utils import UncompletedJobError

ROOT = Path(__file__).resolve().parents[1]
TAIL_LINES = 6


@dataclass(frozen=True)
class ShardResult:
    embedder: str
    returncode: int
    tail: str  # the last lines of the fill run's output: its "fill only:" line and pytest's summary


def fill_shard(embedder: str, shard: Path, pytest_args: list[str]) -> ShardResult:
    """Runs in the job: a fill-only pytest session for one embedder, in a child process so that a crash of the
    model's library is an exit code here and not a lost job."""
    command = [sys.executable, "-m", "pytest", "evals/", "--embedder", embedder, "--fill-cache-only"]
    command += ["--cache-dir", str(shard), "--no-ledger", "-p", "no:cacheprovider", *pytest_args]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    # the whole output goes to the job's log (submitit keeps it in WORK/submitit), the tail comes back as the result
    print(done.stdout, end="")
    print(done.stderr, end="", file=sys.stderr)
    lines = done.stdout.splitlines() or done.stderr.splitlines()  # stderr only when pytest did not start
    fill_lines = [line for line in lines if line.startswith(("fill only:", "not filled:"))]
    tail = [line for line in lines[-TAIL_LINES:] if line not in fill_lines]
    return ShardResult(embedder, done.returncode, "\n".join(fill_lines + tail))


def shard_folder_name(embedder: str) -> str:
    # a FORMAT:PATH embedder holds slashes and colons, which a folder name cannot
    return re.sub(r"[^A-Za-z0-9._-]", "_", embedder)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, pytest_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", action="append", required=True, help="an embedder to fill a shard for")
    parser.add_argument("--out", type=Path, required=True, help="the cache folder the shards are merged into")
    parser.add_argument("--work", type=Path, required=True, help="holds shards/NAME and submitit's job files")
    parser.add_argument("--executor", choices=["slurm", "local"], help="default: slurm when sbatch is on PATH")
    parser.add_argument("--partition", help="Slurm partition")
    parser.add_argument("--gpus-per-node", type=int, default=0)
    parser.add_argument("--timeout-min", type=int, default=120)
    parser.add_argument("--mem-gb", type=float, help="Slurm memory per job")
    arguments = parser.parse_args(own)
    folders = [shard_folder_name(name) for name in arguments.embedder]
    if len(set(folders)) != len(folders):
        parser.error(f"--embedder: each embedder once, and no two whose shard folders coincide: {folders}")
    if arguments.executor == "local" and (arguments.partition or arguments.mem_gb):
        parser.error("--partition and --mem-gb are Slurm options: drop them with --executor local")
    if arguments.executor == "slurm" and shutil.which("srun") is None:
        parser.error("--executor slurm: srun is not on PATH (not a Slurm node?); --executor local runs the jobs here")
    return arguments, pytest_args


def make_executor(arguments: argparse.Namespace) -> submitit.Executor:
    folder = arguments.work / "submitit"
    executor_name = arguments.executor
    if executor_name is None:
        executor_name = "slurm" if shutil.which("sbatch") else "local"
        if executor_name == "local":
            print("sbatch is not on PATH: the jobs run here as local processes (--executor local)")
    if executor_name == "local":
        local = submitit.LocalExecutor(folder=folder)
        local.update_parameters(timeout_min=arguments.timeout_min, gpus_per_node=arguments.gpus_per_node)
        return local
    slurm = submitit.AutoExecutor(folder=folder, cluster="slurm")
    parameters: dict[str, object] = {"timeout_min": arguments.timeout_min, "gpus_per_node": arguments.gpus_per_node}
    if arguments.mem_gb is not None:
        parameters["mem_gb"] = arguments.mem_gb
    if arguments.partition:
        parameters["slurm_partition"] = arguments.partition
    slurm.update_parameters(name="embedding-claims-shard", **parameters)
    return slurm


def main(argv: list[str]) -> int:
    arguments, pytest_args = parse(argv)
    names: list[str] = arguments.embedder
    shards = [(arguments.work / "shards" / shard_folder_name(name)).resolve() for name in names]
    executor = make_executor(arguments)
    jobs = executor.map_array(fill_shard, names, shards, [pytest_args] * len(names))
    print(f"submitted {len(jobs)} jobs ({type(executor).__name__}): {', '.join(job.job_id for job in jobs)}")
    succeeded: list[Path] = []
    for name, shard, job in zip(names, shards, jobs, strict=True):
        try:
            result: ShardResult = job.result()
        except UncompletedJobError as error:  # killed, timed out, or raised: submitit's message holds the log's tail
            print(f"job {job.job_id} {name}: failed, no result (log: {job.paths.stdout})\n{error}")
            continue
        verdict = "succeeded" if result.returncode == 0 else f"failed, exit {result.returncode}"
        print(f"job {job.job_id} {name}: {verdict} (log: {job.paths.stdout})\n{result.tail}")
        if result.returncode == 0:
            succeeded.append(shard)
    if not succeeded:
        print("no shard to merge: every job failed")
        return 1
    merge = [sys.executable, "-m", "runtime.merge", str(arguments.out), *(str(shard) for shard in succeeded)]
    merged = subprocess.run(merge, cwd=ROOT).returncode
    print(f"merge of {len(succeeded)} of {len(names)} shards into {arguments.out}: exit {merged}")
    return 0 if merged == 0 and len(succeeded) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
