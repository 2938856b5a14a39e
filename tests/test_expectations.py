from pathlib import Path

import numpy as np
import pytest

from embedders import EmbedderInfo, Extraction, Family
from evals.expectations import DEFAULT_PATH, ExpectationsError, failures, load_expectations
from evals.tasks.measurement import Measurement
from fixtures import DatasetInfo

EXTRACTION = Extraction("lookup", "static", None, "none", "as-is", "missing")


def measurement(name: str, family: Family, spearman: float) -> Measurement:
    info = EmbedderInfo(name, family, 1, 1, EXTRACTION, "w")
    return Measurement(
        "word-similarity", "", info, DatasetInfo("wordsim353", "-", "0", 1), {}, {"spearman": spearman}, np.zeros(1)
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expect.toml"
    path.write_text(text)
    return path


RULES = """
[[expect]]
check = "word-similarity/*"
who = "*"
metric = "spearman"
at_least = 0.1
why = "anyone"

[[expect]]
check = "word-similarity/wordsim353"
who = "static"
metric = "spearman"
at_least = 0.3
why = "static family"

[[expect]]
check = "word-similarity/wordsim353"
who = "mine"
metric = "spearman"
at_most = 0.2
why = "recorded: known to be weak"
"""


def test_most_specific_who_wins(tmp_path: Path) -> None:
    rules = load_expectations(write(tmp_path, RULES))
    assert failures(rules, measurement("mine", Family.STATIC, 0.15)) == []  # by name, not the family's 0.3
    assert failures(rules, measurement("other", Family.STATIC, 0.25))  # family floor 0.3
    assert failures(rules, measurement("other", Family.LLM, 0.25)) == []  # everyone's floor 0.1
    assert failures(rules, measurement("other", Family.LLM, float("nan")))  # NaN never passes


def test_nothing_expected_is_an_error(tmp_path: Path) -> None:
    rules = load_expectations(write(tmp_path, RULES.replace("word-similarity/*", "analogy/*")))
    with pytest.raises(ExpectationsError, match="no expectation recorded"):
        failures(rules, measurement("x", Family.LLM, 0.5))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[expect]]\ncheck='a'\n", "missing"),
        ("[[expect]]\ncheck='a'\nwho='*'\nmetric='m'\nwhy='w'\nat_least='high'\n", "must be a number"),
        ("[[expect]]\ncheck='a'\nwho='*'\nmetric='m'\nwhy='w'\nat_least=1\ncolour=2\n", "unknown keys"),
        ("[[expect]\n", "expect.toml"),
    ],
)
def test_bad_files_name_the_entry(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ExpectationsError, match=message):
        load_expectations(write(tmp_path, text))


def test_shipped_expectations_load() -> None:
    assert len(load_expectations(DEFAULT_PATH)) >= 5
