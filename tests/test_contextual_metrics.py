"""The contextualized metrics (C1-C3) on cases whose answer is known, with real models where one is needed."""

import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from embedders import EMBEDDERS, Embeddings, Family, WordInContext
from embedders.threads import limit_torch_threads
from evals.claims.contextual import (
    MEASURES,
    _contextual_inputs,
    anchor_variations,
    context_free,
    contextualization,
    cosines,
    pairwise_auc,
    sentence_similarity,
    variation_discrimination,
)
from evals.claims.metrics import EmbeddingMemo, NotApplicable
from evals.claims.run import ClaimRun
from evals.claims.settings import Settings
from evals.claims.spec import Claim, Side, comparisons
from evals.records import Verdict
from evals.tasks.sentence_similarity import sentence_similarity as sentence_similarity_task
from evals.weighted import PEARSON, SPEARMAN, once
from fixtures import DatasetInfo, Resolver, SentencePairs
from fixtures.anchor_variations import labels_path
from fixtures.registry import ANCHOR_VARIATIONS_FILE
from runtime.session import Runtime
from tests.conftest import small_static

SETTINGS = Settings(resamples=300)


@pytest.fixture(scope="module")
def minilm():
    limit_torch_threads()  # as the harness does: torch's default threads oversubscribe a shared 2-core machine
    return EMBEDDERS["sbert-minilm"].load()


class Counting:
    """A real embedder that counts what it is asked to embed, per method."""

    def __init__(self, inner) -> None:
        self.inner, self.info, self.calls = inner, inner.info, {"words": [], "sentences": [], "in-context": []}

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        self.calls["words"].extend(words)
        return self.inner.embed_words(words)

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        self.calls["sentences"].extend(sentences)
        return self.inner.embed_sentences(sentences)

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        self.calls["in-context"].extend(items)
        return self.inner.embed_in_context(items)


def test_the_memo_embeds_each_input_once_per_kind_and_nothing_after_release(glove) -> None:
    counting = Counting(glove)
    memo = EmbeddingMemo(counting)
    item = WordInContext("The bank closed.", 4, 8)
    for _ in range(2):
        memo.vectors("words", ["bank", "river", "bank"])
        memo.vectors("sentences", ["The bank closed."])
        memo.vectors("in-context", [item, item])
    assert counting.calls == {"words": ["bank", "river"], "sentences": ["The bank closed."], "in-context": [item]}
    memo.release()
    assert memo.vectors("words", ["river"])[1].all()
    with pytest.raises(RuntimeError, match="released"):
        memo.vectors("sentences", ["Something new."])


# ---------------------------------------------------------------- C3


def test_a_static_embedder_does_not_contextualize(glove) -> None:
    memo = EmbeddingMemo(glove)
    for measure in ("variance", "deviation"):
        scores = contextualization(memo, SETTINGS, measure=measure)
        assert len(scores.values) == len(anchor_variations(SETTINGS).anchors)
        assert np.nanmax(np.abs(scores.values)) < 1e-6
    assert abs(scores.summary["deviation_bare_word"]) < 1e-6
    assert scores.summary["polysemy"]["cross_sense_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert scores.summary["polysemy"]["moved_more_by_other_sense"] == 0.0
    # GloVe's words are far from orthogonal: the adjustment takes their mean cosine off a self-similarity of 1
    summary = scores.summary
    assert summary["self_similarity"] == pytest.approx(1.0, abs=1e-6)
    assert 0.1 < summary["anisotropy_baseline"] < 0.9
    assert summary["self_similarity_adjusted"] == pytest.approx(1.0 - summary["anisotropy_baseline"], abs=1e-6)
    adjusted = contextualization(memo, SETTINGS, measure="variance-adjusted")
    assert adjusted.score == pytest.approx(summary["anisotropy_baseline"], abs=1e-6)


def test_a_transformer_encoder_does(minilm) -> None:
    memo = EmbeddingMemo(minilm)
    variance = contextualization(memo, SETTINGS, measure="variance")
    deviation = contextualization(memo, SETTINGS, measure="deviation")
    assert 0.02 < variance.score < 1 and 0.02 < deviation.score < 1
    polysemy = variance.summary["polysemy"]
    assert polysemy["anchors"] >= 15
    assert -1 <= polysemy["cross_sense_cosine"] <= 1 and 0 <= polysemy["moved_more_by_other_sense"] <= 1
    # measured: 0.246 against the word alone by the same extraction, 0.439 against embed_words (mean pooling over
    # [CLS] word [SEP]): the bare-word figure counts the change of pooling as contextualization
    assert deviation.summary["deviation"] == deviation.score
    assert deviation.score < deviation.summary["deviation_bare_word"] - 0.1


def test_the_context_free_form_pools_only_the_word(minilm) -> None:
    """WordPiece drops the newline and the space: the word alone is [CLS] bank [SEP] wherever its span starts."""
    item = context_free(WordInContext("The bank was closed.", 4, 8))
    assert (item.sentence, item.word) == ("\n bank", "bank")
    vectors = minilm.embed_in_context([item, WordInContext(" bank", 1, 5), WordInContext("bank", 0, 4)]).vectors
    assert np.allclose(vectors[0], vectors[1], atol=1e-5) and np.allclose(vectors[0], vectors[2], atol=1e-5)


@pytest.fixture(scope="module")
def smollm2():
    embedder = EMBEDDERS["smollm2-135m"].load()
    yield embedder
    embedder.close()


@pytest.mark.parametrize("word", ["bank", "friends"])
def test_a_bpe_llm_sees_the_same_tokens_alone_as_in_context(smollm2, word: str) -> None:
    sentence = f"The {word} were there."
    ids, positions = smollm2.token_positions(WordInContext(sentence, 4, 4 + len(word)))
    in_context = [ids[p] for p in positions]
    ids_alone, positions_alone = smollm2.token_positions(context_free(WordInContext(sentence, 4, 4 + len(word))))
    assert [ids_alone[p] for p in positions_alone] == in_context  # "Ġbank", never the newline
    assert positions_alone[0] > 0  # off the first position, where SmolLM2 (no start token) pools every word alike
    bare, _ = smollm2.token_positions(WordInContext(word, 0, len(word)))
    assert list(bare) != in_context  # embed_words' "bank" is another token


def test_the_inputs_function_lists_every_input_the_metric_asks_for(minilm) -> None:
    memo = EmbeddingMemo(minilm)
    for kind, inputs in _contextual_inputs(SETTINGS, minilm.info).items():
        memo.vectors(kind, inputs)
    memo.release()  # the memo raises if the metric asks for anything not listed
    for measure in MEASURES:
        assert np.isfinite(contextualization(memo, SETTINGS, measure=measure).score)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 12), st.floats(0.0, 3.0))
def test_a_static_model_scores_its_anisotropy_baseline(seed: int, dimension: int, offset: float) -> None:
    """Random static vectors, pushed together by a common offset: no variance, no deviation, and an adjusted
    self-similarity of 1 - the mean cosine over every pair of items of different anchors."""
    data = anchor_variations(SETTINGS)
    words = sorted({form.lower() for anchor in data.anchors for form in anchor.forms})
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(words), dimension)) + offset * rng.normal(size=dimension)
    static = small_static(words, vectors)
    scores = contextualization(EmbeddingMemo(static), SETTINGS, measure="variance-adjusted")
    summary = scores.summary
    assert abs(summary["variance"]) < 1e-5 and abs(summary["deviation"]) < 1e-5
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [(k, a.in_context(s).word.lower()) for k, a in enumerate(data.anchors) for s in a.main_sense]
    index = {word: row for row, word in enumerate(words)}
    cross = [unit[index[v]] @ unit[index[w]] for (a, v), (b, w) in combinations(items, 2) if a != b]
    assert summary["anisotropy_baseline"] == pytest.approx(np.mean(cross), abs=1e-5)
    assert summary["self_similarity_adjusted"] == pytest.approx(1 - np.mean(cross), abs=1e-5)
    assert scores.score == pytest.approx(np.mean(cross), abs=1e-5)


def test_whole_sentence_embedders_are_not_applicable() -> None:
    use = EMBEDDERS["use"].load()
    with pytest.raises(NotApplicable, match="no token vectors"):
        contextualization(EmbeddingMemo(use), SETTINGS)


# ---------------------------------------------------------------- C1


def test_identical_sentences_have_similarity_one(minilm) -> None:
    memo = EmbeddingMemo(minilm)
    sentences = ["A man is playing a flute.", "The bank closed early today."]
    assert cosines(memo, "sentences", sentences, sentences) == pytest.approx([1.0, 1.0], abs=1e-5)
    pairs = [(s, s) for s in sentences] + [(sentences[0], sentences[1])]
    data = SentencePairs(DatasetInfo("same", "-", "0", 3), pairs, np.array([5.0, 5.0, 0.0]))
    measurement = sentence_similarity_task(minilm, data)
    assert measurement.items[:2] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert measurement.metrics["pearson"] == pytest.approx(1.0, abs=1e-3)


def test_shuffled_ratings_drive_the_correlation_to_zero(minilm) -> None:
    scores = sentence_similarity(EmbeddingMemo(minilm), SETTINGS, dataset="lee50", correlation="spearman")
    assert scores.score > 0.4
    # Lee50's pairs are every pair of its 50 documents: the bootstrap draws the documents
    assert scores.resampling.unit.startswith("texts") and len(np.unique(scores.resampling.units)) == 50
    assert {"pearson", "spearman"} <= set(scores.summary)
    # Lee50's texts are news documents (measured: 45 to 126 words, 80 on average), not sentences
    described = re.fullmatch(
        r"documents of about (\d+) words \(mean over the 50 distinct texts\)", scores.protocol["items"]
    )
    assert described and 45 <= int(described.group(1)) <= 126
    rng = np.random.default_rng(7)
    shuffled = []
    for _ in range(20):
        values = scores.values.copy()
        values[:, 1] = rng.permutation(values[:, 1])
        shuffled.append(once(SPEARMAN, values))
    # 1,225 pairs: a null correlation's standard error is about 0.03
    assert abs(np.mean(shuffled)) < 0.03 and max(abs(r) for r in shuffled) < 0.12


# ---------------------------------------------------------------- C2


def test_pairwise_auc() -> None:
    assert pairwise_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert pairwise_auc(np.array([0.1, 0.2]), np.array([0.9, 0.8])) == 0.0
    assert pairwise_auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert np.isnan(pairwise_auc(np.array([np.nan]), np.array([0.5])))


class Oracle:
    """Knows the labels: preserving variants point (almost) where their base does, changing ones elsewhere."""

    def __init__(self, reverse: bool = False) -> None:
        data = anchor_variations(SETTINGS)
        self.info = replace(EMBEDDERS["sbert-minilm"].load().info, name="oracle")
        dimension = 2 * len(data.anchors)
        self.vectors: dict[str, np.ndarray] = {}
        for k, anchor in enumerate(data.anchors):
            here, elsewhere = np.eye(dimension)[2 * k], np.eye(dimension)[2 * k + 1]
            self.vectors[anchor.base] = here
            for task, sentence in anchor.variants.items():
                close = data.labels[task].preserving != reverse
                self.vectors[sentence] = here + 0.1 * elsewhere if close else 0.1 * here + elsewhere

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return Embeddings.complete(np.array([self.vectors[s] for s in sentences], dtype=np.float32))


def test_a_perfect_discriminator_scores_one_and_its_reverse_zero() -> None:
    perfect = variation_discrimination(EmbeddingMemo(Oracle()), SETTINGS)
    assert perfect.score == 1.0
    assert perfect.summary["mean_cosine"]["synonym"] > 0.99 > 0.2 > perfect.summary["mean_cosine"]["negation"]
    assert variation_discrimination(EmbeddingMemo(Oracle(reverse=True)), SETTINGS).score == 0.0


def test_a_real_encoder_discriminates_better_than_chance(minilm) -> None:
    scores = variation_discrimination(EmbeddingMemo(minilm), SETTINGS)
    assert scores.score > 0.6
    assert set(scores.summary["mean_cosine"]) == set(anchor_variations(SETTINGS).labels)


# ---------------------------------------------------------------- the engine, end to end


def claim(subject: str, reference: str) -> Claim:
    return Claim(
        id="T3",
        statement="test",
        section="test",
        metric="contextualization",
        params=(("measure", "variance"),),
        subject=Side(names=(subject,)),
        reference=Side(names=(reference,)),
        direction="greater",
        margin=0.0,
    )


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """Reads the user's embedding cache (a warm one spares the models' work), writes nothing to it."""
    runtime = Runtime("ro")
    yield runtime
    runtime.close()


def test_the_engine_embeds_in_context_and_skips_what_does_not_apply(runtime: Runtime) -> None:
    entries = [EMBEDDERS[name] for name in ("sbert-minilm", "glove-6b-50d", "use")]
    specs = [*comparisons(claim("sbert-minilm", "glove-6b-50d"), entries, None)]
    specs += comparisons(claim("use", "glove-6b-50d"), entries, None)
    run = ClaimRun(SETTINGS, specs, {"T3": [s.id for s in specs]}, runtime.embedder, runtime.release)
    decided = run.records()[specs[0].id]
    assert decided.verdict is Verdict.CONFIRMED  # a contextual encoder against the static floor
    assert decided.reference.score == pytest.approx(0.0, abs=1e-6)
    assert decided.subject.embedder.family == str(Family.SENTENCE_ENCODER)
    assert decided.statistics.unit == "anchors"
    skipped = run.records()[specs[1].id]
    assert "not applicable" in skipped.skipped and skipped.verdict is None
    # the not-applicable comparison counts in the correction family with p = 1
    assert (decided.correction_family.size, decided.correction_family.measured) == (2, 1)
    assert decided.subject.inputs["in-context"]["total"] > 0  # what each side embedded is in the record
    assert decided.reference.inputs["words"]["not_embedded"] == 0


def test_the_memo_counts_what_happened_to_its_inputs(glove) -> None:
    memo = EmbeddingMemo(glove)
    memo.vectors("words", ["cat", "dog", "qzxvbnmw"])
    memo.vectors("words", ["cat", "moon"])  # only the new word is embedded, and counted
    assert memo.inputs == {"words": {"total": 4, "not_embedded": 1, "non_finite": 0, "zero": 0, "truncated": 0}}


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(3, 40), st.just(2)), elements=st.floats(-5, 5).map(lambda x: round(x, 1)))
)
@example(np.array([[0.2, 0.0], [0.2, 0.0], [0.2, 1.0]]))  # a constant column whose mean is not exactly 0.2
def test_correlations_equal_scipys(values: np.ndarray) -> None:
    pearson, spearman = once(PEARSON, values), once(SPEARMAN, values)
    if np.ptp(values[:, 0]) == 0 or np.ptp(values[:, 1]) == 0:
        assert np.isnan(pearson) and np.isnan(spearman)
        return
    assert pearson == pytest.approx(stats.pearsonr(values[:, 0], values[:, 1]).statistic, abs=1e-9)
    assert spearman == pytest.approx(stats.spearmanr(values[:, 0], values[:, 1]).statistic, abs=1e-9)


def test_the_users_copy_of_the_dataset_is_used(tmp_path, glove) -> None:
    copy = tmp_path / "mine.jsonl"
    copy.write_text("".join(ANCHOR_VARIATIONS_FILE.read_text().splitlines(keepends=True)[:4]))
    shutil.copy(labels_path(ANCHOR_VARIATIONS_FILE), labels_path(copy))
    settings = replace(SETTINGS, data=Resolver((("anchor-variations", copy),)))
    scores = contextualization(EmbeddingMemo(glove), settings, measure="deviation")
    assert len(scores.values) == 4 and scores.dataset.path.startswith(str(copy))


@pytest.mark.parametrize(
    ("sentence", "start", "alone"),
    [("The bank was closed.", 4, "\n bank"), ("Love is blind.", 0, "Love"), ('He said "bank" twice.', 9, "\nbank")],
)
def test_the_word_alone_keeps_the_form_it_has_in_context(sentence: str, start: int, alone: str) -> None:
    """After a space, the word-start form off the first position; opening the sentence, the bare word first, as in
    context; after another character (a quote), no space before it either."""
    word = sentence[start:].split()[0].strip('"')
    item = context_free(WordInContext(sentence, start, start + len(word)))
    assert item.sentence == alone and item.word == word
