"""Paired bootstrap comparisons, Holm's correction within a claim's family, and the three-valued verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evals.claims.resampling import Resampling
from evals.records import Verdict
from evals.weighted import Statistic

CHUNK = 4_000_000  # weights held at once (resamples x items): about 32 MB
# more resamples than this on which the statistic is undefined, and the rest are not a sample of the same thing
MOST_DROPPED = 0.05


class Undefined(ValueError):
    """The comparison's statistic cannot be computed on these items; the message says why."""


@dataclass(frozen=True)
class Comparison:
    """subject minus reference, oriented so that the claimed direction is positive."""

    effect: float
    low: float  # interval: effect -/+ t(df) x standard error, not adjusted for the family
    high: float
    standard_error: float
    df: int
    p_value: float  # two-sided test of effect == margin (t with df, the bootstrap standard error); not adjusted
    items: int
    units: int
    strata: int
    unit: str
    resamples: int
    dropped: int  # resamples on which the statistic was undefined (NaN) on either side, left out
    seed: int
    confidence: float
    within_tolerance: bool  # |effect - margin| <= the numerical tolerance: never decisive


def paired_bootstrap(
    subject: np.ndarray,
    reference: np.ndarray,
    subject_statistic: Statistic,
    reference_statistic: Statistic,
    resampling: Resampling,
    *,
    sign: float = 1.0,
    margin: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    tolerance: float = 1e-6,
) -> Comparison:
    """Draw the resampling's units once per resample for both sides, so each resample compares them on the same
    items; the statistic is recomputed on every resample.

    Rows holding a NaN on either side are items one of the two could not score; they are left out of both.
    The standard error is the bootstrap's, times sqrt(G / (G - H)) for G units in H strata (the bootstrap's
    variance of a mean of G draws is (G - 1) / G of the true one); interval and p-value use Student's t with
    G - H degrees of freedom, so with 50 documents an interval is not as narrow as with 50,000 items.
    """
    subject, reference = _columns(subject), _columns(reference)
    if len(subject) != len(resampling) or len(reference) != len(resampling):
        raise ValueError(f"{len(subject)} and {len(reference)} rows for {len(resampling)} items")
    keep = ~(np.isnan(subject).any(axis=1) | np.isnan(reference).any(axis=1))
    items = int(keep.sum())
    if items < 2:
        raise Undefined(f"only {items} items scored by both sides: nothing to compare")
    subject, reference = np.where(keep[:, None], subject, 0.0), np.where(keep[:, None], reference, 0.0)
    whole = keep[None, :].astype(float)
    estimates = (float(subject_statistic(subject, whole)[0]), float(reference_statistic(reference, whole)[0]))
    if not all(np.isfinite(estimates)):
        undefined = [
            side for side, value in zip(("subject", "reference"), estimates, strict=True) if not np.isfinite(value)
        ]
        raise Undefined(
            f"statistic undefined on these items for the {' and '.join(undefined)} "
            f"({subject_statistic.name} of {items} items is NaN: e.g. a constant column, or no item of a class)"
        )
    effect = sign * (estimates[0] - estimates[1])
    rng = np.random.default_rng(seed)
    draws, units, strata = [], 0, 0
    step = max(1, CHUNK // max(len(keep), 1))
    for start in range(0, resamples, step):
        drawn = resampling.draw(keep, rng, min(step, resamples - start))
        if drawn.smallest < 2:
            raise Undefined(
                f"a stratum of {resampling.unit} holds {drawn.smallest} usable unit: its spread cannot be estimated"
            )
        units, strata = drawn.units, drawn.strata
        draws.append(sign * (subject_statistic(subject, drawn.weights) - reference_statistic(reference, drawn.weights)))
    values = np.concatenate(draws)
    finite = values[np.isfinite(values)]
    dropped = int(len(values) - len(finite))
    if dropped > MOST_DROPPED * resamples:
        raise Undefined(
            f"statistic undefined on {dropped} of {resamples} resamples (more than {MOST_DROPPED:.0%}): too few items "
            f"of some kind to draw {resampling.unit} from"
        )
    if len(finite) < 2:
        raise Undefined(f"{len(finite)} resamples with a value: no spread to test with")
    from scipy import stats  # here: importing scipy.stats takes a second, and a warm run draws no bootstrap

    df = units - strata  # at least one per stratum: each holds two units or more
    spread = float(finite.std(ddof=1)) * np.sqrt(units / df)
    distance = abs(effect - margin)
    within_tolerance = distance <= tolerance
    if within_tolerance:
        p_value = 1.0
    elif spread > 0:
        p_value = float(2 * stats.t.sf(distance / spread, df))
    else:
        p_value = 0.0  # every resample gives the same difference, and it is beyond the tolerance
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) * spread
    return Comparison(
        float(effect), float(effect - half), float(effect + half), spread, df, p_value, items, units, strata,
        resampling.unit, resamples, dropped, seed, confidence, within_tolerance,
    )  # fmt: skip


def _columns(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[:, None] if values.ndim == 1 else values


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order."""
    m = len(p_values)
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def family_adjusted(members: Sequence[str], measured: Mapping[str, float]) -> dict[str, float]:
    """Holm over every member of a claim's family; members this session did not measure count with p = 1.

    So a session that measures fewer members is never more decisive than one that measures them all: raising a
    p-value never lowers another's Holm-adjusted p (tests/test_claims_engine.py checks it as a property).
    """
    if unknown := set(measured) - set(members):
        raise ValueError(f"comparisons outside the family: {sorted(unknown)}")
    adjusted = holm([measured.get(member, 1.0) for member in members])
    return {member: p for member, p in zip(members, adjusted, strict=True) if member in measured}


def verdict(comparison: Comparison, adjusted_p: float, margin: float, alpha: float) -> Verdict:
    """Confirmed when the effect is surely above the margin, refuted when surely below, else inconclusive."""
    if comparison.within_tolerance or not adjusted_p < alpha:
        return Verdict.INCONCLUSIVE
    return Verdict.CONFIRMED if comparison.effect > margin else Verdict.REFUTED
