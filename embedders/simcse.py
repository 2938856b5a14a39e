"""SimCSE (Gao, Yao & Chen 2021) on transformers ``AutoModel``, pooled as its authors specify.

Supervised checkpoints were trained with an MLP on [CLS] and are used with it: the [CLS] vector after the MLP
pooler (``pooler_output``). Unsupervised ones drop the MLP at test time: the [CLS] vector before it
(``last_hidden_state[:, 0]``).

No package ships SimCSE weights, so the princeton-nlp checkpoints are available only once they sit in the local
Hugging Face cache; nothing is fetched at run time. A local folder works through path formats:

- ``simcse:/path``: unsupervised when the folder's name contains "unsup", supervised otherwise;
- ``simcse-sup:/path`` and ``simcse-unsup:/path``: the pooling stated outright, whatever the folder is called.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from embedders.base import EmbedderInfo, Embeddings, Extraction, Family, LoadOptions, WordInContext
from embedders.files import (
    check_config_json,
    check_config_matches_weights,
    check_folder_entries,
    check_tokenizer,
    check_weight_files,
    user_weights,
)
from embedders.registry import register_embedder, register_path_format
from embedders.sentence import encode_texts, longer_than, token_span_means, tokenizer_casing
from embedders.weights import folder_weights, hub_snapshot, hub_weights, snapshot_stamp

SENTENCE_MAX_TOKENS = 128  # SimCSE's own encode() truncates here
CONTEXT_MAX_TOKENS = 512  # a word late in a long sentence must stay reachable


@dataclass(frozen=True)
class Checkpoint:
    repo_id: str
    supervised: bool
    parameters: int
    dimension: int


CHECKPOINTS: dict[str, Checkpoint] = {
    "simcse-sup-bert-base": Checkpoint("princeton-nlp/sup-simcse-bert-base-uncased", True, 109_482_240, 768),
    "simcse-sup-bert-large": Checkpoint("princeton-nlp/sup-simcse-bert-large-uncased", True, 335_141_888, 1024),
    "simcse-sup-roberta-base": Checkpoint("princeton-nlp/sup-simcse-roberta-base", True, 124_645_632, 768),
    "simcse-sup-roberta-large": Checkpoint("princeton-nlp/sup-simcse-roberta-large", True, 355_359_744, 1024),
    "simcse-unsup-bert-base": Checkpoint("princeton-nlp/unsup-simcse-bert-base-uncased", False, 109_482_240, 768),
    "simcse-unsup-bert-large": Checkpoint("princeton-nlp/unsup-simcse-bert-large-uncased", False, 335_141_888, 1024),
    "simcse-unsup-roberta-base": Checkpoint("princeton-nlp/unsup-simcse-roberta-base", False, 124_645_632, 768),
    "simcse-unsup-roberta-large": Checkpoint("princeton-nlp/unsup-simcse-roberta-large", False, 355_359_744, 1024),
}
CHECKPOINTS["simcse"] = CHECKPOINTS["simcse-sup-bert-large"]  # the paper's SimCSE


def pooling_name(supervised: bool) -> str:
    if supervised:
        return "[CLS] after the MLP pooler (pooler_output), as for supervised SimCSE"
    return "[CLS] before the MLP pooler (last_hidden_state[:, 0]), as for unsupervised SimCSE"


class SimCSEEmbedder:
    """A word is embedded as its text; in context, the mean of its sub-tokens' last-layer states."""

    def __init__(
        self, name: str, model: Any, tokenizer: Any, *, supervised: bool, weights: str, batch_size: int = 32
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.supervised = supervised
        self.batch_size = batch_size
        self._dimension = int(model.config.hidden_size)
        # A checkpoint with fewer positions than these limits would fail on a long input instead of truncating it.
        positions = int(getattr(model.config, "max_position_embeddings", 0) or CONTEXT_MAX_TOKENS)
        self._sentence_tokens = min(SENTENCE_MAX_TOKENS, positions)
        self._context_tokens = min(CONTEXT_MAX_TOKENS, positions)
        self.info = EmbedderInfo(
            name=name,
            family=Family.SENTENCE_ENCODER,
            token_vectors=True,
            parameters=sum(parameter.numel() for parameter in model.parameters()),
            dimension=self._dimension,
            extraction=Extraction(
                pooling=f"{pooling_name(supervised)}; word = the word's text; in-context: mean of the last-layer "
                "states of the word's sub-tokens (tokenizer offsets)",
                layer="last",
                prompt=None,
                normalisation="none",
                casing=tokenizer_casing(tokenizer),
                oov="none: sub-word tokenizer",
            ),
            weights=weights,
        )

    def __repr__(self) -> str:
        return f"SimCSEEmbedder({self.info.name!r}, supervised={self.supervised})"

    def _encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if self.model is None:
            raise RuntimeError(f"{self.info.name} was closed")
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self._sentence_tokens, return_tensors="pt"
        )
        with torch.inference_mode():
            output = self.model(**encoded)
            pooled = output.pooler_output if self.supervised else output.last_hidden_state[:, 0]
        return pooled.float().numpy()

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        return self.embed_sentences(words)

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        too_long = longer_than(self.tokenizer, self._sentence_tokens)
        return encode_texts(sentences, self._encode, self._dimension, self.batch_size, too_long)

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        if self.model is None:
            raise RuntimeError(f"{self.info.name} was closed")
        return token_span_means(
            self.model, self.tokenizer, items, batch_size=self.batch_size, max_length=self._context_tokens
        )

    def close(self) -> None:
        self.model = self.tokenizer = None
        gc.collect()


def load_simcse(
    name: str, source: str | Path, *, supervised: bool, weights: str, cache_dir: str | None = None
) -> SimCSEEmbedder:
    """Load a checkpoint from a folder or the local HF cache only (local_files_only: never the network)."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True, cache_dir=cache_dir)
    model, loading = AutoModel.from_pretrained(
        str(source), local_files_only=True, cache_dir=cache_dir, output_loading_info=True
    )
    if supervised and any(key.startswith("pooler") or ".pooler." in key for key in loading["missing_keys"]):
        # A fresh random MLP would silently give noise: the supervised pooling needs the trained one.
        raise ValueError(
            f"{source} has no trained pooler weights, which supervised SimCSE pooling needs; "
            "if it is an unsupervised checkpoint use simcse-unsup:PATH"
        )
    model.eval()
    return SimCSEEmbedder(name, model, tokenizer, supervised=supervised, weights=weights)


def hub_problem(repo_id: str, cache_dir: str | None = None) -> str | None:
    """Why a hub checkpoint cannot load here (not in the local HF cache), or None. Never touches the network."""
    if hub_snapshot(repo_id, cache_dir) is not None:
        return None
    return (
        f"{repo_id} is not in the local Hugging Face cache. With hub access: hf download {repo_id} "
        f"(huggingface-cli download {repo_id} with huggingface_hub < 1.0); "
        "or pass a local copy with --embedder simcse:/path/to/folder (simcse-unsup:/path for an unsupervised one)"
    )


def load_hub_checkpoint(
    name: str,
    checkpoint: Checkpoint,
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    cache_dir: str | None = None,
) -> SimCSEEmbedder:
    return load_simcse(
        name,
        checkpoint.repo_id,
        supervised=checkpoint.supervised,
        weights=hub_weights(checkpoint.repo_id, cache_dir),
        cache_dir=cache_dir,
    )


for _name, _checkpoint in CHECKPOINTS.items():
    _kind = "supervised" if _checkpoint.supervised else "unsupervised"
    register_embedder(
        _name,
        family=Family.SENTENCE_ENCODER,
        token_vectors=True,
        parameters=_checkpoint.parameters,
        dimension=_checkpoint.dimension,
        summary=f"{_kind} SimCSE {_checkpoint.repo_id}" + (" (the paper's SimCSE)" if _name == "simcse" else ""),
        requires=("transformers", "torch"),
        how_to_get="pip install transformers torch",
        check=partial(hub_problem, _checkpoint.repo_id),
        stamp=partial(snapshot_stamp, _checkpoint.repo_id),
        paper_model="SimCSE (sup-simcse-bert-large-uncased)" if _checkpoint is CHECKPOINTS["simcse"] else None,
    )(partial(load_hub_checkpoint, _name, _checkpoint))


def check_simcse_folder(path: Path) -> None:
    if not path.is_dir():
        raise ValueError(f"{path} is not a folder; give a SimCSE checkpoint folder (config.json, weights, tokenizer)")
    check_folder_entries(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} has no config.json, so it is no transformers checkpoint")
    if not any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise ValueError(f"{path} has no model.safetensors or pytorch_model.bin")
    check_tokenizer(path)
    check_config_json(path)
    weights = [path / name for name in ("model.safetensors", "pytorch_model.bin") if (path / name).is_file()]
    check_config_matches_weights(path, check_weight_files(weights))


def folder_is_supervised(path: Path) -> bool:
    return "unsup" not in path.name.lower()


def _open_folder(name: str, path: Path, supervised: bool) -> SimCSEEmbedder:
    with user_weights(name, path):
        return load_simcse(name, path, supervised=supervised, weights=folder_weights(path))


@register_path_format(
    "simcse",
    family=Family.SENTENCE_ENCODER,
    token_vectors=True,
    summary="SimCSE checkpoint folder (unsupervised pooling if its name contains 'unsup', else supervised)",
    check=check_simcse_folder,
)
def open_simcse(name: str, path: Path, options: LoadOptions = LoadOptions()) -> SimCSEEmbedder:  # noqa: B008
    return _open_folder(name, path, folder_is_supervised(path))


@register_path_format(
    "simcse-sup",
    family=Family.SENTENCE_ENCODER,
    token_vectors=True,
    summary="supervised SimCSE checkpoint folder ([CLS] after the MLP pooler)",
    check=check_simcse_folder,
)
def open_simcse_sup(name: str, path: Path, options: LoadOptions = LoadOptions()) -> SimCSEEmbedder:  # noqa: B008
    return _open_folder(name, path, True)


@register_path_format(
    "simcse-unsup",
    family=Family.SENTENCE_ENCODER,
    token_vectors=True,
    summary="unsupervised SimCSE checkpoint folder ([CLS] before the MLP pooler)",
    check=check_simcse_folder,
)
def open_simcse_unsup(name: str, path: Path, options: LoadOptions = LoadOptions()) -> SimCSEEmbedder:  # noqa: B008
    return _open_folder(name, path, False)
