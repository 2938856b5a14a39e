"""Bad option values, as users type them: each a usage error (exit 4) naming the option, before any model loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "--collect-only", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def files(tmp: Path) -> dict[str, Path]:
    made = {
        "bad.toml": "this is = not [toml\n",
        "unknown-key.toml": '[[expect]]\ncheck = "x"\nwho = "*"\nmetric = "r"\nat_least = 0\nwhy = "-"\nwhen = 1\n',
        "bad-claims.toml": '[[claim]]\nid = "X"\n',
        "latin1.toml": "why = 'caf\xe9'\n",
        "two-pairs.txt": "cat\tdog\t7.5\ncar\tautomobile\t9\n",
        "three-pairs.txt": "cat\tdog\t7.5\ncar\tautomobile\t9\nsun\tmoon\t5\n",
        "three-pairs-again.txt": "cat\tdog\t7.5\ncar\tautomobile\t9\nsun\tmoon\t6\n",
    }
    for name, text in made.items():
        (tmp / name).write_bytes(text.encode("latin-1"))
    return {name: tmp / name for name in made}


CASES = [
    ("oov-policy", ["--oov-policy", "guess"], "--oov-policy: invalid choice: 'guess'"),
    ("vocabulary-zero", ["--open-vocabulary-size", "0"], "--open-vocabulary-size: '0' is not a positive whole number"),
    ("vocabulary-word", ["--open-vocabulary-size", "lots"], "--open-vocabulary-size: 'lots' is not a positive"),
    ("dataset-no-equals", ["--dataset", "men"], "--dataset: --dataset 'men': expected NAME=PATH"),
    ("dataset-unknown", ["--dataset", "wordsim999=/tmp"], "expected NAME=PATH with NAME one of"),
    ("dataset-missing-path", ["--dataset", "men=/no/such/men.txt"], "--dataset men=/no/such/men.txt: the path does"),
    ("device-nonsense", ["--device", "gpu0"], "--device: --device 'gpu0': .*e.g. cpu, cuda"),
    ("device-absent", ["--device", "cuda:7"], "--device: --device 'cuda:7': "),
    ("dtype-nonsense", ["--dtype", "int3"], "--dtype: invalid choice: 'int3'"),
    ("expectations-missing", ["--expectations", "/no/such.toml"], "--expectations /no/such.toml: /no/such.toml"),
    ("expectations-bad-toml", ["--expectations", "{bad.toml}"], "--expectations: --expectations .*bad.toml: "),
    ("expectations-unknown-key", ["--expectations", "{unknown-key.toml}"], r"unknown keys \['when'\]"),
    ("expectations-latin1", ["--expectations", "{latin1.toml}"], "--expectations .*latin1.toml: .*utf-8"),
    ("claims-missing", ["--claims", "/no/such/claims.toml"], "--claims: --claims /no/such/claims.toml: "),
    ("claims-bad-toml", ["--claims", "{bad.toml}"], "--claims: --claims .*bad.toml: "),
    ("claims-incomplete", ["--claims", "{bad-claims.toml}"], r"\[\[claim\]\] #1 \(X\): missing"),
    ("embedder-empty-kind", ["--embedder", "glove:"], "--embedder glove:"),
    ("ledger-dir-is-a-file", ["--ledger-dir", "{bad.toml}"], "--ledger-dir: --ledger-dir .*bad.toml: is a file"),
    ("ledger-dir-under-a-file", ["--ledger-dir", "{bad.toml}/ledger"], "bad.toml is a file, so the folder cannot"),
    ("claims-report-is-a-file", ["--claims-report", "{bad.toml}"], "--claims-report .*bad.toml: is a file"),
    ("cache-mode", ["--cache", "sometimes"], "--cache: invalid choice: 'sometimes'"),
    # empty values: never "every embedder" or the current folder
    ("embedder-empty", ["--embedder", ""], "--embedder: --embedder '': an empty name"),
    ("embedder-blank", ["--embedder= "], "--embedder: --embedder ' ': an empty name"),
    ("embedder-empty-in-list", ["--embedder", "glove-6b-50d,"], "--embedder 'glove-6b-50d,': an empty name"),
    ("cache-dir-empty", ["--cache-dir="], "--cache-dir: --cache-dir '': the path is empty"),
    ("dataset-empty-path", ["--dataset", "men="], "--dataset: --dataset men= '': the path is empty"),
    ("expectations-empty", ["--expectations="], "--expectations: --expectations '': the path is empty"),
    ("claims-empty", ["--claims="], "--claims: --claims '': the path is empty"),
    ("ledger-dir-empty", ["--ledger-dir="], "--ledger-dir: --ledger-dir '': the path is empty"),
    ("claims-report-empty", ["--claims-report="], "--claims-report: --claims-report '': the path is empty"),
    ("claims-history-empty", ["--claims-history="], "--claims-history: --claims-history '': the path is empty"),
    # one dataset name, two files: an error, not first-one-wins
    (
        "dataset-twice",
        ["--dataset", "men={three-pairs.txt}", "--dataset", "men={three-pairs-again.txt}"],
        "--dataset men= given twice with different paths: .*three-pairs.txt and .*three-pairs-again.txt",
    ),
    # too few items for the dataset's statistic: a usage error, not a ValueError mid-session
    ("dataset-two-pairs", ["--dataset", "men={two-pairs.txt}"], "two-pairs.txt: 2 rated pairs; a correlation needs"),
    ("dataset-two-pairs-ws", ["--dataset", "wordsim353={two-pairs.txt}"], "wordsim353=.*: 2 rated pairs"),
]


@pytest.mark.parametrize(("args", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_option_is_a_usage_error_naming_it(tmp_path: Path, args: list[str], message: str) -> None:
    made = files(tmp_path)
    args = [re.sub(r"\{([^}]+)\}", lambda name: str(made[name[1]]), arg) for arg in args]
    result = run_pytest(*map(str, args))
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    error = " ".join(result.stderr.split())
    assert re.search(message, error), error[-1500:]
    assert "Traceback" not in result.stderr


def test_same_dataset_twice_with_the_same_file_is_one(tmp_path: Path) -> None:
    path = files(tmp_path)["three-pairs.txt"]
    result = run_pytest("--dataset", f"men={path}", "--dataset", f"men={tmp_path}/../{tmp_path.name}/{path.name}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_claims_path_after_a_space(tmp_path: Path) -> None:
    """`--claims PATH` works as `--claims=PATH` once a test folder is named; with none, pytest picks its rootdir
    from PATH before our plugin has declared --claims (no plugin can declare an option earlier), so README says
    to write --claims=PATH: this pins the message a user then sees."""
    claims = tmp_path / "claims.toml"
    claims.write_bytes((ROOT / "evals" / "claims.toml").read_bytes())
    spaced, joined = run_pytest("--claims", str(claims)), run_pytest(f"--claims={claims}")
    assert spaced.returncode == joined.returncode == 0, spaced.stderr[-2000:] + joined.stderr[-2000:]
    assert spaced.stdout.splitlines()[:-1] == joined.stdout.splitlines()[:-1]
    bare = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--claims", str(claims)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert bare.returncode == 4 and "unrecognized arguments: --claims" in bare.stderr, bare.stderr[-2000:]
