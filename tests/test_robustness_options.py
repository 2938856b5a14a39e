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
]


@pytest.mark.parametrize(("args", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_option_is_a_usage_error_naming_it(tmp_path: Path, args: list[str], message: str) -> None:
    made = files(tmp_path)
    args = [
        str(made[arg[1 : arg.index("}")]]) + arg[arg.index("}") + 1 :] if arg.startswith("{") else arg for arg in args
    ]
    result = run_pytest(*map(str, args))
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    error = " ".join(result.stderr.split())
    assert re.search(message, error), error[-1500:]
    assert "Traceback" not in result.stderr
