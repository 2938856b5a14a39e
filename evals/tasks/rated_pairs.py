"""What word and sentence similarity share: cosine per rated pair, and its correlation with the ratings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embedders import Embeddings
from evals.scoring import correlation, pair_cosines
from evals.tasks.measurement import OOVPolicy, input_counts, usable_unit_vectors
from fixtures import SentencePairs, WordPairs

MIN_PAIRS = 3  # fewer leave a correlation undefined or trivially +-1


def rated_pair_scores(
    name: str, dataset: WordPairs | SentencePairs, items: Sequence[str], embeddings: Embeddings, oov: OOVPolicy
) -> tuple[np.ndarray, dict[str, float]]:
    """Cosine per pair of ``dataset`` (``embeddings`` has a row per entry of ``items``) and the metrics:
    Spearman and Pearson against the ratings, items scored, coverage.

    ``skip`` drops pairs with an item the model cannot embed (NaN in the cosines); ``zero`` scores them 0.
    """
    unit, usable = usable_unit_vectors(embeddings)
    position = {item: index for index, item in enumerate(items)}
    left = np.array([position[a] for a, _ in dataset.pairs])
    right = np.array([position[b] for _, b in dataset.pairs])
    covered = usable[left] & usable[right]
    similarity = pair_cosines(unit[left], usable[left], unit[right], usable[right])
    if oov == "skip":
        keep = covered
    else:
        similarity[~covered] = 0.0
        keep = np.ones_like(covered)
    if keep.sum() < MIN_PAIRS:
        raise ValueError(
            f"{name} covers only {int(keep.sum())} pairs of {dataset.info.name}; "
            f"its vectors of the {len(items)} {'words' if isinstance(dataset, WordPairs) else 'sentences'}: "
            f"{input_counts(embeddings)}"
        )
    # constant similarities leave a correlation undefined: NaN, which no expectation accepts
    model, gold = similarity[keep], dataset.scores[keep]
    metrics = {
        "spearman": correlation("spearman", model, gold),
        "pearson": correlation("pearson", model, gold),
        "items_scored": int(keep.sum()),
        "items_total": len(dataset.pairs),
        "coverage": float(covered.mean()),
    }
    return similarity, metrics
