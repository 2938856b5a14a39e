"""The command line as users meet it, run as a real pytest subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        # --no-ledger: these sessions leave nothing in the checkout's reports/ledger
        [sys.executable, "-m", "pytest", "--no-ledger", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )


def test_help_documents_every_option() -> None:
    result = run_pytest("--help")
    for option in (
        "--embedder",
        "--list-embedders",
        "--dataset",
        "--oov-policy",
        "--open-vocabulary-size",
        "--expectations",
        "--device",
        "--dtype",
        "--ledger-dir",
        "--no-ledger",
        "--claims-report",
        "--claims-history",
    ):
        assert option in result.stdout


def test_list_embedders() -> None:
    result = run_pytest("--list-embedders")
    assert result.returncode == 0
    assert "glove-6b-50d" in result.stdout and "static" in result.stdout and "available" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--embedder", "not-a-model"], "Registered names: "),
        (["--embedder", "glove-6b-50d,word2vec:/no/such/file.bin"], "does not exist"),
        (["--embedder", "openai:nomic-embed-text@localhost:11434/v1"], "base URL 'localhost:11434/v1' has no scheme"),
        (["--embedder", "openai:@http://127.0.0.1:8080/v1"], "the model is empty"),
        (["--dataset", "bats"], "NAME=PATH"),
        (["--dataset", "nonsense=/tmp"], "NAME=PATH"),
        (["--oov-policy", "guess"], "invalid choice"),
        (["--open-vocabulary-size", "-3"], "not a positive whole number"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = run_pytest("evals/", "--collect-only", "-q", *args)
    assert result.returncode == 4, result.stdout + result.stderr
    assert message in result.stderr


def test_selected_embedder_parametrizes_the_evals() -> None:
    result = run_pytest("evals/", "--collect-only", "-q", "--embedder", "glove-6b-50d")
    assert result.returncode == 0
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected and all("glove-6b-50d" in line for line in collected)


def test_analogy_run_prints_each_protocol(tmp_path: Path) -> None:
    result = run_pytest("evals/", "-k", "analogy and google and closed", "--embedder=glove-6b-50d", "-p", "no:xdist")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "analogy/google-analogy/closed/3cosadd" in result.stdout
    assert "analogy/google-analogy/closed/3cosmul" in result.stdout


def test_a_missed_expectation_fails_with_the_protocol(tmp_path: Path) -> None:
    strict = tmp_path / "expectations.toml"
    strict.write_text(
        '[[expect]]\ncheck = "word-similarity/wordsim353"\nwho = "*"\nmetric = "spearman"\nat_least = 0.99\n'
        'why = "impossible on purpose"\n'
    )
    result = run_pytest(
        "evals/test_word_similarity.py",
        "-k",
        "wordsim353",
        "--embedder=glove-6b-50d",
        f"--expectations={strict}",
        "-p",
        "no:xdist",
    )
    assert result.returncode == 1
    assert "0.5033 fails spearman >= 0.99" in result.stdout
    assert '"oov_policy": "skip"' in result.stdout and "sha256" in result.stdout
