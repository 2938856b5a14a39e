"""What each eval will ask an embedder for, known before it runs: its share of the session's embedding plan."""

from __future__ import annotations

from fixtures import Analogies, Dataset, SentencePairs


def task_inputs(dataset: Dataset, vocabulary: str | None, open_size: int) -> dict[str, list]:
    """The inputs an eval embeds for ``dataset``: its words or its sentences; for open-vocabulary analogies, the
    head of the model's own word list (the questions are looked up in it)."""
    if isinstance(dataset, Analogies) and vocabulary == "open":
        return {"vocabulary": [open_size]}
    if isinstance(dataset, SentencePairs):
        return {"sentences": list(dataset.sentences)}
    return {"words": list(dataset.words)}
