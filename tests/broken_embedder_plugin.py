"""A pytest plugin (loaded with -p) that registers an LLM whose weights fail to load with an error that is not
"unavailable": a damaged install, as a real backend can meet it."""

from embedders import Family
from embedders.registry import register_embedder


@register_embedder("broken-llm", family=Family.LLM, parameters=1_000_000, dimension=8, summary="fails to load")
def broken_llm(options: object) -> None:
    raise RuntimeError("the weights of broken-llm are damaged")
