"""Sentence similarity: correlation between cosine similarities of sentence vectors and human ratings."""

from __future__ import annotations

from embedders import Embedder
from evals.tasks.measurement import Measurement, input_counts
from evals.tasks.rated_pairs import rated_pair_scores
from fixtures import SentencePairs


def sentence_similarity(embedder: Embedder, dataset: SentencePairs) -> Measurement:
    """Pearson and Spearman of cosine against the ratings; pairs the embedder cannot embed are dropped."""
    sentences = dataset.sentences
    embeddings = embedder.embed_sentences(sentences)
    similarity, metrics = rated_pair_scores(embedder.info.name, dataset, sentences, embeddings, "skip")
    protocol = {
        "similarity": "cosine of embed_sentences vectors",
        "oov_policy": "skip",
        "correlation": "pearson and spearman",
        "inputs": input_counts(embeddings),
    }
    return Measurement("sentence-similarity", "", embedder.info, dataset.info, protocol, metrics, similarity)
