"""Sentence similarity: does each embedder's cosine between sentences rank pairs as people do?"""

from embedders import Embedder
from evals.tasks.sentence_similarity import sentence_similarity
from fixtures import SentencePairs


def test_sentence_similarity(embedder: Embedder, sentence_pairs: SentencePairs, measure, judge) -> None:
    judge(measure(sentence_similarity, embedder, sentence_pairs))
