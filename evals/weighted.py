"""The claim statistics over weighted items, many weightings at once.

A bootstrap resample is a weighting of the items (how often each was drawn), so every statistic here takes the
item values and a matrix of weightings, one row per resample, and returns one value per row. With integer
weights each equals the plain statistic on the items repeated that many times (tests/test_statistics.py checks it);
evaluating 2,000 resamples is then a few matrix products instead of 2,000 calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Statistic(Protocol):
    """``values``: items x columns; ``weights``: resamples x items, non-negative. One value per resample; NaN
    where the statistic is undefined on that weighting (no positives left, a constant column, ...)."""

    name: str

    def __call__(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray: ...


def once(statistic: Statistic, values: np.ndarray) -> float:
    """The statistic on the items as they are (every usable item once; rows holding NaN left out)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    usable = ~np.isnan(values).any(axis=1)
    return float(statistic(np.where(usable[:, None], values, 0.0), usable[None, :].astype(float))[0])


def _total(weights: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    return np.where(total > 0, total, np.nan)


class Mean:
    name = "mean"

    def __call__(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return (weights @ values[:, 0]) / _total(weights)


def midranks(column: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each item's rank among the weighted items, ties sharing their mean rank, as if every item were repeated
    its weight times (resamples x items; an item of weight 0 gets the rank it would have, which nobody reads)."""
    order = np.argsort(column, kind="stable")
    ordered = column[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    group_of_sorted = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    group_weight = np.add.reduceat(weights[:, order], starts, axis=1)
    below = np.cumsum(group_weight, axis=1) - group_weight
    group_rank = below + (group_weight + 1) / 2
    ranks = np.empty_like(weights, dtype=float)
    ranks[:, order] = group_rank[:, group_of_sorted]
    return ranks


def _constant(column: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per resample: are the drawn values of this column all the same (exactly)?"""
    drawn = weights > 0
    high = np.where(drawn, column[None, :], -np.inf).max(axis=1)
    low = np.where(drawn, column[None, :], np.inf).min(axis=1)
    return high == low


def _pearson(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Pearson's r of x and y (each resamples x items, or items broadcast)."""
    total = _total(weights)
    mx = (weights * x).sum(axis=1) / total
    my = (weights * y).sum(axis=1) / total
    dx, dy = x - mx[:, None], y - my[:, None]
    covariance = (weights * dx * dy).sum(axis=1)
    scale = np.sqrt((weights * dx * dx).sum(axis=1) * (weights * dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = covariance / scale
    return np.where(scale > 0, r, np.nan)


class Pearson:
    """Pearson's r between column 0 and column 1; NaN where either is constant on the drawn items (an exactly
    constant column's mean is not always exact, which would leave an r of about 1e-17 instead)."""

    name = "pearson"

    def __call__(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        x, y = values[:, 0], values[:, 1]
        r = _pearson(x[None, :], y[None, :], weights)
        return np.where(_constant(x, weights) | _constant(y, weights), np.nan, r)


class Spearman:
    """Spearman's rho: Pearson's r of the (weighted mid-)ranks of column 0 and column 1."""

    name = "spearman"

    def __call__(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        x, y = values[:, 0], values[:, 1]
        r = _pearson(midranks(x, weights), midranks(y, weights), weights)
        return np.where(_constant(x, weights) | _constant(y, weights), np.nan, r)


class Auc:
    """Probability that an item labelled 1 (column 1) scores higher in column 0 than an item labelled 0, ties
    counting half (the Mann-Whitney statistic over the weighted items); NaN without both labels."""

    name = "auc"

    def __call__(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        positive = values[:, 1] > 0.5
        ranks = midranks(values[:, 0], weights)
        n_pos = weights[:, positive].sum(axis=1)
        n_neg = weights[:, ~positive].sum(axis=1)
        rank_sum = (weights[:, positive] * ranks[:, positive]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


@dataclass(frozen=True)
class Silhouette:
    """Mean silhouette (cosine distance) of items by their label, recomputed on every weighting.

    A drawn word's copies are not its neighbours: a(i) and b(i) average over the *other* drawn words, each by its
    weight, so a word drawn twice does not sit at distance 0 from itself. With every weight 1 this is
    scikit-learn's silhouette_score (a word alone in its label scores 0, as there)."""

    distances: np.ndarray  # items x items
    labels: np.ndarray  # one label per item
    name: str = "silhouette"

    def __call__(self, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
        codes = np.unique(self.labels, return_inverse=True)[1]
        count = codes.max() + 1
        members = [np.flatnonzero(codes == c) for c in range(count)]
        # weighted distance sums from every item to every label: resamples x items x labels
        sums = np.stack([weights[:, idx] @ self.distances[idx, :] for idx in members], axis=2)
        label_weight = np.stack([weights[:, idx].sum(axis=1) for idx in members], axis=1)  # resamples x labels
        own = np.take_along_axis(sums, np.broadcast_to(codes[None, :, None], (len(weights), len(codes), 1)), 2)[..., 0]
        own_weight = label_weight[:, codes] - weights  # the other drawn words of the item's own label
        with np.errstate(invalid="ignore", divide="ignore"):
            a = own / own_weight
            mean_to = sums / label_weight[:, None, :]
        others = np.where(
            (np.arange(count)[None, None, :] != codes[None, :, None]) & (label_weight[:, None, :] > 0), mean_to, np.inf
        )
        b = others.min(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (b - a) / np.maximum(a, b)
        s = np.where((own_weight > 0) & np.isfinite(b), s, 0.0)
        s = np.where(np.isnan(s), 0.0, s)  # a and b both 0: identical vectors, as scikit-learn scores it
        return (weights * s).sum(axis=1) / _total(weights)


def cosine_distances(unit: np.ndarray) -> np.ndarray:
    """1 - cosine of unit rows, clipped to [0, 2] with an exact 0 diagonal, as scikit-learn computes them."""
    unit = unit.astype(np.float64)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    return distances


MEAN, PEARSON, SPEARMAN, AUC = Mean(), Pearson(), Spearman(), Auc()
