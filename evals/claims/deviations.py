"""How a comparison's protocol differs from the paper's: what its embedders' registry entries declare (a proxy for
the paper's models, quantised or instruction-tuned weights), then what its metric reports (a stand-in dataset, a
closed vocabulary). Nothing here loads a model."""

from __future__ import annotations

from collections.abc import Iterable

from embedders import EmbedderEntry, Family
from evals.claims.spec import ComparisonSpec
from evals.records import Deviation

# what a proxy of each family stands in for: the paper's models of that family (paper-claims.md, "Models")
PAPER_MODELS_OF = {
    Family.LLM: "the paper's open LLMs (LLaMA-2-7B, LLaMA-3-8B, Mistral-7B)",
    Family.SENTENCE_ENCODER: "the paper's classical sentence encoders (SBERT, SimCSE, USE, LASER)",
    Family.STATIC: "the paper's static word vectors (Word2Vec, GloVe)",
    Family.API: "the paper's API embedders (ADA, PaLM gecko)",
}


def model_deviations(entry: EmbedderEntry) -> tuple[Deviation, ...]:
    """What an embedder's entry says differs from the paper's models: not one of them (a proxy), weights
    quantised, weights instruction-tuned. One of the paper's own models at full precision has none."""
    found = []
    if entry.paper_model is None:
        text = f"proxy: {entry.name} stands in for {PAPER_MODELS_OF[entry.family]}"
        found.append(Deviation("model", text, entry.name))
    if entry.quantisation:
        found.append(Deviation("weights", f"{entry.name}: weights quantised ({entry.quantisation})", entry.name))
    if entry.instruction_tuned:
        found.append(
            Deviation(
                "weights", f"{entry.name}: instruction-tuned weights (the paper's LLMs are base models)", entry.name
            )
        )
    return tuple(found)


def comparison_deviations(spec: ComparisonSpec, *metric: Iterable[Deviation]) -> tuple[Deviation, ...]:
    """Every deviation of a comparison, each once, in order: its metric's (both sides' union), then each
    embedder's (subject, reference, anchor: the anchor's model shapes the agreement as much as the sides')."""
    found: dict[Deviation, None] = {}
    for deviations in metric:
        found.update(dict.fromkeys(deviations))
    for entry in spec.entries:
        found.update(dict.fromkeys(model_deviations(entry)))
    return tuple(found)
