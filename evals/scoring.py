"""Scoring shared by the evals (evals/tasks) and the claims (evals/claims): the cosine of each pair of items and the
correlation of scores with human ratings, computed one way for both."""

from __future__ import annotations

import numpy as np

from evals.weighted import PEARSON, SPEARMAN, Statistic, once

CORRELATIONS: dict[str, Statistic] = {"pearson": PEARSON, "spearman": SPEARMAN}


def pair_cosines(left: np.ndarray, left_ok: np.ndarray, right: np.ndarray, right_ok: np.ndarray) -> np.ndarray:
    """Cosine of each row pair of two stacks of unit vectors; NaN where either row is unusable."""
    cosines = np.einsum("ij,ij->i", left.astype(np.float64), right.astype(np.float64))
    cosines[~(np.asarray(left_ok) & np.asarray(right_ok))] = np.nan
    return cosines


def correlation(name: str, scores: np.ndarray, ratings: np.ndarray) -> float:
    """Spearman's rho (ties at their mean rank) or Pearson's r over the rows where both are known; NaN when
    undefined (a constant column)."""
    if name not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {sorted(CORRELATIONS)}, got {name!r}")
    return once(CORRELATIONS[name], np.column_stack([scores, ratings]))
