"""Word similarity: does each embedder's cosine rank word pairs as people do?"""

from embedders import Embedder
from evals.tasks.word_similarity import word_similarity
from fixtures import WordPairs


def test_word_similarity(embedder: Embedder, word_pairs: WordPairs, oov_policy, measure, judge) -> None:
    judge(measure(word_similarity, embedder, word_pairs, oov_policy))
