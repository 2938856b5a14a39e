"""Real, tiny transformers models saved to a folder, to feed the backends broken weights and long inputs."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = "the a cat dog car truck king queen river bank money tea coffee happy glad sun moon word".split()
SPECIAL = ["<unk>", "<s>", "</s>"]

# Python a model folder ships for transformers to import: it leaves a marker file when it runs.
CUSTOM_CODE = """
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM

Path({marker!r}).write_text("yes")


class TinyCustomConfig(LlamaConfig):
    model_type = "tiny-custom"


class TinyCustomModel(LlamaForCausalLM):
    config_class = TinyCustomConfig
"""


def save_tokenizer(folder: Path) -> PreTrainedTokenizerFast:
    vocabulary = {token: index for index, token in enumerate([*SPECIAL, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_tiny_llama(folder: Path, *, context: int = 16, nan_weight: bool = False, seed: int = 0) -> Path:
    """A 2-layer LLaMA with a word-level tokenizer; ``nan_weight`` puts one NaN in the first layer's weights."""
    folder.mkdir(parents=True, exist_ok=True)
    save_tokenizer(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(SPECIAL) + len(WORDS),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=context,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(config).eval()
    if nan_weight:
        with torch.no_grad():
            model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    model.save_pretrained(folder)
    return folder


def add_remote_code(folder: Path, marker: Path) -> Path:
    """Turn a saved tiny LLaMA into one whose config asks transformers to import the folder's own Python,
    which writes ``marker`` when it runs."""
    (folder / "custom.py").write_text(CUSTOM_CODE.replace("{marker!r}", repr(str(marker))))
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "tiny-custom"
    config["architectures"] = ["TinyCustomModel"]
    config["auto_map"] = {"AutoConfig": "custom.TinyCustomConfig", "AutoModelForCausalLM": "custom.TinyCustomModel"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder
