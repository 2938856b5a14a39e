"""The weighted statistics equal their plain forms on repeated items, and the bootstrap's intervals cover the
truth as often as they say when items share parts (and would not if the items were drawn instead)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from sklearn.metrics import silhouette_score

from evals.claims.resampling import Resampling
from evals.claims.stats import paired_bootstrap
from evals.weighted import AUC, MEAN, PEARSON, SPEARMAN, Silhouette, cosine_distances, once

rounded = st.floats(-3, 3).map(lambda x: round(x, 1))  # coarse values: many ties, as in human ratings


@settings(max_examples=150, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(3, 25), st.just(2)), elements=rounded),
    st.lists(st.integers(0, 3), min_size=25, max_size=25),
)
def test_weights_are_repetitions(values: np.ndarray, counts: list[int]) -> None:
    weights = np.array(counts[: len(values)], dtype=float)
    repeated = np.repeat(values, weights.astype(int), axis=0)
    labelled = np.column_stack([values[:, 0], values[:, 1] > 0])
    for statistic, data in ((MEAN, values), (PEARSON, values), (SPEARMAN, values), (AUC, labelled)):
        expanded = np.repeat(data, weights.astype(int), axis=0)
        weighted = statistic(data, weights[None, :])[0]
        plain = once(statistic, expanded) if len(repeated) > 1 else np.nan
        if np.isnan(plain):
            assert np.isnan(weighted) or len(repeated) < 2, statistic.name
        else:
            assert weighted == pytest.approx(plain, abs=1e-9), statistic.name


def test_spearman_and_auc_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 5, 60).astype(float), rng.integers(0, 4, 60).astype(float)
    assert once(SPEARMAN, np.column_stack([x, y])) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    labels = rng.random(60) > 0.5
    u = stats.mannwhitneyu(x[labels], x[~labels]).statistic / (labels.sum() * (~labels).sum())
    assert once(AUC, np.column_stack([x, labels])) == pytest.approx(u, abs=1e-12)


def weighted_silhouette(distances: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    """The definition, word by word: a(i) and b(i) average over the other drawn words, each by its weight."""
    values = []
    for i in np.flatnonzero(weights > 0):
        own = (labels == labels[i]) & (np.arange(len(labels)) != i) & (weights > 0)
        if not own.any():
            values.append(0.0)
            continue
        a = np.average(distances[i, own], weights=weights[own])
        others = [
            np.average(distances[i, group], weights=weights[group])
            for label in set(labels) - {labels[i]}
            if (group := (labels == label) & (weights > 0)).any()
        ]
        b = min(others) if others else np.inf
        values.append(0.0 if not np.isfinite(b) or max(a, b) == 0 else (b - a) / max(a, b))
    return float(np.average(values, weights=weights[weights > 0]))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4), st.lists(st.integers(0, 3), min_size=24, max_size=24))
def test_the_silhouette_is_scikit_learns_and_copies_are_not_neighbours(
    seed: int, labels_count: int, counts: list[int]
) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(24, 5))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = np.arange(24) % labels_count
    distances = cosine_distances(unit)
    statistic = Silhouette(distances, labels)
    ones = np.ones((1, 24))
    assert statistic(unit, ones)[0] == pytest.approx(silhouette_score(unit, labels, metric="cosine"), abs=1e-9)
    weights = np.array(counts, dtype=float)
    if weights.sum() == 0:
        return
    # a word drawn twice counts twice, but is not at distance 0 from its own copy
    expected = weighted_silhouette(distances, labels, weights)
    assert statistic(unit, weights[None, :])[0] == pytest.approx(expected, abs=1e-9)


# ---------------------------------------------------------------- calibration

DOCUMENTS = 50
LEFT, RIGHT = (np.array(side) for side in zip(*itertools.combinations(range(DOCUMENTS), 2), strict=True))
TRUE_DIFFERENCE = 0.3


def document_pairs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A score per pair of 50 documents for two embedders, each pair's score sharing its two documents' effects
    (as Lee50's pairs do): the pairs are far from independent. The expected difference is exactly 0.3."""
    rng = np.random.default_rng(seed)
    shared, own = rng.normal(0, 1, DOCUMENTS), rng.normal(0, 1, DOCUMENTS)
    noise = lambda: rng.normal(0, 1, len(LEFT))  # noqa: E731
    subject = TRUE_DIFFERENCE + shared[LEFT] + shared[RIGHT] + noise()
    reference = 0.5 * (shared[LEFT] + shared[RIGHT]) + own[LEFT] + own[RIGHT] + noise()
    return subject, reference


def coverage(resampling: Resampling, datasets: int = 200) -> float:
    hits = 0
    for seed in range(datasets):
        subject, reference = document_pairs(seed)
        c = paired_bootstrap(subject, reference, MEAN, MEAN, resampling, resamples=400, seed=10_000 + seed)
        hits += c.low <= TRUE_DIFFERENCE <= c.high
    return hits / datasets


def test_drawing_documents_covers_the_truth_at_the_stated_rate() -> None:
    documents = Resampling.pairs_of(list(LEFT), list(RIGHT), "documents")
    assert 0.92 <= coverage(documents) <= 0.98


def test_drawing_pairs_as_if_independent_does_not() -> None:
    assert coverage(Resampling.items(len(LEFT), "pairs")) < 0.80
