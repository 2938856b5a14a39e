"""Word similarity: rank correlation between cosine similarities and human ratings."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from embedders import Embedder
from evals.tasks.measurement import Measurement, OOVPolicy, input_counts, usable_unit_vectors
from fixtures import WordPairs


def word_similarity(embedder: Embedder, dataset: WordPairs, oov: OOVPolicy = "skip") -> Measurement:
    """Spearman and Pearson of cosine against the ratings.

    ``skip`` drops pairs with a word the model cannot embed; ``zero`` scores them 0 (gensim's dummy4unknown).
    """
    words = dataset.words
    embeddings = embedder.embed_words(words)
    unit, usable = usable_unit_vectors(embeddings)
    position = {word: index for index, word in enumerate(words)}
    left = np.array([position[a] for a, _ in dataset.pairs])
    right = np.array([position[b] for _, b in dataset.pairs])
    covered = usable[left] & usable[right]
    similarity = np.einsum("ij,ij->i", unit[left], unit[right]).astype(np.float64)
    if oov == "skip":
        similarity[~covered] = np.nan
        keep = covered
    else:
        similarity[~covered] = 0.0
        keep = np.ones_like(covered)
    if keep.sum() < 3:
        raise ValueError(
            f"{embedder.info.name} covers only {int(keep.sum())} pairs of {dataset.info.name}; "
            f"its vectors of the {len(words)} words: {input_counts(embeddings)}"
        )
    gold, model = dataset.scores[keep], similarity[keep]
    with warnings.catch_warnings():
        # constant similarities leave the correlation undefined: NaN, which no expectation accepts
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        spearman = float(stats.spearmanr(gold, model).statistic)
        pearson = float(stats.pearsonr(gold, model).statistic)
    metrics = {
        "spearman": spearman,
        "pearson": pearson,
        "items_scored": int(keep.sum()),
        "items_total": len(dataset.pairs),
        "coverage": float(covered.mean()),
    }
    protocol = {
        "similarity": "cosine",
        "oov_policy": oov,
        "correlation": "spearman (pearson also given)",
        "inputs": input_counts(embeddings),
    }
    return Measurement("word-similarity", "", embedder.info, dataset.info, protocol, metrics, similarity)
