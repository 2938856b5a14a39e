"""Outlier detection: the 8-8-8 folder format and the outlier-position metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evals.tasks.outlier_detection import compactness, outlier_detection, outlier_position
from fixtures import DatasetFormatError, OutlierSets
from fixtures.parsers import parse_outlier_sets
from tests.conftest import small_static

PLANETS = "Mercury\nVenus\nEarth\nMars\n\nSun\nComet_Halley\nlunch\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# -- the format


def test_folder_of_sets(tmp_path: Path) -> None:
    write(tmp_path / "sets" / "planets.txt", PLANETS)
    write(tmp_path / "sets" / "cats.txt", "tiger\nlion\ncougar\n\n\ndog\n\n")
    dataset = parse_outlier_sets("x", tmp_path / "sets")
    assert [s.name for s in dataset.sets] == ["cats", "planets"]
    assert dataset.sets[1].cluster == ("Mercury", "Venus", "Earth", "Mars")
    assert dataset.sets[1].outliers == ("Sun", "Comet_Halley", "lunch")  # multi-word entries kept as written
    assert dataset.info.rows == len(dataset.cases) == 4
    assert dataset.cases[0] == (dataset.sets[0], "dog")


def test_checksum_follows_the_content(tmp_path: Path) -> None:
    path = write(tmp_path / "sets" / "planets.txt", PLANETS)
    before = parse_outlier_sets("x", tmp_path / "sets").info.sha256
    write(path, PLANETS.replace("lunch", "window"))
    assert parse_outlier_sets("x", tmp_path / "sets").info.sha256 != before


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a\nb\nc\n", None, "found one group"),
        ("a\nb\n\nc\n\nd\n", 6, "a third group"),
        ("a\n\nb\nc\n", 1, "the cluster has 1 word"),
        ("a\nb\n\nc\na\n", 5, "'a' is already on line 1"),
        ("a\nb\n\nc\n\xff\n".encode("latin-1"), 5, "not valid utf-8"),
        ("", None, "the file is empty"),
    ],
)
def test_bad_set_names_file_and_line(tmp_path: Path, text: str | bytes, line: int | None, message: str) -> None:
    path = write(tmp_path / "sets" / "bad.txt", text)
    write(tmp_path / "sets" / "good.txt", PLANETS)
    with pytest.raises(DatasetFormatError, match=message) as error:
        parse_outlier_sets("x", tmp_path / "sets")
    assert error.value.path == path and error.value.line == line
    assert str(error.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_folder_without_sets(tmp_path: Path) -> None:
    (tmp_path / "sets").mkdir()
    with pytest.raises(DatasetFormatError, match=r"no \.txt files"):
        parse_outlier_sets("x", tmp_path / "sets")


# -- the metric

unit_rows = arrays(np.float64, st.tuples(st.integers(3, 9), st.integers(2, 6)), elements=st.floats(-1, 1, width=32))


def normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.where(norms > 0, vectors / np.where(norms > 0, norms, 1), 0)


@settings(max_examples=200, deadline=None)
@given(vectors=unit_rows, seed=st.integers(0, 2**32 - 1))
def test_permuting_the_cluster_keeps_the_outlier_position(vectors: np.ndarray, seed: int) -> None:
    unit = normalised(vectors)
    order = np.random.default_rng(seed).permutation(len(unit) - 1)
    permuted = np.vstack([unit[:-1][order], unit[-1:]])
    position = outlier_position(unit, len(unit) - 1)
    assert outlier_position(permuted, len(unit) - 1) == position
    assert 0 <= position <= len(unit) - 1


@settings(max_examples=100, deadline=None)
@given(size=st.integers(2, 10), spread=st.floats(0, 0.3), seed=st.integers(0, 2**32 - 1))
def test_an_orthogonal_outlier_of_a_tight_cluster_is_last(size: int, spread: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cluster = np.zeros((size, 4))
    cluster[:, 0] = 1.0
    cluster[:, 1:3] = rng.uniform(-spread, spread, (size, 2))  # all within ~17 degrees of the first axis
    outlier = np.array([[0.0, 0.0, 0.0, 1.0]])
    unit = normalised(np.vstack([cluster, outlier]))
    assert outlier_position(unit, size) == size


def test_compactness_is_the_mean_cosine_with_the_others() -> None:
    unit = normalised(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    half = np.sqrt(0.5)
    np.testing.assert_allclose(compactness(unit), [half / 2, half, half / 2])
    # ties count against the outlier: rows 0 and 2 are as compact as each other
    assert outlier_position(unit, 2) == 1


def test_outlier_detection_through_a_real_static_backend(tmp_path: Path) -> None:
    write(tmp_path / "sets" / "a.txt", "x1\nx2\nx3\n\nfar\nmissing\nnear\n")
    dataset = parse_outlier_sets("tiny", tmp_path / "sets")
    vectors = np.array([[1, 0.1, 0], [1, -0.1, 0], [1, 0, 0.1], [0, 0, 1], [1, 0.05, 0.05]])
    embedder = small_static(["x1", "x2", "x3", "far", "near"], vectors)
    skip = outlier_detection(embedder, dataset, "skip")
    assert isinstance(dataset, OutlierSets)
    # far is last of 4 (OP 3 of 3); missing is skipped; near is the most compact word (OP 0)
    np.testing.assert_allclose(skip.items, [1.0, np.nan, 0.0])
    assert skip.metrics["opp"] == 0.5 and skip.metrics["accuracy"] == 0.5
    assert skip.metrics["items_scored"] == 2 and skip.metrics["coverage"] == pytest.approx(2 / 3)
    zero = outlier_detection(embedder, dataset, "zero")
    # a zero vector has cosine 0 with everything: the least compact, so found as the outlier
    assert zero.items[1] == 1.0 and zero.metrics["items_scored"] == 3
    assert skip.check == "outlier-detection/tiny"
