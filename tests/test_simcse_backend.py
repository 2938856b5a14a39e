"""SimCSE pooling on a real (tiny, randomly initialised) BertModel saved as a checkpoint folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from embedders import simcse
from embedders.base import EmbedderUnavailable, Family, WordInContext
from embedders.registry import EMBEDDERS, SpecError, resolve

WORDS = "the a river bank loan money water flows past on sunny day we took out to buy house bigger".split()
SENTENCES = ["the river bank", "we took out a bank loan to buy a bigger house on a sunny day", "money", "water flows"]


def save_tiny_bert(folder: Path, *, pooler: bool = True, seed: int = 0) -> BertModel:
    folder.mkdir(parents=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ed"]) + "\n")
    tokenizer = BertTokenizerFast.from_pretrained(folder)  # reads vocab.txt, in transformers 4 and 5 alike
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(WORDS) + 7,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
    )
    model = BertModel(config, add_pooling_layer=pooler).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert tokenizer.tokenize("the banks") == ["the", "bank", "##s"]
    return model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, BertModel]:
    root = tmp_path_factory.mktemp("simcse")
    model = save_tiny_bert(root / "tiny-sup-simcse")
    shutil.copytree(root / "tiny-sup-simcse", root / "tiny-unsup-simcse")  # same weights, other pooling
    return root / "tiny-sup-simcse", root / "tiny-unsup-simcse", model


def reference(model: BertModel, folder: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    pooled, cls = [], []
    with torch.inference_mode():
        for text in texts:  # one at a time: no padding involved
            output = model(**tokenizer([text], return_tensors="pt"))
            pooled.append(output.pooler_output[0].numpy())
            cls.append(output.last_hidden_state[0, 0].numpy())
    return np.array(pooled), np.array(cls)


def test_supervised_uses_pooler_output(checkpoints: tuple[Path, Path, BertModel]) -> None:
    sup, _, model = checkpoints
    embedder = resolve(f"simcse:{sup}").load()
    assert embedder.supervised
    assert "after the MLP pooler" in embedder.info.extraction.pooling
    pooled, cls = reference(model, sup, SENTENCES)
    vectors = embedder.embed_sentences(SENTENCES).vectors
    np.testing.assert_allclose(vectors, pooled, atol=1e-5)
    assert not np.allclose(vectors, cls, atol=1e-3)


def test_unsupervised_uses_cls_before_pooler(checkpoints: tuple[Path, Path, BertModel]) -> None:
    sup, unsup, model = checkpoints
    embedder = resolve(f"simcse:{unsup}").load()
    assert not embedder.supervised
    assert "before the MLP pooler" in embedder.info.extraction.pooling
    _, cls = reference(model, unsup, SENTENCES)
    vectors = embedder.embed_sentences(SENTENCES).vectors
    np.testing.assert_allclose(vectors, cls, atol=1e-5)
    supervised = resolve(f"simcse:{sup}").load().embed_sentences(SENTENCES).vectors
    assert not np.allclose(vectors, supervised, atol=1e-3)
    assert embedder.info.fingerprint != resolve(f"simcse:{sup}").load().info.fingerprint


def test_explicit_kinds_override_folder_name(checkpoints: tuple[Path, Path, BertModel]) -> None:
    sup, unsup, _ = checkpoints
    assert not resolve(f"simcse-unsup:{sup}").load().supervised
    assert resolve(f"simcse-sup:{unsup}").load().supervised


def test_padding_and_batching_do_not_change_vectors(checkpoints: tuple[Path, Path, BertModel]) -> None:
    for folder in checkpoints[:2]:
        embedder = resolve(f"simcse:{folder}").load()
        together = embedder.embed_sentences(SENTENCES).vectors
        alone = np.array([embedder.embed_sentences([text]).vectors[0] for text in SENTENCES])
        np.testing.assert_allclose(together, alone, atol=1e-5)
        embedder.batch_size = 1
        np.testing.assert_allclose(embedder.embed_sentences(SENTENCES[::-1]).vectors[::-1], together, atol=1e-5)


def test_words_empty_input_and_info(checkpoints: tuple[Path, Path, BertModel]) -> None:
    embedder = resolve(f"simcse:{checkpoints[0]}").load()
    result = embedder.embed_words(["bank", "", "river"])
    assert result.found.tolist() == [True, False, True]
    assert not result.vectors[1].any()
    np.testing.assert_allclose(result.vectors[0], embedder.embed_sentences(["bank"]).vectors[0], atol=1e-6)
    assert embedder.info.family is Family.SENTENCE_ENCODER
    assert embedder.info.dimension == 32
    assert "lower-cased" in embedder.info.extraction.casing
    # the config counts with the weights: it changes the vectors as surely
    assert (
        embedder.info.weights.startswith("config.json:sha256:")
        and " model.safetensors:sha256:" in embedder.info.weights
    )


def test_in_context_locates_each_occurrence(checkpoints: tuple[Path, Path, BertModel]) -> None:
    sup, _, model = checkpoints
    embedder = resolve(f"simcse:{sup}").load()
    sentence = "the bank loan and the river bank"
    first, second = sentence.index("bank"), sentence.rindex("bank")
    items = [WordInContext(sentence, first, first + 4), WordInContext(sentence, second, second + 4)]
    result = embedder.embed_in_context([*items, WordInContext("money", 0, 5)])
    tokenizer = BertTokenizerFast.from_pretrained(sup)
    encoded = tokenizer([sentence], return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**encoded).last_hidden_state[0].numpy()
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    positions = [index for index, token in enumerate(tokens) if token == "bank"]
    np.testing.assert_allclose(result.vectors[0], hidden[positions[0]], atol=1e-5)
    np.testing.assert_allclose(result.vectors[1], hidden[positions[1]], atol=1e-5)
    assert result.found.all()


def test_supervised_refuses_checkpoint_without_pooler(tmp_path: Path) -> None:
    folder = tmp_path / "no-pooler"
    save_tiny_bert(folder, pooler=False)
    with pytest.raises(EmbedderUnavailable, match="no trained pooler"):
        resolve(f"simcse-sup:{folder}").load()
    assert resolve(f"simcse-unsup:{folder}").load().embed_sentences(["river bank"]).found.all()


def test_folder_checks(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no config\.json"):
        resolve(f"simcse:{tmp_path}")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpecError, match=r"no model\.safetensors"):
        resolve(f"simcse:{tmp_path}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(SpecError, match="no tokenizer"):
        resolve(f"simcse:{tmp_path}")
    with pytest.raises(SpecError, match="not a folder"):
        resolve(f"simcse:{tmp_path / 'config.json'}")


def test_registered_checkpoints() -> None:
    expected = {
        "simcse-sup-bert-base": "princeton-nlp/sup-simcse-bert-base-uncased",
        "simcse-sup-bert-large": "princeton-nlp/sup-simcse-bert-large-uncased",
        "simcse-sup-roberta-base": "princeton-nlp/sup-simcse-roberta-base",
        "simcse-sup-roberta-large": "princeton-nlp/sup-simcse-roberta-large",
        "simcse-unsup-bert-base": "princeton-nlp/unsup-simcse-bert-base-uncased",
        "simcse-unsup-bert-large": "princeton-nlp/unsup-simcse-bert-large-uncased",
        "simcse-unsup-roberta-base": "princeton-nlp/unsup-simcse-roberta-base",
        "simcse-unsup-roberta-large": "princeton-nlp/unsup-simcse-roberta-large",
        "simcse": "princeton-nlp/sup-simcse-bert-large-uncased",
    }
    for name, repo_id in expected.items():
        assert simcse.CHECKPOINTS[name].repo_id == repo_id
        assert simcse.CHECKPOINTS[name].supervised == repo_id.startswith("princeton-nlp/sup-")
        assert name in EMBEDDERS and EMBEDDERS[name].family is Family.SENTENCE_ENCODER


def test_hub_checkpoint_unavailable_says_how_to_get_it(tmp_path: Path) -> None:
    reason = simcse.hub_problem("princeton-nlp/sup-simcse-bert-large-uncased", cache_dir=str(tmp_path))
    assert reason is not None
    assert "hf download princeton-nlp/sup-simcse-bert-large-uncased" in reason
    assert "huggingface-cli download princeton-nlp/sup-simcse-bert-large-uncased" in reason
    assert "simcse:/path" in reason


def test_hub_checkpoint_loads_from_local_cache_only(
    tmp_path: Path, checkpoints: tuple[Path, Path, BertModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    checkpoint = simcse.CHECKPOINTS["simcse-sup-bert-base"]
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--princeton-nlp--sup-simcse-bert-base-uncased"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(checkpoints[0], snapshot)
    # As the princeton-nlp repositories ship it: a pickled state dict with BertForCL's "bert." prefix.
    (snapshot / "model.safetensors").unlink()
    model = checkpoints[2]
    torch.save({f"bert.{key}": value for key, value in model.state_dict().items()}, snapshot / "pytorch_model.bin")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert simcse.hub_problem(checkpoint.repo_id, cache_dir=str(tmp_path)) is None
    embedder = simcse.load_hub_checkpoint("simcse-sup-bert-base", checkpoint, cache_dir=str(tmp_path))
    assert embedder.supervised
    assert embedder.info.weights.startswith(f"hf:{checkpoint.repo_id}@{commit} sha256:")
    pooled, _ = reference(model, checkpoints[0], SENTENCES[:2])
    np.testing.assert_allclose(embedder.embed_sentences(SENTENCES[:2]).vectors, pooled, atol=1e-5)
    embedder.close()
    with pytest.raises(RuntimeError, match="closed"):
        embedder.embed_sentences(["bank"])
