"""The LLM backend's batch budget: fixed on CPU (today's, so CPU vectors do not change), from free memory on CUDA.
Pure functions, so their invariants are checked with hypothesis and no GPU."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from embedders.llm import (
    FREE_MEMORY_FRACTION,
    HIDDEN_STATE_BUDGET,
    MAX_BATCH_ITEMS,
    BatchBudget,
    batch_budget,
    batches,
    state_bytes_per_token,
)

FREE = st.integers(min_value=0, max_value=1 << 40)  # up to 1 TiB, more than any GPU has


@st.composite
def shapes(draw: st.DrawFn) -> dict[str, int]:
    """A model's hidden size, its hidden states (layers + embeddings), the layers pooled and the dtype's bytes."""
    states = draw(st.integers(min_value=2, max_value=200))
    return {
        "hidden": draw(st.integers(min_value=1, max_value=32768)),
        "states": states,
        "kept": draw(st.integers(min_value=1, max_value=states)),
        "dtype_bytes": draw(st.sampled_from([2, 4])),
    }


def cpu_budget_before_gpus(hidden: int, states: int) -> int:
    """The CPU token budget as embedders/llm.py computed it before the GPU work (commit 0d4d8d5), written out here
    so a change to the CPU batches, hence to CPU vectors, fails this test."""
    return max(64, min(512, 256 * 1024 * 1024 // (4 * hidden * states)))


@given(shapes())
def test_cpu_budget_is_the_one_before_gpus(shape):
    budget = batch_budget(**shape, free_bytes=None)
    assert budget == BatchBudget(cpu_budget_before_gpus(shape["hidden"], shape["states"]), 64, HIDDEN_STATE_BUDGET)


def test_cpu_budget_of_known_models():
    # SmolLM2-135M (576 wide, 30 layers), Gemma-3-270m (640, 18), a 7B LLaMA (4096, 32), an 80-layer 8192-wide model
    expected = {(576, 31): 512, (640, 19): 512, (4096, 33): 496, (8192, 81): 101, (16384, 127): 64}
    for (hidden, states), tokens in expected.items():
        budget = batch_budget(hidden=hidden, states=states, kept=1, dtype_bytes=2, free_bytes=None)
        assert (budget.tokens, budget.items) == (tokens, MAX_BATCH_ITEMS)


@given(shapes(), FREE, FREE)
def test_gpu_budget_grows_with_free_memory(shape, one, other):
    low, high = sorted((one, other))
    smaller, larger = batch_budget(**shape, free_bytes=low), batch_budget(**shape, free_bytes=high)
    assert smaller.tokens <= larger.tokens and smaller.items <= larger.items and smaller.bytes <= larger.bytes


@given(shapes(), FREE)
def test_gpu_budget_never_below_one_sequence(shape, free):
    budget = batch_budget(**shape, free_bytes=free)
    # with at least one of each, ``batches`` gives every sequence a batch (one longer than the budget goes alone,
    # as test_batches_keep_every_sequence_in_order_within_the_budget checks)
    assert budget.tokens >= 1 and budget.items >= 1


@given(shapes(), FREE)
def test_gpu_budget_respects_the_bytes_it_states(shape, free):
    budget = batch_budget(**shape, free_bytes=free)
    per_token = state_bytes_per_token(**shape)
    assert budget.bytes <= free * FREE_MEMORY_FRACTION
    assert budget.tokens * per_token <= budget.bytes or budget.tokens == 1  # one token is the floor
    assert (budget.tokens + 1) * per_token > budget.bytes  # and no token more would fit: the budget is not wasted


def test_gpu_budget_counts_dtype_and_pooled_layers():
    # bf16 states take half of float32's bytes, so twice the tokens fit; pooling four layers costs extra copies
    free = 40 << 30
    bf16 = batch_budget(hidden=4096, states=33, kept=1, dtype_bytes=2, free_bytes=free)
    fp32 = batch_budget(hidden=4096, states=33, kept=1, dtype_bytes=4, free_bytes=free)
    four = batch_budget(hidden=4096, states=33, kept=4, dtype_bytes=2, free_bytes=free)
    assert bf16.tokens == (20 << 30) // (33 * 4096 * 2) and fp32.tokens == (20 << 30) // (33 * 4096 * 4)
    assert four.tokens == (20 << 30) // (33 * 4096 * 2 + 4096 * (4 * 6 + 4)) < bf16.tokens


@given(
    st.lists(st.integers(min_value=1, max_value=300), max_size=60),
    st.integers(min_value=1, max_value=2000),
    st.integers(min_value=1, max_value=100),
)
def test_batches_keep_every_sequence_in_order_within_the_budget(lengths, tokens, items):
    sequences = [tuple(range(length)) for length in sorted(lengths)]
    grouped = batches(sequences, BatchBudget(tokens=tokens, items=items, bytes=0))
    assert [ids for batch in grouped for ids in batch] == sequences
    for batch in grouped:
        assert batch and len(batch) <= items
        assert len(batch) == 1 or len(batch) * max(len(ids) for ids in batch) <= tokens
