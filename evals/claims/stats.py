"""Paired bootstrap comparisons, Holm's correction, and the three-valued verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats

Statistic = Callable[[np.ndarray], float]


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Comparison:
    """subject minus reference, oriented so that the claimed direction is positive."""

    effect: float
    low: float
    high: float
    p_value: float  # two-sided test of effect == margin, with the bootstrap standard error
    items: int
    resamples: int
    seed: int
    confidence: float


def paired_bootstrap(
    subject: np.ndarray,
    reference: np.ndarray,
    statistic: Statistic,
    *,
    sign: float = 1.0,
    margin: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Resample items (rows) once for both sides, so each resample compares them on the same items.

    Rows holding a NaN on either side are items one of the two could not score; they are left out of both.
    """
    subject, reference = np.asarray(subject, float), np.asarray(reference, float)
    if subject.ndim == 1:
        subject, reference = subject[:, None], reference[:, None]
    keep = ~(np.isnan(subject).any(axis=1) | np.isnan(reference).any(axis=1))
    subject, reference = subject[keep], reference[keep]
    n = len(subject)
    if n < 2:
        raise ValueError(f"only {n} items scored by both sides: nothing to compare")
    effect = sign * (statistic(subject) - statistic(reference))
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        rows = rng.integers(0, n, n)
        draws[i] = sign * (statistic(subject[rows]) - statistic(reference[rows]))
    draws = draws[~np.isnan(draws)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    # normal approximation with the bootstrap's standard error: unlike counting resamples beyond the margin,
    # it can give p-values far below 1/resamples, which Holm's correction over many comparisons needs
    spread = float(draws.std(ddof=1))
    if spread > 0:
        p_value = float(2 * stats.norm.sf(abs(effect - margin) / spread))
    else:
        p_value = 0.0 if effect != margin else 1.0
    return Comparison(float(effect), float(low), float(high), float(p_value), n, resamples, seed, confidence)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def verdict(comparison: Comparison, adjusted_p: float, margin: float, alpha: float) -> Verdict:
    """Confirmed when the effect is surely above the margin, refuted when surely below, else inconclusive."""
    if adjusted_p >= alpha:
        return Verdict.INCONCLUSIVE
    return Verdict.CONFIRMED if comparison.effect > margin else Verdict.REFUTED


def mean(values: np.ndarray) -> float:
    return float(values[:, 0].mean())
