"""What a model's own files say about it without loading its weights: whether it is a decoder-only LM, and how many
parameters it has, counted from the safetensors headers (a few KB each) or a GGUF file's tensor table.

Read when ``--embedder llm:...`` or ``st:...`` is parsed (by each format's ``measure``), so that a user's model has
a family and a size in the claims and the scale view as the registered ones do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from embedders.files import read_json_object, safetensors_header

# integer tensors that are buffers, not parameters (BERT's position and token-type ids); any other integer tensor
# is a quantised checkpoint's packed weights, several parameters per number, which cannot be counted from a header
INTEGER_DTYPES = ("BOOL", "U8", "I8", "U16", "I16", "U32", "I32", "U64", "I64")
BUFFER_SUFFIXES = ("_ids",)
# architectures names that say a checkpoint is a causal (decoder-only) LM: Llama's "LlamaForCausalLM", GPT-2's
# "GPT2LMHeadModel"
DECODER_ARCHITECTURES = ("ForCausalLM", "LMHeadModel")


def text_config(folder: Path) -> dict[str, object]:
    """config.json, or its text part for a multimodal checkpoint (whose ``text_config`` describes the LM)."""
    config = read_json_object(folder / "config.json")
    text = config.get("text_config")
    return text if isinstance(text, dict) else config


def is_decoder_only(folder: Path) -> bool:
    """Whether config.json describes a decoder-only LM: ``is_decoder`` set, a causal-LM architecture name, or a model
    type transformers knows as a causal LM and not as a masked LM (LLaMA, Qwen, Mistral, GPT-2, Gemma; not BERT or
    RoBERTa, which have both); never an encoder-decoder. The model type matters most: a sentence-transformers model
    saves its transformer as the bare trunk (``LlamaModel``), whose name says nothing."""
    config = read_json_object(folder / "config.json")
    if config.get("is_encoder_decoder") is True:
        return False
    text = text_config(folder)
    architectures = config.get("architectures")
    named = isinstance(architectures, list) and any(
        isinstance(name, str) and name.endswith(DECODER_ARCHITECTURES) for name in architectures
    )
    types = {str(config.get("model_type", "")), str(text.get("model_type", ""))} - {""}
    return named or text.get("is_decoder") is True or any(_causal_only(model_type) for model_type in types)


def _causal_only(model_type: str) -> bool:
    try:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
            MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        )
    except ImportError:  # without transformers, the architecture name and is_decoder decide alone
        return False
    return model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def safetensors_parameters(files: Sequence[Path]) -> int | None:
    """The parameters the files' headers describe; None when that cannot be told without loading: no files, a
    pickled ``.bin`` among them, or packed integer weights. A tied matrix is stored once, so it counts once, as
    ``model.parameters()`` counts it."""
    if not files or any(file.suffix != ".safetensors" for file in files):
        return None
    total = 0
    for file in files:
        for name, tensor in safetensors_header(file)[1].items():
            if tensor["dtype"] in INTEGER_DTYPES:
                if name.endswith(BUFFER_SUFFIXES):
                    continue
                return None
            total += math.prod(int(extent) for extent in tensor["shape"])
    return total


def gguf_parameters(path: Path) -> int:
    """Every tensor's elements in a GGUF file's table (quantised blocks are counted as the weights they hold)."""
    from gguf import GGUFReader

    return sum(int(tensor.n_elements) for tensor in GGUFReader(path).tensors)
