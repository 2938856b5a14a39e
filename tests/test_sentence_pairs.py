"""Sentence-pair datasets: Lee 2005 from gensim, and the STS-Benchmark and SICK file formats."""

from pathlib import Path

import pytest

from fixtures import DATASETS, DatasetFormatError, Kind, Resolver
from fixtures.parsers import parse_lee, parse_sick, parse_sts_benchmark


def test_lee_is_bundled_as_its_1225_document_pairs() -> None:
    data = Resolver().load("lee50")
    assert DATASETS["lee50"].kind is Kind.SENTENCE_PAIRS
    assert len(data.pairs) == data.info.rows == 50 * 49 // 2
    assert len(data.sentences) == 50
    assert data.scores.min() >= 0 and data.scores.max() <= 1
    assert data.info.sha256.startswith("78b582c6e2c8")


def test_sts_and_sick_are_skipped_with_how_to_get_them() -> None:
    for name in ("sts-b", "sick-r"):
        assert Resolver().locate(name) is None
        assert "--dataset" in DATASETS[name].skip_reason()


def test_lee_ratings_of_the_wrong_shape_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "lee.cor").write_text("one doc\nanother doc\nthird doc\n", encoding="latin-1")
    (tmp_path / "similarities0-1.txt").write_text("1\t0.5\t0.2\n0\t1\n0\t0\t1\n")
    with pytest.raises(DatasetFormatError, match="expected 3 ratings") as error:
        parse_lee("lee", tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'similarities0-1.txt'}:2:")


STS = (
    'main-captions\tMSRvid\t2012test\t0001\t5.000\tA man is playing a flute.\tA man plays the "flute.\n'
    'main-news\theadlines\t2013\t0002\t1.2\tShe said "no.\tA cat sleeps.\textra\tsource\n'
)


def test_sts_benchmark_keeps_unbalanced_quotes_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "sts-test.csv"
    path.write_text(STS)
    data = parse_sts_benchmark("sts-b", tmp_path)  # a folder holding sts-test.csv works too
    assert data.pairs == [("A man is playing a flute.", 'A man plays the "flute.'), ('She said "no.', "A cat sleeps.")]
    assert data.scores.tolist() == [5.0, 1.2]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (STS + "main\tx\t2012\t3\t2.0\tonly one sentence\n", 3, "got 6 fields"),
        ("a\tb\tc\td\thigh\ts\tt\n", 1, "not a number"),
    ],
)
def test_sts_benchmark_bad_lines(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "sts-test.csv"
    path.write_text(text)
    with pytest.raises(DatasetFormatError, match=message) as error:
        parse_sts_benchmark("sts-b", path)
    assert str(error.value).startswith(f"{path}:{line}:")


SICK = (
    "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\tSemEval_set\n"
    "1\tA boy runs.\tA kid runs.\t4.5\tENTAILMENT\tTRAIN\n"
    "2\tA dog barks.\tA cat sleeps.\t1.3\tNEUTRAL\tTEST\n"
)


def test_sick_reads_the_test_split_by_header(tmp_path: Path) -> None:
    path = tmp_path / "SICK.txt"
    path.write_text(SICK)
    data = parse_sick("sick-r", path)
    assert data.pairs == [("A dog barks.", "A cat sleeps.")]
    assert data.scores.tolist() == [1.3]
    annotated = tmp_path / "SICK_test_annotated.txt"
    annotated.write_text("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n1\ta\tb\t3\tX\n")
    assert len(parse_sick("sick-r", annotated).pairs) == 1


def test_sick_without_its_columns_names_the_header(tmp_path: Path) -> None:
    path = tmp_path / "SICK.txt"
    path.write_text("id\ta\tb\n1\tx\ty\n")
    with pytest.raises(DatasetFormatError, match="relatedness_score") as error:
        parse_sick("sick-r", path)
    assert str(error.value).startswith(f"{path}:1:")
