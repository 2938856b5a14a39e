"""Word similarity: rank correlation between cosine similarities and human ratings."""

from __future__ import annotations

from embedders import Embedder
from evals.tasks.measurement import Measurement, OOVPolicy, input_counts
from evals.tasks.rated_pairs import rated_pair_scores
from fixtures import WordPairs


def word_similarity(embedder: Embedder, dataset: WordPairs, oov: OOVPolicy = "skip") -> Measurement:
    """Spearman and Pearson of cosine against the ratings.

    ``skip`` drops pairs with a word the model cannot embed; ``zero`` scores them 0 (gensim's dummy4unknown).
    """
    words = dataset.words
    embeddings = embedder.embed_words(words)
    similarity, metrics = rated_pair_scores(embedder.info.name, dataset, words, embeddings, oov)
    protocol = {
        "similarity": "cosine",
        "oov_policy": oov,
        "correlation": "spearman (pearson also given)",
        "inputs": input_counts(embeddings),
    }
    return Measurement("word-similarity", "", embedder.info, dataset.info, protocol, metrics, similarity)
