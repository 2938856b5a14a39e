from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import DATASETS, DatasetFormatError, Kind, Resolver
from fixtures.parsers import parse_bats, parse_google_analogies, parse_msr_analogies, parse_word_pairs
from runtime.registry import RegistryError


def write(tmp_path: Path, text: str | bytes, name: str = "data.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(
    ("name", "rows", "sha_prefix"),
    [
        ("google-analogy", 19544, "8c29b3332afc"),
        ("wordsim353", 353, "f92a022fc253"),
        ("simlex999", 999, "d5e050197147"),
    ],
)
def test_bundled_datasets_record_rows_and_checksum(name: str, rows: int, sha_prefix: str) -> None:
    dataset = Resolver().load(name)
    assert dataset.info.rows == rows
    assert dataset.info.sha256.startswith(sha_prefix)


def test_google_analogy_sections() -> None:
    dataset = Resolver().load("google-analogy")
    assert len(dataset.sections) == 14
    assert dataset.questions[0].section == "capital-common-countries"
    assert len(dataset.words) == 905


def test_word_pairs_tabs_spaces_and_comments(tmp_path: Path) -> None:
    path = write(tmp_path, "# header\ncat\tdog\t7.5\n\ncar automobile 9\n")
    dataset = parse_word_pairs("x", path)
    assert dataset.pairs == [("cat", "dog"), ("car", "automobile")]
    assert dataset.scores.tolist() == [7.5, 9.0]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("cat\tdog\t7\ncat\tdog\n", 2, "got 2 fields"),
        ("cat\tdog\thigh\n", 1, "is not a number"),
        ("# c\ncat\tdog\tnan\n", 2, "not finite"),
        (b"cat\tdog\t1\n\xff\xfe\tx\t2\n", 2, "not valid utf-8"),
    ],
)
def test_word_pairs_malformed_line_names_file_and_line(tmp_path: Path, text, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DatasetFormatError, match=message) as error:
        parse_word_pairs("x", path)
    assert str(error.value).startswith(f"{path}:{line}:")


@pytest.mark.parametrize("text", ["", "  \n\n", "# only a comment\n"])
def test_word_pairs_empty(tmp_path: Path, text: str) -> None:
    with pytest.raises(DatasetFormatError, match=r"empty|no word pairs"):
        parse_word_pairs("x", write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a b c d\n", 1, "before the first"),
        (": s\na b c d\na b c\n", 3, "expected 4 words"),
        (":\na b c d\n", 1, "without a name"),
    ],
)
def test_google_analogy_malformed(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DatasetFormatError, match=message) as error:
        parse_google_analogies("x", path)
    assert str(error.value).startswith(f"{path}:{line}:")


def test_msr_file_and_folder(tmp_path: Path) -> None:
    single = parse_msr_analogies("msr", write(tmp_path, "good better bad worse\nbig bigger small smaller\n"))
    assert [q.answers for q in single.questions] == [("worse",), ("smaller",)]
    folder = tmp_path / "msr"
    folder.mkdir()
    write(folder, "good better bad worse\n", "JJ_JJR.txt")
    write(folder, "cat cats dog dogs\n", "NN_NNS.txt")
    dataset = parse_msr_analogies("msr", folder)
    assert [q.section for q in dataset.questions] == ["JJ_JJR", "NN_NNS"]
    write(folder, "cat cats dog\n", "ZZ.txt")
    with pytest.raises(DatasetFormatError, match=r"ZZ.txt:1: expected 4 words"):
        parse_msr_analogies("msr", folder)


def bats_folder(root: Path, rows: str = "sun\tsuns\nmoon\tmoons\n") -> Path:
    """A complete BATS_3.0 layout: its 40 relation files, each holding ``rows``."""
    groups = {"I": "1_Inflectional_morphology", "D": "2_Derivational_morphology"}
    groups |= {"E": "3_Encyclopedic_semantics", "L": "4_Lexicographic_semantics"}
    for code in [f"{group}{number:02d}" for group in "IDEL" for number in range(1, 11)]:
        folder = root / "BATS_3.0" / groups[code[0]]
        folder.mkdir(parents=True, exist_ok=True)
        write(folder, rows, f"{code} [relation {code}].txt")
    return root / "BATS_3.0"


def test_bats_folder(tmp_path: Path) -> None:
    root = bats_folder(tmp_path)
    relation = root / "1_Inflectional_morphology"
    write(relation, "cat\tcats\ndog\tdogs\nox\toxen/oxes\n", "I01 [relation I01].txt")
    dataset = parse_bats("bats", root)
    assert len(dataset.questions) == 6 + 39 * 2  # every ordered pair of distinct rows of each relation
    to_ox = [q for q in dataset.questions if q.c == "ox"]
    assert {q.answers for q in to_ox} == {("oxen", "oxes")}
    write(relation, "cat\n", "I02 [relation I02].txt")
    with pytest.raises(DatasetFormatError, match=r"I02 \[relation I02\].txt:1:"):
        parse_bats("bats", root)


def test_bats_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="is a folder"):
        parse_bats("bats", write(tmp_path, "cat\tcats\n"))


def test_user_path_datasets_explain_how_to_get_them() -> None:
    for name in ("bats", "sts-b", "sick-r"):
        assert Resolver().locate(name) is None
        assert "--dataset" in DATASETS[name].skip_reason()


def test_registry_kinds() -> None:
    assert {"google-analogy", "msr-analogy", "bats"} <= set(n for n in DATASETS if DATASETS[n].kind is Kind.ANALOGIES)


def test_a_dataset_name_registered_twice_is_refused_and_a_miss_names_the_choices() -> None:
    shipped = DATASETS["bats"]
    with pytest.raises(RegistryError, match="dataset 'bats' registered twice"):
        DATASETS.register("bats", replace(shipped, summary="another BATS"))
    assert DATASETS["bats"] is shipped
    with pytest.raises(RegistryError, match=r"no dataset named 'batz'; registered: .*bats"):
        DATASETS["batz"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
@pytest.mark.parametrize("parser", [parse_word_pairs, parse_google_analogies, parse_msr_analogies])
def test_parsers_on_arbitrary_bytes_give_a_dataset_or_the_documented_error(tmp_path: Path, parser, data: bytes) -> None:
    path = write(tmp_path, data)
    try:
        dataset = parser("fuzz", path)
    except DatasetFormatError as error:
        assert str(error).startswith(str(path))
    else:
        assert dataset.info.rows > 0
