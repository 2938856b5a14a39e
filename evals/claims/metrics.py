"""Per-item scores of one embedder for each claim metric, registered by name."""

from __future__ import annotations

import hashlib
import inspect
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedders import INPUT_FORMS, Embedder, EmbedderInfo, Embeddings, Family
from evals import scoring
from evals.claims.resampling import Resampling
from evals.claims.settings import Settings
from evals.records import Deviation
from evals.schema import Check, Invalid, Key, choice, one_or_list, read_table
from evals.tasks.analogy import METHODS, analogy
from evals.tasks.measurement import input_counts, usable_unit_vectors
from evals.tasks.word_similarity import word_similarity
from evals.weighted import AUC, MEAN, SPEARMAN, Silhouette, Statistic, cosine_distances, once
from fixtures import Analogies, Categories, DatasetInfo, DatasetMissing, Kind, names
from fixtures.claim_data import (
    LabelledPairs,
    RelatedPairs,
    human_rated_pairs,
    random_wordnet_pairs,
    related_pairs,
    shuffled_pairs,
)
from runtime.plan import Inputs  # input form (see INPUT_FORMS) -> the inputs a metric will ask the memo for
from runtime.registry import Registry


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


# the forms an input takes, each with the embedder method that embeds it (these names are also the keys under
# which records store what was embedded, so they stay as they are)


class EmbeddingMemo:
    """Each input embedded once per embedder per session, whichever metrics ask for it, by form: words,
    sentences and words in context (``WordInContext``). Kept as unit vectors, so cosine-based metrics run
    after the model is released."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder: Embedder | None = embedder
        self.info = embedder.info
        self.computed: str | None = getattr(embedder, "computed", None)  # where its vectors were computed
        self._unit: dict[str, dict[Hashable, np.ndarray | None]] = {form: {} for form in INPUT_FORMS}
        # per input form, what happened to the inputs (missing, non-finite, zero, truncated): recorded with claims
        self.inputs: dict[str, Counter[str]] = {}

    def release(self) -> None:
        """Forget the model; inputs already embedded stay available."""
        self.embedder = None

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        """The protocol's word method, from the memo: unit vectors, so cosine-based tasks run after release."""
        return Embeddings(*self.unit(words))

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return Embeddings(*self.vectors("sentences", sentences))

    def unit(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        return self.vectors("words", words)

    def vectors(self, form: str, inputs: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors of the inputs (rows) and which are usable, embedding those not seen yet."""
        memo = self._unit[form]
        missing = list(dict.fromkeys(x for x in inputs if x not in memo))
        if missing:
            if self.embedder is None:
                raise RuntimeError(f"{self.info.name} was released before embedding {form} {missing[:3]}")
            embeddings = getattr(self.embedder, INPUT_FORMS[form])(missing)
            self.inputs.setdefault(form, Counter()).update(input_counts(embeddings))
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
    return scoring.pair_cosines(*memo.unit([a for a, _ in pairs]), *memo.unit([b for _, b in pairs]))


def describe(values: np.ndarray) -> dict[str, object]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        raise ValueError("no pair could be scored: each has a word without a usable vector (missing, zero or NaN)")
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


Scorer = Callable[..., ItemScores]
# what the engine passes a metric itself, never a claim's params
ENGINE_ARGUMENTS = ("memo", "settings", "anchor")


@dataclass(frozen=True)
class MetricParams:
    """The params a metric takes from a claim: each name with its check; one without a default in the metric's
    signature is required."""

    metric: str
    declared: dict[str, Key]

    def check(self, given: dict[str, object]) -> None:
        read_table(given, self.declared, f"metric {self.metric!r}", Invalid)


@dataclass(frozen=True)
class ClaimMetric:
    """A claim metric: what it embeds and how it scores, in one object, so that every input the scorer asks the
    memo for is listed beforehand (embedded while the model is loaded, once, before it is released)."""

    name: str
    list_inputs: Callable[..., Inputs]  # (settings, info, **params) -> Inputs
    scorer: Scorer  # (memo, settings, [anchor,] **params) -> ItemScores
    params: MetricParams

    @classmethod
    def of(
        cls, name: str, list_inputs: Callable[..., Inputs], scorer: Scorer, params: dict[str, Check] | None = None
    ) -> ClaimMetric:
        """``params``: the checks of the params a claim may give the metric, each a keyword of ``scorer``, whose
        signature says whether it is required."""
        declared = dict(params or {})
        keywords = {k: p for k, p in inspect.signature(scorer).parameters.items() if k not in ENGINE_ARGUMENTS}
        if set(keywords) != set(declared):
            raise TypeError(f"metric {name!r}: params declared {sorted(declared)}, taken {sorted(keywords)}")
        required = {k: keywords[k].default is inspect.Parameter.empty for k in declared}
        checks = MetricParams(name, {k: Key(check, required[k]) for k, check in declared.items()})
        return cls(name, list_inputs, scorer, checks)

    def inputs(self, settings: Settings, info: EmbedderInfo, **params: object) -> Inputs:
        return self.list_inputs(settings, info, **params)

    def score(self, memo: EmbeddingMemo, settings: Settings, **params: object) -> ItemScores:
        return self.scorer(memo, settings, **params)


METRICS: Registry[ClaimMetric] = Registry("claim metric")


def metric(
    name: str, inputs: Callable[..., Inputs], params: dict[str, Check] | None = None
) -> Callable[[Scorer], Scorer]:
    """Register the decorated scorer as claim metric ``name`` (see ``ClaimMetric.of``); the scorer itself is
    returned unchanged, so that other metrics can call it."""

    def register(scorer: Scorer) -> Scorer:
        METRICS.register(name, ClaimMetric.of(name, inputs, scorer, params))
        return scorer

    return register


def dataset_of(kind: Kind, several: bool = False) -> Check:
    """A registered dataset of this kind; with ``several``, also a list of them (the paper's first, its stand-ins
    after it), for the metrics that take the first one with a copy here."""

    def check(value: object) -> str:
        allowed = names(kind)
        if value not in allowed:
            raise Invalid(f"is not a dataset of kind {kind}: one of {', '.join(allowed)}")
        return str(value)

    return one_or_list(check) if several else check


def claim_dataset(settings: Settings, dataset: str | Sequence[str]) -> Any:
    """The dataset a claim names, or the first of those it names that has a copy here (the paper's first, e.g.
    BATS, its stand-ins after it); without any, the comparison is not applicable, saying how to get one."""
    names = [dataset] if isinstance(dataset, str) else list(dataset)
    try:
        return settings.data.load(settings.data.first(names))
    except DatasetMissing as missing:
        raise NotApplicable(str(missing)) from None


def stand_in(dataset: str, paper: str, what: str) -> tuple[Deviation, ...]:
    if dataset == paper:
        return ()
    return (Deviation("dataset", f"{dataset} stands in for {paper}, the paper's {what}"),)


def _words(*pair_lists: Sequence[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(w for pairs in pair_lists for pair in pairs for w in pair))


def _random_pairs(settings: Settings) -> LabelledPairs:
    return random_wordnet_pairs(settings.random_pairs, settings.seed)


RANDOM_PAIRS_DEVIATION = Deviation(
    "protocol",
    "random pairs: a seeded sample of word pairs from the WordNet lemmas among GloVe's 100,000 most frequent words, "
    "not all pairs of the paper's ~80,000 WordNet words",
)


def _random_inputs(settings: Settings, info: EmbedderInfo, **_: object) -> Inputs:
    return {"words": _words(_random_pairs(settings).pairs)}


@metric("random-pair-similarity", _random_inputs)
def random_pair_similarity(memo: EmbeddingMemo, settings: Settings) -> ItemScores:
    data = _random_pairs(settings)
    cosines = pair_cosines(memo, data.pairs)
    protocol = {"statistic": "mean cosine over random word pairs", "pairs": len(data.pairs), "seed": settings.seed}
    resampling = Resampling.items(len(cosines), "random word pairs (drawn independently)")
    return ItemScores(
        cosines[:, None], MEAN, resampling, data.info, protocol, describe(cosines), (RANDOM_PAIRS_DEVIATION,)
    )


NEGATIVES = ("shuffled", "random")
SHUFFLED_PER_PAIR = 2  # shuffled negatives per related pair


def _negatives(settings: Settings, related: RelatedPairs, negatives: str) -> LabelledPairs:
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")
    if negatives == "random":
        return _random_pairs(settings)
    return shuffled_pairs(related, SHUFFLED_PER_PAIR, settings.seed)


def _related_inputs(
    settings: Settings,
    info: EmbedderInfo,
    relation: str = "semantic",
    dataset: str | Sequence[str] = "google-analogy",
    **_: object,
) -> Inputs:
    try:
        related = related_pairs(claim_dataset(settings, dataset)).of_type(relation)
    except NotApplicable:
        return {}
    shuffled = shuffled_pairs(related, SHUFFLED_PER_PAIR, settings.seed)
    return {"words": _words(related.pairs, shuffled.pairs, _random_pairs(settings).pairs)}


def _labelled(related: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """Rows (cosine, 1 for a related pair / 0 for a negative): what AUC is computed over."""
    return np.column_stack([np.concatenate([related, negative]), np.r_[np.ones(len(related)), np.zeros(len(negative))]])


@metric(
    "related-vs-random-auc",
    _related_inputs,
    {
        "relation": choice(("semantic", "morphological")),
        "dataset": dataset_of(Kind.ANALOGIES, several=True),
        "negatives": choice(NEGATIVES),
    },
)
def related_vs_random_auc(
    memo: EmbeddingMemo,
    settings: Settings,
    relation: str,
    dataset: str | Sequence[str] = "google-analogy",
    negatives: str = "shuffled",
) -> ItemScores:
    """AUC of related pairs' cosines against unrelated pairs'. ``negatives``: "shuffled" pairs the related pairs'
    words across pairs of one relation (same surface: names with names, lower-case with lower-case), "random" are
    random WordNet pairs as in the paper. The summary gives the AUC against both."""
    questions: Analogies = claim_dataset(settings, dataset)
    related = related_pairs(questions).of_type(relation)
    chosen = _negatives(settings, related, negatives)
    related_cos, negative_cos = pair_cosines(memo, related.pairs), pair_cosines(memo, chosen.pairs)
    values = _labelled(related_cos, negative_cos)
    pooled = np.sqrt((np.nanvar(related_cos, ddof=1) + np.nanvar(negative_cos, ddof=1)) / 2)
    others = {n: _negatives(settings, related, n) for n in NEGATIVES}
    summary = {
        "cohens_d": float((np.nanmean(related_cos) - np.nanmean(negative_cos)) / pooled),
        "relation": relation,
        "auc": {n: once(AUC, _labelled(related_cos, pair_cosines(memo, pairs.pairs))) for n, pairs in others.items()},
    }
    info = DatasetInfo(
        f"{related.info.name}+{chosen.info.name}",
        f"{related.info.path} | {chosen.info.path}",
        hashlib.sha256(f"{related.info.sha256} {chosen.info.sha256}".encode()).hexdigest(),
        len(values),
    )
    protocol = {
        "statistic": f"AUC: related pair more similar than a {negatives} pair",
        "relation": relation,
        "negatives": negatives,
        "negative_pairs": len(chosen.pairs),
        "seed": settings.seed,
        "source": questions.info.as_record(),
    }
    deviations = stand_in(questions.info.name, "bats", "source of related pairs")
    if negatives == "shuffled":
        deviations += (
            Deviation(
                "protocol",
                "negatives: the related pairs' words shuffled within their relation (the paper: random pairs), so "
                "that both kinds share their surface (capitalised names, lower-case words); some shuffled pairs are "
                "related otherwise (uncle, stepdaughter); the AUC against random pairs is in the summary",
            ),
        )
    else:
        deviations += (RANDOM_PAIRS_DEVIATION,)
    return ItemScores(values, AUC, _pair_resampling(related, chosen), info, protocol, summary, deviations)


def _pair_resampling(related: RelatedPairs, negatives: LabelledPairs) -> Resampling:
    """Shuffled pairs reuse the related pairs' words, so each related pair is drawn with the shuffled pairs that take
    its a word, within its relation; random pairs share no word with them and are drawn apart."""
    if not negatives.sources:
        labels = np.r_[np.ones(len(related.pairs)), np.zeros(len(negatives.pairs))]
        return Resampling.stratified(labels, "word pairs, related and random drawn separately")
    units = np.r_[np.arange(len(related.pairs)), np.asarray(negatives.sources, dtype=int)]
    strata = np.unique(np.asarray(related.sections), return_inverse=True)[1]
    unit = "related pairs within their relation, each with the shuffled pairs that take its first word"
    return Resampling(unit, units[:, None], strata)


def _category_inputs(settings: Settings, info: EmbedderInfo, dataset: str = "common-categories", **_: object) -> Inputs:
    try:
        words: list[str] = claim_dataset(settings, dataset).words
    except NotApplicable:
        return {}
    return {"words": list(dict.fromkeys([*words, *_words(_random_pairs(settings).pairs)]))}


@metric("category-silhouette", _category_inputs, {"dataset": dataset_of(Kind.CATEGORIES)})
def category_silhouette(memo: EmbeddingMemo, settings: Settings, dataset: str = "common-categories") -> ItemScores:
    data: Categories = claim_dataset(settings, dataset)
    unit, usable = memo.unit(data.words)
    labels = np.array(data.labels)
    per_word = np.full(len(data.words), np.nan)
    from sklearn.metrics import silhouette_samples  # here: importing scikit-learn takes seconds, a warm run none

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
    deviations = (Deviation("dataset", f"categories: {data.info.name}; the paper does not name its word categories"),)
    resampling = Resampling.stratified(labels, "words within their categories (silhouettes recomputed each time)")
    statistic = Silhouette(cosine_distances(unit), labels)
    return ItemScores(per_word[:, None], statistic, resampling, data.info, protocol, summary, deviations)


def _analogy_inputs(
    settings: Settings, info: EmbedderInfo, dataset: str | Sequence[str] = "google-analogy", **_: object
) -> Inputs:
    try:
        return {"words": claim_dataset(settings, dataset).words}
    except NotApplicable:
        return {}


@metric(
    "analogy-accuracy",
    _analogy_inputs,
    {"dataset": dataset_of(Kind.ANALOGIES, several=True), "method": choice(METHODS)},
)
def analogy_accuracy(
    memo: EmbeddingMemo, settings: Settings, dataset: str | Sequence[str] = "google-analogy", method: str = "3cosadd"
) -> ItemScores:
    """A view over the analogy eval's per-question results (closed vocabulary: the dataset's own words)."""
    questions: Analogies = claim_dataset(settings, dataset)
    measurement = analogy(memo, questions, method, "closed")
    sections = {k: v for k, v in measurement.metrics.items() if k.startswith("accuracy[")}
    resampling = relation_pairs(questions)
    vocabulary = Deviation(
        "protocol",
        f"candidate answers: the {len(questions.words)} words of {questions.info.name} (closed vocabulary); the paper "
        "does not state its candidate vocabulary",
    )
    deviations = (*stand_in(questions.info.name, "bats", "analogy set"), vocabulary)
    return ItemScores(
        measurement.items[:, None], MEAN, resampling, measurement.dataset, measurement.protocol, sections, deviations
    )


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


def _agreement_inputs(settings: Settings, info: EmbedderInfo, **_: object) -> Inputs:
    return {"words": human_rated_pairs(settings.data).words}


@metric("agreement", _agreement_inputs)
def agreement(memo: EmbeddingMemo, settings: Settings, anchor: EmbeddingMemo) -> ItemScores:
    """A view over the word-similarity eval's per-pair cosines, this embedder's against the anchor's."""
    data = human_rated_pairs(settings.data)
    values = np.column_stack([word_similarity(memo, data).items, word_similarity(anchor, data).items])
    protocol = {
        "statistic": f"Spearman between this embedder's and {anchor.info.name}'s pair cosines",
        "anchor": anchor.info.name,
        "anchor_fingerprint": anchor.info.fingerprint,
    }
    deviations = (Deviation("dataset", f"word pairs: {data.info.name}; the paper does not name its word pairs"),)
    if anchor.info.family is not Family.API:
        deviations += (
            Deviation(
                "model",
                f"anchor {anchor.info.name} ({anchor.info.family}) stands in for the API embedders (ADA, PaLM) the "
                "paper correlates with",
            ),
        )
    resampling = Resampling.items(len(values), "word pairs")
    return ItemScores(values, SPEARMAN, resampling, data.info, protocol, deviations=deviations)
