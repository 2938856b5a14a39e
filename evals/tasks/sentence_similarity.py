"""Sentence similarity: correlation between cosine similarities of sentence vectors and human ratings."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from embedders import Embedder
from evals.tasks.measurement import Measurement, input_counts, usable_unit_vectors
from fixtures import SentencePairs


def sentence_similarity(embedder: Embedder, dataset: SentencePairs) -> Measurement:
    """Pearson and Spearman of cosine against the ratings; pairs the embedder cannot embed are dropped."""
    sentences = dataset.sentences
    embeddings = embedder.embed_sentences(sentences)
    unit, usable = usable_unit_vectors(embeddings)
    position = {sentence: index for index, sentence in enumerate(sentences)}
    left = np.array([position[a] for a, _ in dataset.pairs])
    right = np.array([position[b] for _, b in dataset.pairs])
    covered = usable[left] & usable[right]
    similarity = np.einsum("ij,ij->i", unit[left], unit[right]).astype(np.float64)
    similarity[~covered] = np.nan
    if covered.sum() < 3:
        raise ValueError(f"{embedder.info.name} covers only {int(covered.sum())} pairs of {dataset.info.name}")
    gold, model = dataset.scores[covered], similarity[covered]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # constant cosines: NaN, which fails
        pearson = float(stats.pearsonr(gold, model).statistic)
        spearman = float(stats.spearmanr(gold, model).statistic)
    metrics = {
        "pearson": pearson,
        "spearman": spearman,
        "items_scored": int(covered.sum()),
        "items_total": len(dataset.pairs),
        "coverage": float(covered.mean()),
    }
    protocol = {
        "similarity": "cosine of embed_sentences vectors",
        "oov_policy": "skip",
        "correlation": "pearson and spearman",
        "inputs": input_counts(embeddings),
    }
    return Measurement("sentence-similarity", "", embedder.info, dataset.info, protocol, metrics, similarity)
