"""Per-item scores of one embedder for each claim metric, registered by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn.metrics import silhouette_samples

from embedders import Embedder, Embeddings
from evals.claims.settings import Settings
from evals.claims.stats import Statistic, mean
from evals.tasks.analogy import analogy
from evals.tasks.measurement import usable_unit_vectors
from fixtures import DatasetInfo, load, locate
from fixtures.claim_data import google_categories, google_related_pairs, human_rated_pairs, random_wordnet_pairs


@dataclass
class ItemScores:
    """Rows are items; ``statistic`` turns any subset of rows into the embedder's score."""

    values: np.ndarray
    statistic: Statistic
    dataset: DatasetInfo
    protocol: dict[str, object]
    summary: dict[str, object] = field(default_factory=dict)

    @property
    def score(self) -> float:
        rows = self.values[~np.isnan(self.values).any(axis=1)]
        return self.statistic(rows) if len(rows) > 1 else float("nan")


class WordMemo:
    """Each word embedded once per embedder per session, whichever metrics ask for it."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder: Embedder | None = embedder
        self.info = embedder.info
        self._unit: dict[str, np.ndarray | None] = {}

    def release(self) -> None:
        """Forget the model; words already embedded stay available."""
        self.embedder = None

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        """The protocol's word method, from the memo: unit vectors, so cosine-based tasks run after release."""
        return Embeddings(*self.unit(words))

    def unit(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        missing = list(dict.fromkeys(w for w in words if w not in self._unit))
        if missing:
            if self.embedder is None:
                raise RuntimeError(f"{self.info.name} was released before embedding {missing[:3]}")
            unit, usable = usable_unit_vectors(self.embedder.embed_words(missing))
            for word, vector, ok in zip(missing, unit, usable, strict=True):
                self._unit[word] = vector if ok else None
        dimension = next(v for v in (*self._unit.values(), np.zeros(1)) if v is not None).shape[0]
        usable = np.array([self._unit[w] is not None for w in words], dtype=bool)
        matrix = np.zeros((len(words), dimension), dtype=np.float32)
        for row, word in enumerate(words):
            if usable[row]:
                matrix[row] = self._unit[word]
        return matrix, usable


def pair_cosines(memo: WordMemo, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Cosine per pair; NaN where the embedder cannot embed one of the words."""
    left, left_ok = memo.unit([a for a, _ in pairs])
    right, right_ok = memo.unit([b for _, b in pairs])
    cosines = np.einsum("ij,ij->i", left, right).astype(float)
    cosines[~(left_ok & right_ok)] = np.nan
    return cosines


def auc(values: np.ndarray) -> float:
    """Probability that a related pair (label 1) is more similar than a random one (label 0)."""
    scores, labels = values[:, 0], values[:, 1] > 0.5
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def spearman(values: np.ndarray) -> float:
    return float(stats.spearmanr(values[:, 0], values[:, 1]).statistic)


def describe(values: np.ndarray) -> dict[str, object]:
    finite = values[np.isfinite(values)]
    quantiles = np.quantile(finite, [0.05, 0.25, 0.5, 0.75, 0.95])
    histogram, edges = np.histogram(finite, bins=40, range=(-1, 1))
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "quantiles": dict(zip(["q05", "q25", "q50", "q75", "q95"], quantiles.round(4).tolist(), strict=True)),
        "histogram": {"edges": edges.round(3).tolist(), "counts": histogram.tolist()},
    }


Metric = Callable[..., ItemScores]
METRICS: dict[str, Metric] = {}


def metric(name: str) -> Callable[[Metric], Metric]:
    def register(function: Metric) -> Metric:
        METRICS[name] = function
        return function

    return register


@metric("random-pair-similarity")
def random_pair_similarity(memo: WordMemo, settings: Settings) -> ItemScores:
    data = random_wordnet_pairs(settings.random_pairs, settings.seed)
    cosines = pair_cosines(memo, data.pairs)
    protocol = {"statistic": "mean cosine over random word pairs", "pairs": len(data.pairs), "seed": settings.seed}
    return ItemScores(cosines[:, None], mean, data.info, protocol, describe(cosines))


@metric("related-vs-random-auc")
def related_vs_random_auc(memo: WordMemo, settings: Settings, relation: str) -> ItemScores:
    related = google_related_pairs()
    chosen = [p for p, label in zip(related.pairs, related.labels, strict=True) if label == relation]
    randoms = random_wordnet_pairs(settings.random_pairs, settings.seed)
    related_cos, random_cos = pair_cosines(memo, chosen), pair_cosines(memo, randoms.pairs)
    values = np.column_stack(
        [np.concatenate([related_cos, random_cos]), np.r_[np.ones(len(chosen)), np.zeros(len(random_cos))]]
    )
    pooled = np.sqrt((np.nanvar(related_cos, ddof=1) + np.nanvar(random_cos, ddof=1)) / 2)
    summary = {"cohens_d": float((np.nanmean(related_cos) - np.nanmean(random_cos)) / pooled), "relation": relation}
    info = DatasetInfo(
        f"{related.info.name}[{relation}]+{randoms.info.name}",
        f"{related.info.path} | {randoms.info.path}",
        related.info.sha256[:32] + randoms.info.sha256[:32],
        len(values),
    )
    protocol = {
        "statistic": "AUC: related pair more similar than a random pair",
        "relation": relation,
        "random_pairs": len(randoms.pairs),
        "seed": settings.seed,
    }
    return ItemScores(values, auc, info, protocol, summary)


@metric("category-silhouette")
def category_silhouette(memo: WordMemo, settings: Settings) -> ItemScores:
    data = google_categories()
    unit, usable = memo.unit(data.words)
    labels = np.array(data.labels)
    per_word = np.full(len(data.words), np.nan)
    per_word[usable] = silhouette_samples(unit[usable], labels[usable], metric="cosine")
    similarity = unit[usable] @ unit[usable].T
    same = labels[usable][:, None] == labels[usable][None, :]
    off_diagonal = ~np.eye(len(similarity), dtype=bool)
    within = float(similarity[same & off_diagonal].mean())
    between = float(similarity[~same].mean())
    randoms = random_pair_similarity(memo, settings).score
    summary = {
        "within_category_cosine": within,
        "between_category_cosine": between,
        "within_over_random_pairs": within / randoms if randoms else float("nan"),
    }
    protocol = {
        "statistic": "mean silhouette (cosine distance) by gold category",
        "categories": sorted(set(data.labels)),
    }
    return ItemScores(per_word[:, None], mean, data.info, protocol, summary)


@metric("analogy-accuracy")
def analogy_accuracy(
    memo: WordMemo, settings: Settings, dataset: str = "google-analogy", method: str = "3cosadd"
) -> ItemScores:
    measurement = analogy(memo, load(dataset, locate(dataset, {})), method, "closed")
    sections = {k: v for k, v in measurement.metrics.items() if k.startswith("accuracy[")}
    return ItemScores(measurement.items[:, None], mean, measurement.dataset, measurement.protocol, sections)


@metric("agreement")
def agreement(memo: WordMemo, settings: Settings, anchor: WordMemo) -> ItemScores:
    data = human_rated_pairs()
    values = np.column_stack([pair_cosines(memo, data.pairs), pair_cosines(anchor, data.pairs)])
    protocol = {
        "statistic": f"Spearman between this embedder's and {anchor.info.name}'s pair cosines",
        "anchor": anchor.info.name,
        "anchor_fingerprint": anchor.info.fingerprint,
    }
    return ItemScores(values, spearman, data.info, protocol)
