"""Per-item scores of one embedder for each claim metric, registered by name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import silhouette_samples

from embedders import Embedder, EmbedderInfo, Embeddings
from evals.claims.resampling import Resampling
from evals.claims.settings import Settings
from evals.claims.weighted import AUC, MEAN, SPEARMAN, Silhouette, Statistic, cosine_distances, once
from evals.records import Deviation
from evals.tasks.analogy import analogy
from evals.tasks.measurement import input_counts, usable_unit_vectors
from fixtures import Analogies, DatasetInfo, load, locate
from fixtures.claim_data import google_categories, google_related_pairs, human_rated_pairs, random_wordnet_pairs


@dataclass
class ItemScores:
    """Rows are items; ``statistic`` turns any weighting of the rows into the embedder's score, and
    ``resampling`` names the independent units the rows are built from (what the bootstrap draws)."""

    values: np.ndarray
    statistic: Statistic
    resampling: Resampling
    dataset: DatasetInfo
    protocol: dict[str, object]
    summary: dict[str, object] = field(default_factory=dict)
    # how this metric's protocol differs from the paper's (a stand-in dataset, a closed vocabulary ...)
    deviations: tuple[Deviation, ...] = ()

    @property
    def score(self) -> float:
        return once(self.statistic, self.values) if len(self.values) > 1 else float("nan")


INPUT_KINDS = {"words": "embed_words", "sentences": "embed_sentences", "in-context": "embed_in_context"}


class EmbeddingMemo:
    """Each input embedded once per embedder per session, whichever metrics ask for it, by kind: words,
    sentences and words in context (``WordInContext``). Kept as unit vectors, so cosine-based metrics run
    after the model is released."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder: Embedder | None = embedder
        self.info = embedder.info
        self._unit: dict[str, dict[Hashable, np.ndarray | None]] = {kind: {} for kind in INPUT_KINDS}
        # per input kind, what happened to the inputs (missing, non-finite, zero, truncated): recorded with claims
        self.inputs: dict[str, Counter[str]] = {}

    def release(self) -> None:
        """Forget the model; inputs already embedded stay available."""
        self.embedder = None

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        """The protocol's word method, from the memo: unit vectors, so cosine-based tasks run after release."""
        return Embeddings(*self.unit(words))

    def unit(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.vectors("words", words)

    def vectors(self, kind: str, inputs: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors of the inputs (rows) and which are usable, embedding those not seen yet."""
        memo = self._unit[kind]
        missing = list(dict.fromkeys(x for x in inputs if x not in memo))
        if missing:
            if self.embedder is None:
                raise RuntimeError(f"{self.info.name} was released before embedding {kind} {missing[:3]}")
            embeddings = getattr(self.embedder, INPUT_KINDS[kind])(missing)
            self.inputs.setdefault(kind, Counter()).update(input_counts(embeddings))
            unit, usable = usable_unit_vectors(embeddings)
            for key, vector, ok in zip(missing, unit, usable, strict=True):
                memo[key] = vector if ok else None
        stored = (v for table in self._unit.values() for v in table.values() if v is not None)
        dimension = next(stored, np.zeros(1)).shape[0]
        usable = np.array([memo[x] is not None for x in inputs], dtype=bool)
        matrix = np.zeros((len(inputs), dimension), dtype=np.float32)
        for row, key in enumerate(inputs):
            if usable[row]:
                matrix[row] = memo[key]
        return matrix, usable


def pair_cosines(memo: EmbeddingMemo, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Cosine per pair; NaN where the embedder cannot embed one of the words."""
    left, left_ok = memo.unit([a for a, _ in pairs])
    right, right_ok = memo.unit([b for _, b in pairs])
    cosines = np.einsum("ij,ij->i", left, right).astype(float)
    cosines[~(left_ok & right_ok)] = np.nan
    return cosines


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


class NotApplicable(Exception):
    """The metric is not defined for this embedder; the message says why (the comparison is skipped with it)."""


Metric = Callable[..., ItemScores]
Inputs = dict[str, list]  # input kind (see INPUT_KINDS) -> the inputs a metric will ask the memo for
METRICS: dict[str, Metric] = {}
INPUTS: dict[str, Callable[..., Inputs]] = {}


def metric(name: str, inputs: Callable[..., Inputs]) -> Callable[[Metric], Metric]:
    """Register a metric with the function that lists what it embeds: ``inputs(settings, info, **params)``,
    so that every input is embedded while the model is loaded, once, before it is released."""

    def register(function: Metric) -> Metric:
        METRICS[name] = function
        INPUTS[name] = inputs
        return function

    return register


def decontextualized_words(settings: Settings, info: EmbedderInfo, **_: object) -> Inputs:
    """Every word the decontextualized metrics (D1-D5 and their scale views) use, asked for together."""
    words: list[str] = list(load("google-analogy", locate("google-analogy", {})).words)
    for pairs in (
        random_wordnet_pairs(settings.random_pairs, settings.seed).pairs,
        google_related_pairs().pairs,
        human_rated_pairs().pairs,
    ):
        words.extend(w for pair in pairs for w in pair)
    words.extend(google_categories().words)
    return {"words": list(dict.fromkeys(words))}


@metric("random-pair-similarity", decontextualized_words)
def random_pair_similarity(memo: EmbeddingMemo, settings: Settings) -> ItemScores:
    data = random_wordnet_pairs(settings.random_pairs, settings.seed)
    cosines = pair_cosines(memo, data.pairs)
    protocol = {"statistic": "mean cosine over random word pairs", "pairs": len(data.pairs), "seed": settings.seed}
    resampling = Resampling.items(len(cosines), "random word pairs (drawn independently)")
    return ItemScores(cosines[:, None], MEAN, resampling, data.info, protocol, describe(cosines))


@metric("related-vs-random-auc", decontextualized_words)
def related_vs_random_auc(memo: EmbeddingMemo, settings: Settings, relation: str) -> ItemScores:
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
    resampling = Resampling.stratified(values[:, 1], "word pairs, related and random drawn separately")
    return ItemScores(values, AUC, resampling, info, protocol, summary)


@metric("category-silhouette", decontextualized_words)
def category_silhouette(memo: EmbeddingMemo, settings: Settings) -> ItemScores:
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
    resampling = Resampling.stratified(labels, "words within their categories (silhouettes recomputed each time)")
    statistic = Silhouette(cosine_distances(unit), labels)
    return ItemScores(per_word[:, None], statistic, resampling, data.info, protocol, summary)


@metric("analogy-accuracy", decontextualized_words)
def analogy_accuracy(
    memo: EmbeddingMemo, settings: Settings, dataset: str = "google-analogy", method: str = "3cosadd"
) -> ItemScores:
    questions = load(dataset, locate(dataset, {}))
    measurement = analogy(memo, questions, method, "closed")
    sections = {k: v for k, v in measurement.metrics.items() if k.startswith("accuracy[")}
    resampling = relation_pairs(questions)
    return ItemScores(measurement.items[:, None], MEAN, resampling, measurement.dataset, measurement.protocol, sections)


def relation_pairs(dataset: Analogies) -> Resampling:
    """A question a:b::c:d is built from two word pairs of one relation, (a, b) and (c, d): Google analogy's
    19,544 questions are every ordered pair of its 550 distinct pairs within each section. So the pairs are drawn,
    within their sections (a pair found in two sections, as capitals are, stays one unit, in its first section),
    and a resample holds every question between two drawn pairs."""
    left = [(q.a, q.b) for q in dataset.questions]
    right = [(q.c, q.answers[0]) for q in dataset.questions]
    stratum: dict[tuple[str, str], str] = {}
    for q, first, second in zip(dataset.questions, left, right, strict=True):
        stratum.setdefault(first, q.section)
        stratum.setdefault(second, q.section)
    unit = "relation pairs, within sections (every question between two drawn pairs)"
    return Resampling.pairs_of(left, right, unit, stratum)


@metric("agreement", decontextualized_words)
def agreement(memo: EmbeddingMemo, settings: Settings, anchor: EmbeddingMemo) -> ItemScores:
    data = human_rated_pairs()
    values = np.column_stack([pair_cosines(memo, data.pairs), pair_cosines(anchor, data.pairs)])
    protocol = {
        "statistic": f"Spearman between this embedder's and {anchor.info.name}'s pair cosines",
        "anchor": anchor.info.name,
        "anchor_fingerprint": anchor.info.fingerprint,
    }
    return ItemScores(values, SPEARMAN, Resampling.items(len(values), "word pairs"), data.info, protocol)
