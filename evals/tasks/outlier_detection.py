"""Outlier detection (Camacho-Collados & Navigli 2016, "Find the intruder"): which word of a set does not belong?"""

from __future__ import annotations

import numpy as np

from embedders import Embedder
from evals.tasks.measurement import Measurement, OOVPolicy, input_counts, usable_unit_vectors
from fixtures import OutlierSets

TIE = 1e-9  # compactness scores closer than this count as equal (float64 sums differ by ~1e-16 with the order)


def compactness(unit: np.ndarray) -> np.ndarray:
    """Per row of ``unit`` (unit vectors of a set W), the mean cosine with the other rows: the paper's
    pseudo-inverted compactness score with cosine as the similarity."""
    unit = np.asarray(unit, dtype=np.float64)
    cosines = unit @ unit.T
    return (cosines.sum(axis=1) - np.diag(cosines)) / (len(unit) - 1)


def outlier_position(unit: np.ndarray, outlier: int) -> int:
    """Where the outlier row lands when W is sorted by compactness, highest first (0-based): |W| - 1 is best.

    Ties count against the outlier: a word as compact as the outlier stays after it, so the position is the
    number of words strictly more compact, whatever the order of W. Scores within TIE of each other are ties:
    the order of W changes the order of the sums, and rounding must not decide a position.
    """
    scores = compactness(unit)
    others = np.delete(scores, outlier)
    return int((others > scores[outlier] + TIE).sum())


def outlier_detection(embedder: Embedder, dataset: OutlierSets, oov: OOVPolicy = "skip") -> Measurement:
    """Per test case (a set's cluster plus one of its outliers), OP / (|W| - 1); OPP is their mean and accuracy
    the share with the outlier last.

    ``skip`` leaves out the cluster words the model cannot embed and skips a case whose outlier it cannot embed
    (or with fewer than 2 cluster words left); ``zero`` keeps them as zero vectors (cosine 0 with everything).
    """
    words = dataset.words
    embeddings = embedder.embed_words(words)
    unit, usable = usable_unit_vectors(embeddings)
    row = {word: index for index, word in enumerate(words)}
    scores = np.full(len(dataset.cases), np.nan)
    for case, (found, outlier) in enumerate(dataset.cases):
        cluster = [row[word] for word in found.cluster if oov == "zero" or usable[row[word]]]
        if oov == "skip" and (not usable[row[outlier]] or len(cluster) < 2):
            continue
        members = unit[[*cluster, row[outlier]]]
        scores[case] = outlier_position(members, len(cluster)) / len(cluster)
    scored = ~np.isnan(scores)
    if not scored.any():
        raise ValueError(
            f"{embedder.info.name} scores none of the {len(scores)} cases of {dataset.info.name}; its vectors of "
            f"the {len(words)} words: {input_counts(embeddings)}"
        )
    metrics = {
        "opp": float(scores[scored].mean()),
        "accuracy": float((scores[scored] == 1.0).mean()),
        "items_scored": int(scored.sum()),
        "items_total": len(scores),
        "coverage": float(scored.mean()),
        "words_covered": float(usable.mean()),
    }
    protocol = {
        "compactness": "mean cosine of a word with the other words of cluster + outlier (pseudo-inverted, cosine)",
        "outlier_position": "words strictly more compact than the outlier (ties count against it); best |W|-1",
        "oov_policy": oov,
        "multi_word_entries": "embedded as written in the file (8-8-8 joins words with '_'), one embed_words input",
        "inputs": input_counts(embeddings),
    }
    return Measurement("outlier-detection", "", embedder.info, dataset.info, protocol, metrics, scores)
