"""Our evaluators give gensim's own numbers on the real GloVe vectors (computed here, not typed in)."""

import pytest
from gensim.test.utils import datapath

from evals.tasks.analogy import analogy
from evals.tasks.word_similarity import word_similarity
from fixtures import Resolver


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
