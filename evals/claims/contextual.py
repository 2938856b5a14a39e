"""Per-item scores for the contextualized claims: sentence similarity (C1), variation sensitivity (C2) and
token-level contextualization (C3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from embedders import EmbedderInfo, WordInContext
from evals.claims.metrics import EmbeddingMemo, Inputs, ItemScores, NotApplicable, claim_dataset, dataset_of, metric
from evals.claims.resampling import Resampling
from evals.claims.settings import Settings
from evals.records import Deviation
from evals.schema import choice
from evals.scoring import CORRELATIONS, pair_cosines
from evals.tasks.sentence_similarity import sentence_similarity as sentence_similarity_task
from evals.weighted import MEAN, PEARSON, SPEARMAN, once
from fixtures import Kind, SentencePairs
from fixtures.anchor_variations import Anchor, AnchorVariations

# The metrics defined only for an embedder whose word in context has a vector of its own (EmbedderInfo.token_vectors):
# their comparisons with any other are never generated.
TOKEN_LEVEL_METRICS = frozenset({"contextualization"})


def anchor_variations(settings: Settings) -> AnchorVariations:
    """The shipped file, or the user's copy given as --dataset anchor-variations=PATH."""
    return settings.data.load("anchor-variations")  # type: ignore[return-value]


def cosines(memo: EmbeddingMemo, form: str, left: Sequence, right: Sequence) -> np.ndarray:
    """Cosine per (left, right) row of inputs of one form; NaN where either side could not be embedded."""
    return pair_cosines(*memo.vectors(form, left), *memo.vectors(form, right))


# ---------------------------------------------------------------- C1 sentence similarity


def _sentence_inputs(settings: Settings, info: EmbedderInfo, dataset: str = "lee50", **_: object) -> Inputs:
    try:
        return {"sentences": claim_dataset(settings, dataset).sentences}
    except NotApplicable:
        return {}


@metric(
    "sentence-similarity",
    _sentence_inputs,
    {"dataset": dataset_of(Kind.SENTENCE_PAIRS), "correlation": choice(sorted(CORRELATIONS))},
)
def sentence_similarity(
    memo: EmbeddingMemo, settings: Settings, dataset: str = "lee50", correlation: str = "spearman"
) -> ItemScores:
    """A view over the sentence-similarity eval's per-pair cosines: rows are the dataset's pairs, (cosine, human
    rating); the score is their correlation."""
    if correlation not in CORRELATIONS:
        raise ValueError(f"correlation must be one of {sorted(CORRELATIONS)}, got {correlation!r}")
    data: SentencePairs = claim_dataset(settings, dataset)
    values = np.column_stack([sentence_similarity_task(memo, data).items, data.scores])
    scored = int((~np.isnan(values).any(axis=1)).sum())
    protocol = {
        "statistic": f"{correlation} correlation of cosine with human ratings, over {dataset}'s pairs",
        "similarity": "cosine of the embedders' sentence vectors (embed_sentences)",
        "items": texts_described(dataset, data),
    }
    summary = {
        "pearson": once(PEARSON, values),
        "spearman": once(SPEARMAN, values),
        "pairs": len(data.pairs),
        "pairs_scored": scored,
    }
    deviations: tuple[Deviation, ...] = ()
    if dataset == "lee50":
        deviations = (
            Deviation(
                "dataset",
                f"Lee et al. (2005) stands in for sentence-similarity data the paper does not name; its items are "
                f"{protocol['items']}, not sentences",
            ),
        )
    return ItemScores(values, CORRELATIONS[correlation], texts_of_pairs(data), data.info, protocol, summary, deviations)


def texts_described(dataset: str, data: SentencePairs) -> str:
    """Lee50's texts are news documents, not sentences: the protocol says what was compared, and how long."""
    texts = "documents" if dataset == "lee50" else "sentences"
    words = np.mean([len(text.split()) for text in data.sentences])
    return f"{texts} of about {words:.0f} words (mean over the {len(data.sentences)} distinct texts)"


def texts_of_pairs(data: SentencePairs) -> Resampling:
    """Where texts recur across pairs (Lee50's 1,225 pairs are every pair of its 50 documents), the texts are
    drawn and a resample holds every pair between two drawn texts. Where a text is in fewer than two pairs on
    average (STS-B), drawing texts would count each pair's own noise about four times over (a pair is drawn
    w_a * w_b times), so the pairs themselves are drawn."""
    left, right = (list(side) for side in zip(*data.pairs, strict=True))
    texts = len(set(left) | set(right))
    if len(data.pairs) >= texts:  # a text is in 2 * pairs / texts pairs on average
        return Resampling.pairs_of(left, right, "texts (documents): every pair between two drawn texts")
    return Resampling.items(len(data.pairs), "sentence pairs (their texts rarely recur)")


# ---------------------------------------------------------------- C2 variation sensitivity

AUTHORED = (
    Deviation(
        "dataset",
        "anchor-variation sentences authored for this suite: the paper's synthetic set is not published",
    ),
)


def _variation_inputs(settings: Settings, info: EmbedderInfo, **_: object) -> Inputs:
    return {"sentences": anchor_variations(settings).sentences}


def pairwise_auc(preserving: np.ndarray, changing: np.ndarray) -> float:
    """Fraction of (preserving, changing) pairs where the preserving variant is closer to the base (ties 1/2)."""
    preserving, changing = preserving[~np.isnan(preserving)], changing[~np.isnan(changing)]
    if not len(preserving) or not len(changing):
        return float("nan")
    difference = preserving[:, None] - changing[None, :]
    return float(((difference > 0) + 0.5 * (difference == 0)).mean())


@metric("variation-discrimination", _variation_inputs)
def variation_discrimination(memo: EmbeddingMemo, settings: Settings) -> ItemScores:
    """Rows are anchors: how often a meaning-preserving variant of the base sentence is closer to it than a
    meaning-changing one (a per-anchor pairwise ranking AUC; 1 is perfect, 0.5 chance)."""
    data = anchor_variations(settings)
    tasks = list(data.labels)
    by_task = np.full((len(data.anchors), len(tasks)), np.nan)
    for column, task in enumerate(tasks):
        rows = [i for i, a in enumerate(data.anchors) if task in a.variants]
        base = [data.anchors[i].base for i in rows]
        variants = [data.anchors[i].variants[task] for i in rows]
        by_task[rows, column] = cosines(memo, "sentences", base, variants)
    preserving = [tasks.index(t) for t in data.tasks(preserving=True)]
    changing = [tasks.index(t) for t in data.tasks(preserving=False)]
    per_anchor = np.array([pairwise_auc(row[preserving], row[changing]) for row in by_task])
    summary = {
        "mean_cosine": {t: float(np.nanmean(by_task[:, c])) for c, t in enumerate(tasks)},
        "auc_by_pos": {
            pos: float(np.nanmean([v for v, a in zip(per_anchor, data.anchors, strict=True) if a.pos == pos]))
            for pos in sorted({a.pos for a in data.anchors})
        },
    }
    protocol = {
        "statistic": "mean over anchors of the pairwise ranking AUC: cos(base, preserving) > cos(base, changing)",
        "preserving": data.tasks(preserving=True),
        "changing": data.tasks(preserving=False),
        "similarity": "cosine of the embedders' sentence vectors (embed_sentences)",
    }
    return ItemScores(
        per_anchor[:, None], MEAN, Resampling.items(len(per_anchor), "anchors"), data.info, protocol, summary, AUTHORED
    )


# ---------------------------------------------------------------- C3 token-level contextualization


def _c3_sentences(anchor: Anchor) -> list[str]:
    polysemy = [anchor.variants["polysemy"]] if "polysemy" in anchor.variants else []
    return [*anchor.main_sense, *polysemy]


def context_free(item: WordInContext) -> WordInContext:
    """The word alone, in the form it has in context, embedded by the same extraction (embed_in_context).

    The space before the word makes byte-level BPE and SentencePiece give its word-start token ("Ġbank",
    "▁bank"), as in a sentence; the bare word ("bank") is another token. The newline before it keeps the word off
    the first position: a causal LM that adds no start token (SmolLM2) pools every first token into nearly one
    vector (measured: different words' " word" vectors at position 0 have mean cosine 0.99). WordPiece encoders
    drop both characters, so for them this is the word between [CLS] and [SEP]. A word that opens its sentence
    has no space before it and sits first in context too, so alone it is the bare word in the first position; one
    after another character (a quote) gets the newline only."""
    if item.start == 0:
        prefix = ""
    else:
        prefix = "\n " if item.sentence[item.start - 1].isspace() else "\n"
    return WordInContext(prefix + item.word, len(prefix), len(prefix) + len(item.word))


def _c3_items(anchor: Anchor) -> list[WordInContext]:
    return [anchor.in_context(s) for s in _c3_sentences(anchor)]


def _contextual_inputs(settings: Settings, info: EmbedderInfo, **_: object) -> Inputs:
    if not info.token_vectors:
        return {}
    items = [item for a in anchor_variations(settings).anchors for item in _c3_items(a)]
    alone = [context_free(item) for item in items]
    return {"in-context": list(dict.fromkeys([*items, *alone])), "words": list(dict.fromkeys(i.word for i in items))}


def _mean_same_form_cosine(unit: np.ndarray, usable: np.ndarray, forms: list[str], pairs) -> float:
    """Mean cosine over the given index pairs whose surface forms match (case-insensitively) and are usable.

    Only the same surface form is compared, as in Ethayarajh (2019): a static model then scores exactly 1."""
    values = [
        float(unit[i].astype(np.float64) @ unit[j])
        for i, j in pairs
        if usable[i] and usable[j] and forms[i].lower() == forms[j].lower()
    ]
    return float(np.mean(values)) if values else float("nan")


def _mean_deviation(unit: np.ndarray, usable: np.ndarray, reference: np.ndarray, reference_ok: np.ndarray) -> float:
    deviations = 1.0 - np.einsum("ij,ij->i", unit.astype(np.float64), reference.astype(np.float64))
    deviations = deviations[usable & reference_ok]
    return float(deviations.mean()) if len(deviations) else float("nan")


@dataclass(frozen=True)
class CrossAnchor:
    """Ethayarajh's (2019) anisotropy baseline: the mean cosine between in-context vectors of different anchors'
    words, over every cross-anchor pair of main-sense items (no sampling); per anchor, over the pairs that hold
    one of its items. With the same number of usable items per anchor, the mean of the per-anchor baselines is
    the overall one."""

    overall: float
    by_anchor: np.ndarray

    @classmethod
    def of(cls, memo: EmbeddingMemo, anchors: Sequence[Anchor]) -> CrossAnchor:
        items = [anchor.in_context(s) for anchor in anchors for s in anchor.main_sense]
        owner = np.repeat(np.arange(len(anchors)), [len(anchor.main_sense) for anchor in anchors])
        unit, usable = memo.vectors("in-context", items)
        unit, owner = unit[usable].astype(np.float64), owner[usable]
        cosine = unit @ unit.T
        other = owner[:, None] != owner[None, :]
        by_anchor = np.full(len(anchors), np.nan)
        for a in range(len(anchors)):
            mine = owner == a
            if mine.any() and (~mine).any():
                by_anchor[a] = cosine[np.ix_(mine, ~mine)].mean()
        return cls(float(cosine[other].mean()) if other.any() else float("nan"), by_anchor)


def anchor_contextualization(memo: EmbeddingMemo, anchor: Anchor, baseline: float) -> dict[str, float]:
    """Inter-context variance and contextual deviation of one anchor over its main-sense contexts, its
    self-similarity beside the given anisotropy baseline, and its same-sense and cross-sense (polysemy)
    similarities."""
    items = _c3_items(anchor)
    forms = [item.word for item in items]
    unit, usable = memo.vectors("in-context", items)
    main = len(anchor.main_sense)
    alone, alone_ok = memo.vectors("in-context", [context_free(item) for item in items[:main]])
    bare, bare_ok = memo.vectors("words", forms[:main])
    same_sense = _mean_same_form_cosine(unit, usable, forms, combinations(range(main), 2))
    result = {
        "variance": 1.0 - same_sense,
        "variance-adjusted": 1.0 - (same_sense - baseline),
        "deviation": _mean_deviation(unit[:main], usable[:main], alone, alone_ok),
        "deviation-bare-word": _mean_deviation(unit[:main], usable[:main], bare, bare_ok),
        "same_sense_cosine": same_sense,
        "anisotropy_baseline": baseline,
        "cross_sense_cosine": float("nan"),
    }
    if len(items) > main:
        result["cross_sense_cosine"] = _mean_same_form_cosine(unit, usable, forms, [(main, i) for i in range(main)])
    return result


MEASURES = {
    "variance": "1 - the anchor's self-similarity: the mean pairwise cosine of its in-context vectors across its "
    "main-sense contexts (same surface form only)",
    "variance-adjusted": "1 - (self-similarity - anisotropy baseline): the variance plus the mean cosine between "
    "the anchor's in-context vectors and those of every other anchor's words (Ethayarajh 2019's adjustment); a "
    "static model scores its baseline, not 0",
    "deviation": "mean of 1 - cosine(in-context vector, the same surface form alone, '\\n word', by the same "
    "extraction: the word-start token(s), not the first position)",
}


@metric("contextualization", _contextual_inputs, {"measure": choice(MEASURES)})
def contextualization(memo: EmbeddingMemo, settings: Settings, measure: str = "variance") -> ItemScores:
    """Rows are anchors; the measures are defined in MEASURES. The summary carries every measure's mean, the
    deviation from the bare word (embed_words: another token for BPE models, another pooling for SBERT), and the
    self-similarity beside its anisotropy baseline."""
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {sorted(MEASURES)}, got {measure!r}")
    info = memo.info
    if not info.token_vectors:
        raise NotApplicable(
            f"{info.name} has no token vectors: its word in context is the whole sentence's vector "
            f"({info.extraction.pooling!r}), so token-level contextualization is not defined for it"
        )
    data = anchor_variations(settings)
    baseline = CrossAnchor.of(memo, data.anchors)
    rows = [anchor_contextualization(memo, a, float(b)) for a, b in zip(data.anchors, baseline.by_anchor, strict=True)]
    values = np.array([[row[measure]] for row in rows])
    polysemous = [row for row, a in zip(rows, data.anchors, strict=True) if a.polysemous]
    same = np.array([row["same_sense_cosine"] for row in polysemous])
    cross = np.array([row["cross_sense_cosine"] for row in polysemous])
    known = ~(np.isnan(same) | np.isnan(cross))
    self_similarity = float(np.nanmean([row["same_sense_cosine"] for row in rows]))
    summary = {
        "variance": float(np.nanmean([row["variance"] for row in rows])),
        "variance_adjusted": float(np.nanmean([row["variance-adjusted"] for row in rows])),
        "deviation": float(np.nanmean([row["deviation"] for row in rows])),
        "deviation_bare_word": float(np.nanmean([row["deviation-bare-word"] for row in rows])),
        "self_similarity": self_similarity,
        "anisotropy_baseline": baseline.overall,
        "self_similarity_adjusted": self_similarity - baseline.overall,
        "polysemy": {
            "anchors": int(known.sum()),
            "same_sense_cosine": float(same[known].mean()) if known.any() else float("nan"),
            "cross_sense_cosine": float(cross[known].mean()) if known.any() else float("nan"),
            # a margin over float32 rounding, so identical vectors (static models) never count as moved
            "moved_more_by_other_sense": float((cross[known] < same[known] - 1e-6).mean())
            if known.any()
            else float("nan"),
        },
    }
    protocol = {
        "statistic": f"mean over anchors of the {measure}",
        "measure": MEASURES[measure],
        "contexts": "the base sentence and the further main-sense contexts; only same surface forms compared",
        "anisotropy_baseline": "every cross-anchor pair of main-sense in-context items (no sampling); per anchor, "
        "the pairs holding one of its items",
        "in_context": info.extraction.pooling,
    }
    return ItemScores(values, MEAN, Resampling.items(len(values), "anchors"), data.info, protocol, summary, AUTHORED)
