"""The authored anchor-variation dataset: what the shipped file holds, the loader's errors, the jumbler."""

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures import DATASETS, DatasetFormatError, Kind, Resolver
from fixtures.anchor_variations import find_form, jumble, labels_path, parse_anchor_variations
from fixtures.registry import ANCHOR_VARIATIONS_FILE


def shipped():
    return Resolver().load("anchor-variations")


def test_registered_and_bundled() -> None:
    assert DATASETS["anchor-variations"].kind is Kind.ANCHOR_VARIATIONS
    data = shipped()
    assert data.info.rows == len(data.anchors) >= 60
    assert len(data.info.sha256) == 64


def test_shipped_file_is_balanced_by_part_of_speech_with_enough_polysemy() -> None:
    data = shipped()
    counts = Counter(a.pos for a in data.anchors)
    assert set(counts) == {"noun", "verb", "adjective"}
    assert len(set(counts.values())) == 1 and counts["noun"] >= 20
    assert sum(a.polysemous for a in data.anchors) >= 15
    assert all(("polysemy" in a.variants) == a.polysemous for a in data.anchors)
    assert all(len(a.contexts) >= 5 for a in data.anchors)


def test_shipped_labels_match_the_papers_split() -> None:
    data = shipped()
    assert set(data.tasks(preserving=True)) == {"synonym", "paraphrase", "question", "exclamation"}
    assert set(data.tasks(preserving=False)) == {"antonym", "negation", "polysemy", "jumbling"}
    assert {t for t, label in data.labels.items() if not label.keeps_anchor} == {"synonym", "antonym"}


def test_every_kept_anchor_is_found_and_c3_sentences_share_a_surface_form() -> None:
    data = shipped()
    for anchor in data.anchors:
        c3 = [*anchor.main_sense, *([anchor.variants["polysemy"]] if anchor.polysemous else [])]
        forms = {anchor.in_context(s).word.lower() for s in c3}
        assert len(forms) == 1, (anchor.id, forms)  # so a static model's C3 measures are exactly 0
        for task, sentence in anchor.variants.items():
            if data.labels[task].keeps_anchor:
                assert find_form(sentence, anchor.forms) is not None, (anchor.id, task)
            else:
                assert find_form(sentence, (anchor.swaps[task],)) is not None, (anchor.id, task)


def test_whole_words_only() -> None:
    assert find_form("The banker went to the bank.", ("bank",)) == (23, 27)
    assert find_form("The banker smiled.", ("bank",)) is None
    assert find_form("She RAN home.", ("run", "ran")) == (4, 7)


def test_jumbling_of_the_shipped_file_is_pinned() -> None:
    # a changed generator or seed changes C2's data: this pin makes that a visible decision
    assert jumble("My friend helped me carry the boxes upstairs.", "friend") == (
        "me friend My helped boxes upstairs the carry."
    )


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(st.text("abcdefgh", min_size=1, max_size=6), min_size=2, max_size=12).filter(
        lambda w: len(set(w)) > 1
    ),
    end=st.sampled_from(["", ".", "!", "?"]),
    key=st.text(min_size=1, max_size=8),
)
def test_jumbling_is_a_deterministic_permutation_that_differs(words: list[str], end: str, key: str) -> None:
    sentence = " ".join(words) + end
    jumbled = jumble(sentence, key)
    assert jumbled == jumble(sentence, key)
    assert jumbled != sentence
    assert jumbled.endswith(end)
    assert sorted(jumbled[: len(jumbled) - len(end)].split()) == sorted(words)


def test_jumbling_is_the_same_in_another_process() -> None:
    code = "from fixtures.anchor_variations import jumble; print(jumble('a b c d e f g.', 'k'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == jumble("a b c d e f g.", "k")


def test_a_one_word_sentence_cannot_be_jumbled() -> None:
    with pytest.raises(ValueError, match="fewer than two"):
        jumble("Hello!", "x")


# ---------------------------------------------------------------- loader errors, by line


def copy_dataset(tmp_path: Path, rows: list[dict] | None = None, lines: list[str] | None = None) -> Path:
    target = tmp_path / "mine.v1.jsonl"
    shutil.copy(labels_path(ANCHOR_VARIATIONS_FILE), labels_path(target))
    if lines is None:
        lines = [json.dumps(r) for r in rows or []]
    target.write_text("\n".join(lines) + "\n")
    return target


def good_rows() -> list[dict]:
    return [json.loads(line) for line in ANCHOR_VARIATIONS_FILE.read_text().splitlines()[:3]]


def test_a_copy_loads_and_records_its_own_checksum(tmp_path: Path) -> None:
    path = copy_dataset(tmp_path, good_rows())
    data = parse_anchor_variations("mine", path)
    assert [a.id for a in data.anchors] == [r["id"] for r in good_rows()]
    assert data.info.sha256 != shipped().info.sha256


def broken(change) -> list[dict]:
    rows = good_rows()
    change(rows[1])
    return rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["sentences"].update(negation="Nothing to see here."), "negation .* holds none of the forms"),
        (lambda r: r["sentences"].update(paraphrase="The victorious team partied."), "paraphrase"),
        (lambda r: r["contexts"].__setitem__(0, "No anchor at all."), r"contexts\[0\]"),
        (lambda r: r["swaps"].update(synonym="zebra"), "swaps.synonym"),
        (lambda r: r.pop("pos"), "missing fields"),
        (lambda r: r.update(pos="adverb"), "pos must be one of"),
        (lambda r: r.update(schema="anchor-variations/9"), "schema must be"),
        (lambda r: r.update(colour="blue"), "unknown fields"),
        (lambda r: r.update(contexts=r["contexts"][:2]), "at least 5"),
        (lambda r: r["sentences"].update(polysemy="The victory of a different kind."), "polysemy only when"),
        (lambda r: r.update(id="friend"), "already used on line 1"),
    ],
)
def test_bad_rows_are_named_by_file_and_line(tmp_path: Path, change, message: str) -> None:
    path = copy_dataset(tmp_path, broken(change))
    with pytest.raises(DatasetFormatError, match=message) as error:
        parse_anchor_variations("mine", path)
    assert str(error.value).startswith(f"{path}:2:")


def test_invalid_json_is_named_by_line(tmp_path: Path) -> None:
    rows = good_rows()
    path = copy_dataset(tmp_path, lines=[json.dumps(rows[0]), json.dumps(rows[1]), "{not json"])
    with pytest.raises(DatasetFormatError, match="not valid JSON") as error:
        parse_anchor_variations("mine", path)
    assert str(error.value).startswith(f"{path}:3:")


def test_labels_file_is_required_and_checked(tmp_path: Path) -> None:
    path = copy_dataset(tmp_path, good_rows())
    labels = labels_path(path)
    labels.write_text(
        labels.read_text().replace('[variation.jumbling]\nlabel = "changing"', '[variation.jumbling]\nlabel = "maybe"')
    )
    with pytest.raises(DatasetFormatError, match=r"variation\.jumbling"):
        parse_anchor_variations("mine", path)
    labels.unlink()
    with pytest.raises(DatasetFormatError, match="labels file is missing"):
        parse_anchor_variations("mine", path)


def test_a_changed_label_changes_the_tasks(tmp_path: Path) -> None:
    path = copy_dataset(tmp_path, good_rows())
    labels = labels_path(path)
    labels.write_text(
        labels.read_text().replace(
            '[variation.question]\nlabel = "preserving"', '[variation.question]\nlabel = "changing"'
        )
    )
    data = parse_anchor_variations("mine", path)
    assert "question" in data.tasks(preserving=False)
