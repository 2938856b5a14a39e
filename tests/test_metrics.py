"""Properties of the evaluators, on the real static backend over vectors we choose."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evals.tasks.analogy import analogy, solve
from evals.tasks.word_similarity import word_similarity
from fixtures import Analogies, Analogy, DatasetInfo, WordPairs
from tests.conftest import small_static

WORDS = [f"w{i}" for i in range(12)]
finite = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32).filter(lambda x: abs(x) > 1e-3)
matrices = arrays(np.float32, (12, 5), elements=finite)


def pairs_dataset(scores: np.ndarray) -> WordPairs:
    pairs = [(WORDS[i], WORDS[(i * 5 + 1) % 12]) for i in range(12)]
    return WordPairs(DatasetInfo("pairs", "-", "0", 12), pairs, scores)


def analogy_dataset() -> Analogies:
    questions = [Analogy(WORDS[i], WORDS[i + 1], WORDS[i + 2], (WORDS[i + 3],), "s") for i in range(0, 9)]
    return Analogies(DatasetInfo("analogies", "-", "0", len(questions)), questions)


@settings(max_examples=60, deadline=None)
@given(vectors=matrices, scale=st.floats(0.01, 100), ratings=arrays(np.float64, 12, elements=st.floats(0, 10)))
def test_spearman_bounded_and_scale_invariant(vectors: np.ndarray, scale: float, ratings: np.ndarray) -> None:
    base = word_similarity(small_static(WORDS, vectors), pairs_dataset(ratings)).metrics["spearman"]
    scaled = word_similarity(small_static(WORDS, vectors * scale), pairs_dataset(ratings)).metrics["spearman"]
    if np.isnan(base):
        assert np.isnan(scaled)
    else:
        assert -1 - 1e-9 <= base <= 1 + 1e-9
        assert scaled == pytest.approx(base, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(vectors=matrices)
def test_pair_similarity_is_symmetric(vectors: np.ndarray) -> None:
    embedder = small_static(WORDS, vectors)
    ratings = np.arange(12, dtype=float)
    forward = word_similarity(embedder, pairs_dataset(ratings))
    swapped = pairs_dataset(ratings)
    swapped.pairs[:] = [(b, a) for a, b in swapped.pairs]
    backward = word_similarity(embedder, swapped)
    np.testing.assert_allclose(forward.items, backward.items, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(vectors=matrices, scales=arrays(np.float32, 12, elements=st.floats(0.125, 8, width=32, allow_subnormal=False)))
def test_analogy_answers_do_not_change_when_vectors_are_scaled(vectors: np.ndarray, scales: np.ndarray) -> None:
    dataset = analogy_dataset()
    for method in ("3cosadd", "3cosmul"):
        plain = analogy(small_static(WORDS, vectors), dataset, method).items
        scaled = analogy(small_static(WORDS, vectors * scales[:, None]), dataset, method).items
        np.testing.assert_array_equal(plain, scaled)


@settings(max_examples=40, deadline=None)
@given(vectors=arrays(np.float32, (30, 6), elements=finite), seed=st.integers(0, 1000))
def test_vectorised_solver_matches_a_loop_over_questions(vectors: np.ndarray, seed: int) -> None:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    abc = np.array([rng.choice(30, 3, replace=False) for _ in range(20)])
    fast = solve(unit, abc, "3cosadd", batch=7)
    for (a, b, c), answer in zip(abc, fast, strict=True):
        scores = unit @ (unit[b] + unit[c] - unit[a])
        scores[[a, b, c]] = -np.inf
        assert scores[answer] >= scores.max() - 1e-5


def test_analogy_finds_the_planted_answer() -> None:
    king, man, woman = np.array([5.0, 5, 0]), np.array([0.0, 5, 0]), np.array([0.0, 0, 5])
    queen = king - man + woman
    words = ["king", "man", "woman", "queen", "apple"]
    embedder = small_static(words, np.stack([king, man, woman, queen, np.array([-3.0, 1, -2])]))
    question = Analogy("man", "king", "woman", ("queen",), "royal")
    dataset = Analogies(DatasetInfo("toy", "-", "0", 1), [question])
    for method in ("3cosadd", "3cosmul"):
        assert analogy(embedder, dataset, method).metrics["accuracy"] == 1.0


def test_oov_policy_skip_and_zero() -> None:
    embedder = small_static(WORDS[:6], np.eye(6, dtype=np.float32) + 0.1)
    ratings = np.arange(12, dtype=float)
    skipped = word_similarity(embedder, pairs_dataset(ratings), oov="skip")
    zeroed = word_similarity(embedder, pairs_dataset(ratings), oov="zero")
    assert skipped.metrics["items_scored"] < 12 == zeroed.metrics["items_scored"]
    assert skipped.metrics["coverage"] == zeroed.metrics["coverage"] < 1
    assert np.isnan(skipped.items).sum() == 12 - skipped.metrics["items_scored"]
