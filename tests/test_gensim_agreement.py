"""Our evaluators give gensim's own numbers on the real GloVe vectors (computed here, not typed in)."""

from pathlib import Path

import numpy as np
import pytest
from gensim.test.utils import datapath

from evals.tasks.analogy import analogy
from evals.tasks.word_similarity import word_similarity
from fixtures import Analogies, Resolver
from fixtures.parsers import parse_google_analogies

GOOGLE = Path(datapath("questions-words.txt"))
SECTION = "capital-common-countries"


@pytest.mark.parametrize("name", ["wordsim353", "simlex999"])
def test_word_pairs_match_gensim(glove, name: str) -> None:
    ours = word_similarity(glove, Resolver().load(name))
    vocabulary = len(glove.vocabulary())
    pearson, spearman, oov = glove.keyed_vectors.evaluate_word_pairs(
        datapath(Resolver().locate(name).name), restrict_vocab=vocabulary
    )
    assert ours.metrics["spearman"] == pytest.approx(spearman.statistic, abs=1e-4)
    assert ours.metrics["pearson"] == pytest.approx(pearson.statistic, abs=1e-4)
    assert 1 - ours.metrics["coverage"] == pytest.approx(oov / 100, abs=1e-9)


def test_open_vocabulary_analogy_matches_gensim(glove) -> None:
    ours = analogy(glove, Resolver().load("google-analogy"), "3cosadd", "open", open_size=300_000)
    score, sections = glove.keyed_vectors.evaluate_word_analogies(
        datapath("questions-words.txt"), restrict_vocab=300_000
    )
    assert ours.metrics["accuracy"] == pytest.approx(score, abs=1e-4)
    total = sections[-1]
    assert ours.metrics["items_scored"] == len(total["correct"]) + len(total["incorrect"])
    for section in sections[:-1]:
        expected = len(section["correct"]) / max(1, len(section["correct"]) + len(section["incorrect"]))
        assert ours.metrics[f"accuracy[{section['section']}]"] == pytest.approx(expected, abs=1e-3)


def _with_lower_case_copies(source: Path, target: Path, section: str) -> Path:
    """The questions of one Google section, each followed by its lower-case copy (the issue's case)."""
    lines = [f": {section}"]
    keep = False
    for line in source.read_text().splitlines():
        if line.startswith(":"):
            keep = line[1:].strip() == section
        elif keep:
            lines += [line, line.lower()]
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.mark.parametrize("vocabulary", ["closed", "open"])
def test_lower_case_copies_do_not_answer_their_own_question(glove, tmp_path: Path, vocabulary: str) -> None:
    """GloVe folds case, so a question's lower-case copy is the same question: adding the copies to the
    candidates must leave the accuracy as it was, not let "athens" answer "Athens : Greece :: Baghdad : ?"."""
    original = parse_google_analogies("copies", _with_lower_case_copies(GOOGLE, tmp_path / "a.txt", SECTION))
    plain = Analogies(original.info, original.questions[::2])
    first, copy = original.questions[:2]
    assert len(plain.questions) > 100 and copy.a == first.a.lower() != first.a
    with_copies = analogy(glove, original, "3cosadd", vocabulary).metrics["accuracy"]
    alone = analogy(glove, plain, "3cosadd", vocabulary).metrics["accuracy"]
    assert with_copies == pytest.approx(alone, abs=1e-12)


def test_lower_case_copies_match_gensim(glove, tmp_path: Path) -> None:
    """gensim's evaluator (case_insensitive=True by default) excludes every case variant of a, b and c."""
    path = _with_lower_case_copies(GOOGLE, tmp_path / "copies.txt", SECTION)
    ours = analogy(glove, parse_google_analogies("copies", path), "3cosadd", "open", open_size=300_000)
    score, sections = glove.keyed_vectors.evaluate_word_analogies(str(path), restrict_vocab=300_000)
    assert ours.metrics["accuracy"] == pytest.approx(score, abs=1e-12)
    assert ours.metrics["items_scored"] == len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])


class _Constant:
    """A broken model: every word gets one and the same (non-zero) vector."""

    def __init__(self, info) -> None:
        self.info = info

    def embed_words(self, words):
        from embedders import Embeddings

        return Embeddings(np.ones((len(words), 4), dtype=np.float32), np.ones(len(words), dtype=bool))


def test_a_model_that_cannot_tell_words_apart_is_never_credited(glove, tmp_path: Path) -> None:
    """Different words with the very same vector are not one word (only case variants with one vector are): with
    every candidate equally good the answer is whichever comes first, and a question whose every candidate is
    excluded is wrong, never answered by row 0."""
    questions = parse_google_analogies("copies", _with_lower_case_copies(GOOGLE, tmp_path / "c.txt", SECTION))
    constant = analogy(_Constant(glove.info), questions, "3cosadd", "closed").metrics["accuracy"]
    assert constant < 0.1
    tiny = tmp_path / "tiny.txt"
    tiny.write_text(": s\nx y y x\n")  # the answer is the question's own first word, so nothing may answer
    assert analogy(_Constant(glove.info), parse_google_analogies("tiny", tiny), "3cosadd").metrics["accuracy"] == 0
