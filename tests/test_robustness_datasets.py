"""Bad dataset files: every one is a DatasetFormatError naming file and line, or a documented, counted skip.

The fuzz at the end runs every parser in the registry on arbitrary bytes, as a file and as a folder.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import DATASETS, DatasetFormatError
from fixtures.anchor_variations import labels_path, parse_anchor_variations
from fixtures.parsers import (
    LEE_DOCUMENTS,
    LEE_RATINGS,
    parse_bats,
    parse_google_analogies,
    parse_lee,
    parse_msr_analogies,
    parse_sick,
    parse_sts_benchmark,
    parse_word_pairs,
)
from fixtures.registry import ANCHOR_VARIATIONS_FILE
from tests.test_parsers import bats_folder

ROOT = Path(__file__).resolve().parent.parent
PAIRS = "cat\tdog\t7.5\ncar\tautomobile\t9\n"
GOOGLE = ": family\nboy girl brother sister\nking queen man woman\n"
RELATIONS = [f"{group}{number:02d}" for group in "IDEL" for number in range(1, 11)]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# (parser, file content, line named in the error or None for the file itself, message)
FILE_ERRORS = [
    ("pairs-empty", parse_word_pairs, b"", None, "the file is empty"),
    ("pairs-blank", parse_word_pairs, b"  \n\t\n", None, "the file is empty"),
    ("pairs-comments-only", parse_word_pairs, b"# a\n# b\n", None, "no word pairs found"),
    ("pairs-truncated-row", parse_word_pairs, PAIRS.encode() + b"sun\tmoo", 3, "got 2 fields"),
    ("pairs-truncated-utf8", parse_word_pairs, PAIRS.encode() + "café\tx\t1".encode()[:4], 3, "not valid utf-8"),
    ("pairs-four-columns", parse_word_pairs, b"cat\tdog\t7\textra\n", 1, "got 4 fields"),
    ("pairs-one-column", parse_word_pairs, b"cat dog 1\ncatdog\n", 2, "got 1 fields"),
    ("pairs-empty-word", parse_word_pairs, b"\tdog\t5\n", 1, "expected 'word1 word2 score'"),
    ("pairs-non-numeric", parse_word_pairs, b"cat dog high\n", 1, "'high' is not a number"),
    ("pairs-decimal-comma", parse_word_pairs, b"cat dog 7,5\n", 1, "'7,5' is not a number"),
    ("pairs-nan", parse_word_pairs, b"cat dog 1\ncat mouse NaN\n", 2, "'NaN' is not finite"),
    ("pairs-inf", parse_word_pairs, b"cat dog inf\n", 1, "'inf' is not finite"),
    ("pairs-overflow", parse_word_pairs, b"cat dog 1e999\n", 1, "'1e999' is not finite"),
    ("pairs-latin1", parse_word_pairs, "cat dog 1\ncaf\xe9 tea 3\n".encode("latin-1"), 2, "not valid utf-8"),
    ("pairs-utf16-bom", parse_word_pairs, PAIRS.encode("utf-16"), 1, "UTF-16 text"),
    ("pairs-utf16-no-bom", parse_word_pairs, PAIRS.encode("utf-16-le"), 1, "NUL byte"),
    ("pairs-binary", parse_word_pairs, PAIRS.encode() + bytes(range(256)), 3, "NUL byte"),
    ("google-empty", parse_google_analogies, b"\n\n", None, "the file is empty"),
    ("google-no-header", parse_google_analogies, b"a b c d\n", 1, "before the first ': section' header"),
    ("google-nameless-header", parse_google_analogies, b":  \na b c d\n", 1, "without a name"),
    ("google-three-words", parse_google_analogies, GOOGLE.encode() + b"a b c\n", 4, "got 3"),
    ("google-five-words", parse_google_analogies, GOOGLE.encode() + b"a b c d e\n", 4, "got 5"),
    ("google-truncated", parse_google_analogies, GOOGLE.encode()[:-8], 3, "got 3"),
    ("google-headers-only", parse_google_analogies, b": one\n: two\n", None, "no analogy questions"),
    ("google-latin1", parse_google_analogies, ": s\nna\xefve a b c\n".encode("latin-1"), 2, "not valid utf-8"),
    ("google-utf16", parse_google_analogies, GOOGLE.encode("utf-16"), 1, "UTF-16 text"),
    ("msr-empty", parse_msr_analogies, b"", None, "the file is empty"),
    ("msr-three-words", parse_msr_analogies, b"good better bad\n", 1, "got 3"),
    ("msr-binary", parse_msr_analogies, b"good better bad worse\n\x00\x01\x02", 2, "NUL byte"),
]


@pytest.mark.parametrize(
    ("parser", "content", "line", "message"), [case[1:] for case in FILE_ERRORS], ids=[c[0] for c in FILE_ERRORS]
)
def test_bad_file_names_file_and_line(tmp_path: Path, parser: Callable, content: bytes, line, message: str) -> None:
    path = write(tmp_path / "data.txt", content)
    with pytest.raises(DatasetFormatError, match=message) as caught:
        parser("x", path)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(caught.value).startswith(where), str(caught.value)
    assert (caught.value.path, caught.value.line) == (path, line)


@pytest.mark.parametrize("parser", [parse_word_pairs, parse_google_analogies, parse_msr_analogies, parse_sick])
def test_folder_where_a_file_is_expected(tmp_path: Path, parser: Callable) -> None:
    folder = tmp_path / "data.txt"
    folder.mkdir()
    if parser is parse_msr_analogies:  # MSR takes a folder too: then it must hold .txt files
        with pytest.raises(DatasetFormatError, match=r"holds no \.txt files"):
            parser("x", folder)
        return
    with pytest.raises(DatasetFormatError, match="is a folder, but this dataset is one file"):
        parser("x", folder)


def test_duplicate_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    pairs = parse_word_pairs("x", write(tmp_path / "p.txt", PAIRS + "cat\tdog\t7.5\ncat dog 7.50\ncat dog 6\n"))
    assert pairs.pairs == [("cat", "dog"), ("car", "automobile"), ("cat", "dog")]  # a second rating is kept
    assert pairs.info.duplicates == 2 and pairs.info.as_record()["duplicate_rows_skipped"] == 2
    google = parse_google_analogies("x", write(tmp_path / "g.txt", GOOGLE + "boy girl brother sister\n: other\n"))
    assert google.info.duplicates == 1 and len(google.questions) == 2
    again = parse_google_analogies("x", write(tmp_path / "g2.txt", GOOGLE + ": other\nboy girl brother sister\n"))
    assert again.info.duplicates == 0 and len(again.questions) == 3  # another section: another question


def test_utf8_byte_order_mark_is_not_part_of_the_first_word(tmp_path: Path) -> None:
    pairs = parse_word_pairs("x", write(tmp_path / "p.txt", codecs.BOM_UTF8 + PAIRS.encode()))
    assert pairs.pairs[0] == ("cat", "dog")
    google = parse_google_analogies("x", write(tmp_path / "g.txt", codecs.BOM_UTF8 + GOOGLE.encode()))
    assert google.questions[0].section == "family"


def test_msr_folder_problems_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "msr"
    write(folder / "JJ.txt", "good better bad worse\nbig bigger small smaller\ngood better bad worse\n")
    dataset = parse_msr_analogies("msr", folder)
    assert (dataset.info.rows, dataset.info.duplicates) == (2, 1)
    empty = write(folder / "NN.txt", "")
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(str(empty))}: the file is empty"):
        parse_msr_analogies("msr", folder)
    empty.unlink()
    (folder / "VB.txt").mkdir()
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(str(folder / 'VB.txt'))}: is a folder"):
        parse_msr_analogies("msr", folder)


def test_bats_problems_name_folder_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match=r"no relation \.txt files"):
        parse_bats("bats", tmp_path / "empty")
    root = bats_folder(tmp_path)
    complete = parse_bats("bats", root)
    assert (complete.info.rows, complete.info.duplicates) == (80, 0)
    files = {file.name[:3]: file for file in root.rglob("*.txt")}

    for code in ("E03", "L10"):
        files[code].unlink()
    with pytest.raises(DatasetFormatError, match=r"lacks 2 of its 40 relation files \(E03, L10\)"):
        parse_bats("bats", root)
    write(files["E03"], "sun\tsuns\n")
    write(files["L10"], "sun\tsuns\nsun\tsuns\nmoon\tmoons\n")
    assert parse_bats("bats", root).info.duplicates == 1

    for content, line, message in [
        ("", None, "the file is empty"),
        ("sun\tsuns\tsunny\n", 1, "got 3 fields"),
        ("sun\tsuns\nmoon\t/\n", 2, "empty word or answer list"),
        ("sun\tsuns\ncaf\xe9\tcafes\n".encode("latin-1"), 2, "not valid utf-8"),
        ("sun\tsuns\n".encode("utf-16"), 1, "UTF-16"),
    ]:
        write(files["D04"], content)
        with pytest.raises(DatasetFormatError, match=message) as caught:
            parse_bats("bats", root)
        assert str(caught.value).startswith(f"{files['D04']}:{line}: " if line else f"{files['D04']}: ")
    write(files["D04"], "sun\tsuns\n")

    stray = write(root / "README.txt", "about BATS\n")
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(str(stray))}: not a BATS relation file"):
        parse_bats("bats", root)
    stray.unlink()
    twin = write(root / "extra" / "D04 copy.txt", "sun\tsuns\n")
    with pytest.raises(DatasetFormatError, match="relation D04 is also in"):
        parse_bats("bats", root)
    twin.unlink()
    with pytest.raises(DatasetFormatError, match="is a folder"):
        parse_bats("bats", files["I01"])


def test_bad_dataset_option_is_a_usage_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = write(tmp_path / "men.txt", "cat dog 7\nsun moon bright\n")
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "--collect-only", "-q", "--dataset", f"men={bad}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"--dataset men={bad}: {bad}:2: score 'bright' is not a number" in result.stderr
    assert "Traceback" not in result.stderr


# -- fuzz: arbitrary bytes, as a file and as a folder, through every registered parser

PARSERS = sorted({entry.parser for entry in DATASETS.values()}, key=lambda parser: parser.__name__)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = st.text(st.sampled_from("abcIDEL0123456789 _-[]"), min_size=1, max_size=12)


def assert_result_or_documented_error(parser: Callable, path: Path) -> None:
    try:
        dataset = parser("fuzz", path)
    except DatasetFormatError as error:
        assert str(error).startswith(str(path)), error  # names the path given, or a file inside it
        assert error.line is None or error.line >= 1
    else:
        assert dataset.info.rows > 0 and dataset.info.duplicates >= 0


def test_every_registered_parser_is_fuzzed() -> None:
    assert {parser.__name__ for parser in PARSERS} == {
        "parse_anchor_variations",
        "parse_bats",
        "parse_battig",
        "parse_category_folder",
        "parse_common_categories",
        "parse_google_analogies",
        "parse_lee",
        "parse_msr_analogies",
        "parse_outlier_sets",
        "parse_sick",
        "parse_sts_benchmark",
        "parse_word_pairs",
    }


@FUZZ
@given(data=st.binary(max_size=500), line=st.text(max_size=200))
def test_fuzz_anchor_variations(tmp_path: Path, data: bytes, line: str) -> None:
    """Beside the shipped labels file, so the fuzz reaches the rows: arbitrary bytes, then one arbitrary row."""
    path = tmp_path / "fuzz.v1.jsonl"
    shutil.copy(labels_path(ANCHOR_VARIATIONS_FILE), labels_path(path))
    assert_result_or_documented_error(parse_anchor_variations, write(path, data))
    real = ANCHOR_VARIATIONS_FILE.read_text(encoding="utf-8").splitlines()[0]
    assert_result_or_documented_error(parse_anchor_variations, write(path, f"{real}\n{line}\n"))


@FUZZ
@given(documents=st.binary(max_size=300), ratings=st.binary(max_size=300))
def test_fuzz_lee(tmp_path_factory: pytest.TempPathFactory, documents: bytes, ratings: bytes) -> None:
    folder = tmp_path_factory.mktemp("lee")
    write(folder / LEE_DOCUMENTS, documents)
    write(folder / LEE_RATINGS, ratings)
    assert_result_or_documented_error(parse_lee, folder)


@FUZZ
@given(data=st.binary(max_size=500))
@pytest.mark.parametrize("parser", PARSERS, ids=lambda parser: parser.__name__)
def test_fuzz_file(tmp_path: Path, parser: Callable, data: bytes) -> None:
    assert_result_or_documented_error(parser, write(tmp_path / "data.txt", data))


@FUZZ
@given(files=st.dictionaries(NAMES, st.binary(max_size=200), max_size=3))
@pytest.mark.parametrize("parser", PARSERS, ids=lambda parser: parser.__name__)
def test_fuzz_folder(tmp_path_factory: pytest.TempPathFactory, parser: Callable, files: dict[str, bytes]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    for name, data in files.items():
        write(folder / "sub" / f"{name}.txt", data)
    assert_result_or_documented_error(parser, folder)


@FUZZ
@given(data=st.binary(max_size=300), code=st.sampled_from(RELATIONS))
def test_fuzz_one_bats_relation(tmp_path_factory: pytest.TempPathFactory, data: bytes, code: str) -> None:
    root = bats_folder(tmp_path_factory.mktemp("bats"))
    write(next(root.rglob(f"{code} *.txt")), data)
    assert_result_or_documented_error(parse_bats, root)


@FUZZ
@given(text=st.text(max_size=300))
@pytest.mark.parametrize(
    "parser", [parse_word_pairs, parse_google_analogies, parse_msr_analogies, parse_sick, parse_sts_benchmark]
)
def test_fuzz_text(tmp_path: Path, parser: Callable, text: str) -> None:
    """Valid UTF-8 of any characters (unicode spaces, line separators), not only ASCII-ish bytes."""
    assert_result_or_documented_error(parser, write(tmp_path / "data.txt", text.encode()))
