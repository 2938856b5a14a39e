"""Bad embedder specs and bad vectors: a usage error before any model loads, or a skip with the reason; and
NaN, inf, zero, missing and truncated inputs counted in the record, never scored."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from gensim.test.utils import datapath
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from embedders import EMBEDDERS, SpecError, resolve
from embedders.base import EmbedderUnavailable, WordInContext
from embedders.files import EmbedderFileError
from evals.tasks.analogy import analogy
from evals.tasks.measurement import NonFiniteVectors
from evals.tasks.word_similarity import word_similarity
from fixtures import Analogies, Analogy, DatasetInfo, WordPairs
from tests.test_simcse_backend import save_tiny_bert
from tests.tiny_models import add_remote_code, save_tiny_llama

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def run_pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # --no-ledger: these sessions leave nothing in the checkout's reports/ledger
        [sys.executable, "-m", "pytest", "--no-ledger", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**ENVIRONMENT, **(env or {})},
        timeout=600,
    )


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def binary_word2vec(path: Path, rows: int = 3, dimension: int = 4) -> Path:
    vectors = KeyedVectors(vector_size=dimension)
    words = ["the", "cat", "dog", "sun", "moon"][:rows]
    vectors.add_vectors(words, np.arange(rows * dimension, dtype=np.float32).reshape(rows, dimension) + 1)
    vectors.save_word2vec_format(str(path), binary=True)
    return path


TEXT_W2V = "3 4\nthe 0.1 0.2 0.3 0.4\ncat 1 2 3 4\ndog 1 2 3 5\n"


# -- specs refused when --embedder is parsed (resolve raises SpecError; the command line exits 4)


def spec_cases(tmp: Path) -> list[tuple[str, str, str]]:
    """(id, spec, message) for bad specs built under ``tmp``."""
    folder = tmp / "folder"
    folder.mkdir()
    cut = binary_word2vec(tmp / "cut.bin")
    cut.write_bytes(cut.read_bytes()[:-9])
    smallest = tmp / "gguf-header-only.gguf"
    smallest.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 8)
    llm_bad_json = tmp / "llm-bad-json"
    write(llm_bad_json / "config.json", "{not json")
    save_file({"w": np.zeros(2, dtype=np.float32)}, llm_bad_json / "model.safetensors")
    llm_cut = tmp / "llm-cut"
    write(llm_cut / "config.json", "{}")
    save_file({"w": np.zeros(64, dtype=np.float32)}, llm_cut / "model.safetensors")
    (llm_cut / "model.safetensors").write_bytes((llm_cut / "model.safetensors").read_bytes()[:-16])
    llm_shard = tmp / "llm-shard"
    write(llm_shard / "config.json", "{}")
    save_file({"w": np.zeros(2, dtype=np.float32)}, llm_shard / "model-00001-of-00002.safetensors")
    write(llm_shard / "model.safetensors.index.json", '{"weight_map": {"w": "model-00002-of-00002.safetensors"}}')
    llm_empty_bin = tmp / "llm-empty-bin"
    write(llm_empty_bin / "config.json", "{}")
    write(llm_empty_bin / "pytorch_model.bin", b"")
    sbert_no_weights = tmp / "sbert-no-weights"
    write(sbert_no_weights / "modules.json", "[]")
    write(sbert_no_weights / "config.json", "{}")
    simcse_cut = tmp / "simcse-cut"
    write(simcse_cut / "config.json", "{}")
    write(simcse_cut / "vocab.txt", "[PAD]\n")
    write(simcse_cut / "model.safetensors", b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    empty = write(tmp / "empty.txt", b"")
    zero = write(tmp / "zero.txt", "0 50\n")
    header = write(tmp / "header.txt", "3 4\n")
    short = write(tmp / "short.txt", "2 4\nthe 1 2 3\n")
    ragged = write(tmp / "ragged.txt", "the 1 2 3\ncat 1 2 3\ndog 1 2\n")
    words = write(tmp / "words.txt", "the cat dog\n")
    return [
        ("unknown-name", "glove-999", "neither a registered name nor FORM:ARGUMENT"),
        ("unknown-kind", f"word3vec:{empty}", "neither a registered name nor FORM:ARGUMENT"),
        ("missing-path", f"word2vec:{tmp / 'absent.bin'}", "does not exist"),
        ("missing-llm-path", f"llm:{tmp / 'absent'}", "does not exist"),
        ("text-as-binary", f"word2vec:{write(tmp / 'text.bin', TEXT_W2V)}", "line 2 is a text vector"),
        ("binary-as-text", f"word2vec:{binary_word2vec(tmp / 'binary.txt')}", "must be named .bin"),
        ("truncated-binary", f"word2vec:{cut}", "is truncated"),
        ("zero-header", f"word2vec:{zero}", "announces 0 vectors"),
        ("header-only", f"word2vec:{header}", "has 0 fields"),
        ("word2vec-short-row", f"word2vec:{short}", "3 values, not 4"),
        ("glove-ragged", f"glove:{ragged}", ":3: it has 2"),
        ("glove-words-only", f"glove:{words}", "not 'WORD v1 v2"),
        ("word2vec-empty", f"word2vec:{empty}", "word2vec header"),
        ("glove-empty", f"glove:{empty}", "not 'WORD v1 v2"),
        ("fasttext-empty", f"fasttext:{empty}", "wrong magic number"),
        ("llm-empty-file", f"llm:{empty}", "not a GGUF file"),
        ("folder-as-word2vec", f"word2vec:{folder}", "is a folder"),
        ("folder-as-glove", f"glove:{folder}", "is a folder"),
        ("gensim-pickle", f"word2vec:{write(tmp / 'vectors.model', pickle.dumps({'a': 1}))}", "never loaded"),
        ("numpy-pickle", f"glove:{write(tmp / 'vectors.npy', b'NUMPY')}", "never loaded"),
        ("pickle-as-bin", f"word2vec:{write(tmp / 'vectors.bin', pickle.dumps([1, 2]))}", "word2vec header"),
        ("gguf-header-only", f"llm:{smallest}", "not a complete GGUF file"),
        ("llm-config-not-json", f"llm:{llm_bad_json}", "is not valid JSON"),
        ("llm-truncated-safetensors", f"llm:{llm_cut}", "is truncated"),
        ("llm-missing-shard", f"llm:{llm_shard}", "shards that are missing"),
        ("llm-empty-bin", f"llm:{llm_empty_bin}", "pytorch_model.bin is empty"),
        ("llm-folder-without-weights", f"llm:{write(tmp / 'w' / 'config.json', '{}').parent}", "no weights"),
        ("sbert-without-weights", f"sbert:{sbert_no_weights}", "holds no weights"),
        ("sbert-file", f"sbert:{empty}", "not a folder"),
        ("simcse-damaged-safetensors", f"simcse:{simcse_cut}", "not a safetensors file|damaged safetensors"),
        ("simcse-file", f"simcse:{empty}", "not a folder"),
    ]


@pytest.fixture(scope="module")
def bad_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    return {case: (spec, message) for case, spec, message in spec_cases(tmp_path_factory.mktemp("specs"))}


SPEC_IDS = [
    "unknown-name",
    "unknown-kind",
    "missing-path",
    "missing-llm-path",
    "text-as-binary",
    "binary-as-text",
    "truncated-binary",
    "zero-header",
    "header-only",
    "word2vec-short-row",
    "glove-ragged",
    "glove-words-only",
    "word2vec-empty",
    "glove-empty",
    "fasttext-empty",
    "llm-empty-file",
    "folder-as-word2vec",
    "folder-as-glove",
    "gensim-pickle",
    "numpy-pickle",
    "pickle-as-bin",
    "gguf-header-only",
    "llm-config-not-json",
    "llm-truncated-safetensors",
    "llm-missing-shard",
    "llm-empty-bin",
    "llm-folder-without-weights",
    "sbert-without-weights",
    "sbert-file",
    "simcse-damaged-safetensors",
    "simcse-file",
]


def test_every_spec_case_is_listed(tmp_path: Path) -> None:
    assert [case for case, _, _ in spec_cases(tmp_path)] == SPEC_IDS


@pytest.mark.parametrize("case", SPEC_IDS)
def test_bad_spec_is_refused_before_loading(bad_specs: dict[str, tuple[str, str]], case: str) -> None:
    spec, message = bad_specs[case]
    with pytest.raises(SpecError, match=message) as caught:
        resolve(spec)
    assert str(caught.value).startswith("--embedder ")


@pytest.mark.parametrize("case", ["text-as-binary", "glove-ragged", "llm-truncated-safetensors", "sbert-file"])
def test_bad_spec_on_the_command_line_exits_4(bad_specs: dict[str, tuple[str, str]], case: str) -> None:
    spec, message = bad_specs[case]
    result = run_pytest("evals/", "--collect-only", "-q", "--embedder", spec)
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(message, result.stderr) and "Traceback" not in result.stderr


def test_truncated_gguf_is_refused(tmp_path: Path) -> None:
    from embedders import llm

    source = llm.smollm2_path()
    if source is None:
        pytest.skip("the SmolLM2 GGUF is not installed")
    data = source.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        truncated = write(tmp_path / f"cut{cut}.gguf", data[:cut])
        with pytest.raises(SpecError, match="GGUF file"):
            resolve(f"llm:{truncated}")


# -- files that pass the header checks but fail to load: a skip with the reason, naming file and line


def test_glove_ragged_row_past_the_checked_head_names_its_line(tmp_path: Path) -> None:
    rows = [f"w{index} 0.1 0.2 0.3" for index in range(9000)]  # about 110 KB: past the 64 KB header check
    rows[8500] = "w8500 0.1 0.2"
    path = write(tmp_path / "glove.txt", "\n".join(rows) + "\n")
    entry = resolve(f"glove:{path}")
    with pytest.raises(EmbedderFileError, match=f"{re.escape(str(path))}:8501: it has 2 values, not 3"):
        entry.load()


def test_truncated_fasttext_model_is_a_reason(tmp_path: Path) -> None:
    data = Path(datapath("lee_fasttext_new.bin")).read_bytes()
    path = write(tmp_path / "cut.bin", data[: len(data) // 2])
    with pytest.raises(EmbedderUnavailable, match=r"not a readable fastText \.bin model"):
        resolve(f"fasttext:{path}").load()


def test_pickled_checkpoint_with_code_is_never_run(tmp_path: Path) -> None:
    folder = tmp_path / "evil-simcse"
    save_tiny_bert(folder)
    marker = tmp_path / "PICKLE_CODE_RAN"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (folder / "model.safetensors").unlink()
    torch.save({"state": Payload()}, folder / "pytorch_model.bin")
    entry = resolve(f"simcse-unsup:{folder}")  # a .bin passes the cheap checks: it is refused while loading
    with pytest.raises(EmbedderFileError, match=r"never loaded") as caught:
        entry.load()
    assert not marker.exists()
    assert str(folder) in str(caught.value)


def test_remote_code_runs_only_with_the_option(tmp_path: Path) -> None:
    marker = tmp_path / "REMOTE_CODE_RAN"
    folder = add_remote_code(save_tiny_llama(tmp_path / "custom-llm"), marker)
    environment = {"HF_MODULES_CACHE": str(tmp_path / "modules")}
    junit = tmp_path / "off.xml"
    args = ["evals/test_word_similarity.py", "-k", "wordsim353", f"--embedder=llm:{folder}", "-p", "no:xdist", "-rs"]
    off = run_pytest(*args, f"--junitxml={junit}", env=environment)
    assert "1 skipped" in off.stdout, off.stdout[-3000:]
    assert "runs only with --trust-remote-code" in off.stdout
    assert not marker.exists()
    on = run_pytest(*args, "--trust-remote-code", f"--junitxml={tmp_path / 'on.xml'}", env=environment)
    assert "skipped" not in on.stdout.splitlines()[-1], on.stdout[-3000:]
    assert marker.exists()
    assert "remote code trusted" in (tmp_path / "on.xml").read_text()


def test_trust_remote_code_is_documented_and_off_by_default() -> None:
    assert "--trust-remote-code" in run_pytest("--help").stdout
    from embedders import LoadOptions, llm, sentence

    assert llm.load_pretrained.__kwdefaults__["options"] == LoadOptions()  # the session's options decide
    assert LoadOptions().trust_remote_code is False
    assert sentence.open_sentence_transformer.__kwdefaults__["trust_remote_code"] is False


# -- vectors: NaN, inf and zero rows from a real static file, NaN from real corrupted transformer weights


def static_with(tmp_path: Path, rows: dict[str, str]):
    lines = [f"{word} {values}" for word, values in rows.items()]
    path = write(tmp_path / "vectors.txt", f"{len(lines)} 3\n" + "\n".join(lines) + "\n")
    return resolve(f"word2vec:{path}").load()


def pairs_dataset(pairs: list[tuple[str, str, float]]) -> WordPairs:
    info = DatasetInfo("toy-pairs", "-", "0", len(pairs))
    return WordPairs(info, [(a, b) for a, b, _ in pairs], np.array([score for *_, score in pairs]))


VECTOR_ROWS = {
    "cat": "1 0.1 0",
    "dog": "0.9 0.2 0",
    "car": "0 1 0.1",
    "truck": "0.1 0.9 0.1",
    "sun": "0.5 0.5 0.5",
    "moon": "0.4 0.5 0.6",
    "broken": "nan 1 1",
    "huge": "inf 0 0",
    "blank": "0 0 0",
}


def test_nan_inf_and_zero_vectors_are_counted_and_never_scored(tmp_path: Path) -> None:
    embedder = static_with(tmp_path, VECTOR_ROWS)
    good = [("cat", "dog", 9.0), ("car", "truck", 8.0), ("sun", "moon", 7.0), ("cat", "car", 1.0)]
    bad = [("cat", "broken", 5.0), ("huge", "dog", 4.0), ("blank", "car", 3.0), ("cat", "missing", 2.0)]
    with pytest.warns(NonFiniteVectors, match="2 of 10 vectors hold NaN or inf"):
        skipped = word_similarity(embedder, pairs_dataset(good + bad), oov="skip")
    assert skipped.protocol["inputs"] == {"total": 10, "not_embedded": 1, "non_finite": 2, "zero": 1, "truncated": 0}
    assert skipped.metrics["items_scored"] == 4 and np.isnan(skipped.items[4:]).all()
    assert np.isfinite(skipped.metrics["spearman"])
    with pytest.warns(NonFiniteVectors):
        zeroed = word_similarity(embedder, pairs_dataset(good + bad), oov="zero")
    assert zeroed.items[4:].tolist() == [0.0] * 4  # scored as unknown, as the policy says; never NaN or a cosine


@pytest.mark.parametrize("vocabulary", ["closed", "open"])
@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_broken_vectors_are_never_an_analogy_answer(tmp_path: Path, vocabulary: str, method: str) -> None:
    # Every honest candidate scores below zero for this question, so a zero or NaN row would win if allowed.
    rows = {"a": "1 0 0", "b": "-1 0 0.01", "c": "0 1 0", "d": "0 -1 0.01", "x": "-1 -1 0", "nan": "nan 0 0"}
    rows |= {"zero": "0 0 0"}
    embedder = static_with(tmp_path, rows)
    question = Analogy("a", "b", "c", ("d",), "toy")
    dataset = Analogies(DatasetInfo("toy", "-", "0", 1), [question])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteVectors)
        measured = analogy(embedder, dataset, method, vocabulary)
        from evals.tasks import analogy as module

        unit, usable = module.usable_unit_vectors(embedder.embed_words(list(rows)))
    predicted = module.solve(unit, np.array([[0, 1, 2]]), method, unusable=~usable)
    assert list(rows)[int(predicted[0])] not in {"nan", "zero"}
    assert measured.metrics["items_scored"] == 1
    if vocabulary == "open":
        assert measured.protocol["inputs"]["non_finite"] == 1 and measured.protocol["inputs"]["zero"] == 1


def test_nan_weights_in_a_real_llm_are_reported_not_scored(tmp_path: Path) -> None:
    folder = save_tiny_llama(tmp_path / "nan-llm", nan_weight=True)
    embedder = resolve(f"llm:{folder}").load()
    result = embedder.embed_words(["cat", "dog", "car", "truck"])
    assert result.found.all() and np.isnan(result.vectors).any()
    dataset = pairs_dataset([("cat", "dog", 9.0), ("car", "truck", 8.0), ("cat", "car", 1.0), ("dog", "truck", 2.0)])
    with pytest.warns(NonFiniteVectors), pytest.raises(ValueError, match="'non_finite': 4"):
        word_similarity(embedder, dataset)


def test_inputs_beyond_the_llm_context_are_marked_truncated(tmp_path: Path) -> None:
    embedder = resolve(f"llm:{save_tiny_llama(tmp_path / 'llm', context=16)}").load()
    long = " ".join(["the cat"] * 20)  # 40 tokens, the context is 16
    sentences = embedder.embed_sentences(["the cat", long, ""])
    assert sentences.found.tolist() == [True, True, False]
    assert sentences.truncated.tolist() == [False, True, False]
    early, late = WordInContext(long, 0, 3), WordInContext(long, len(long) - 3, len(long))
    context = embedder.embed_in_context([early, late])
    assert context.found.tolist() == [True, False]  # the cut word gets no vector, not a neighbour's
    assert context.truncated.tolist() == [True, True]


def test_inputs_beyond_an_encoder_context_are_marked_truncated(tmp_path: Path) -> None:
    save_tiny_bert(tmp_path / "tiny-unsup-simcse")
    simcse = resolve(f"simcse:{tmp_path / 'tiny-unsup-simcse'}").load()
    long = " ".join(["river bank"] * 100)  # 200 word pieces; this checkpoint has 64 positions (SimCSE's limit: 128)
    assert simcse.embed_sentences([long, "river bank", long]).truncated.tolist() == [True, False, True]
    entry = EMBEDDERS["sbert-minilm"]
    if entry.unavailable_reason():
        pytest.skip(entry.unavailable_reason())
    minilm = entry.load()
    try:
        result = minilm.embed_sentences(["a river bank", "river " * 300])  # max_seq_length 256
        assert result.truncated.tolist() == [False, True] and result.found.all()
    finally:
        minilm.close()


# -- fuzz: arbitrary bytes as the user's vectors file give an embedder, a usage error or a skip reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda rows: "\n".join(rows).encode(), st.lists(st.text(" 0123456789.-eanif\t", max_size=20))),
        st.builds(lambda body: b"3 4\n" + body, st.binary(max_size=200)),
        st.builds(lambda body: b"GGUF" + body, st.binary(max_size=200)),
    ),
    kind=st.sampled_from(["word2vec:{}.bin", "word2vec:{}.txt", "glove:{}.txt", "fasttext:{}.bin", "llm:{}.gguf"]),
)
def test_fuzz_vectors_files(tmp_path: Path, data: bytes, kind: str) -> None:
    spec = kind.format(tmp_path / "vectors")
    path = write(Path(spec.split(":", 1)[1]), data)
    try:
        entry = resolve(spec)
    except SpecError as error:
        assert str(error).startswith(f"--embedder {spec}: ")
        return
    if kind.startswith("llm"):
        return  # a GGUF that passes the header check is a real model: loading it is not for a fuzz loop
    try:
        embedder = entry.load()
    except EmbedderUnavailable as error:
        assert str(path) in str(error)
    else:
        assert embedder.embed_words(["x"]).vectors.shape[0] == 1


# -- not a regular file: refused when --embedder is parsed, never opened (a FIFO would block the session)


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def model_folder(folder: Path, fifo_name: str) -> Path:
    """A folder each folder kind would otherwise accept, with a FIFO where one of its files goes."""
    write(folder / "config.json", "{}")
    write(folder / "modules.json", "[]")
    write(folder / "vocab.txt", "[PAD]\n")
    save_file({"w": np.zeros(2, dtype=np.float32)}, folder / "model.safetensors")
    (folder / fifo_name).unlink(missing_ok=True)
    fifo(folder / fifo_name)
    return folder


NOT_REGULAR = [
    ("word2vec-fifo", lambda tmp: f"word2vec:{fifo(tmp / 'vectors.txt')}", "not a regular file"),
    ("word2vec-bin-fifo", lambda tmp: f"word2vec:{fifo(tmp / 'vectors.bin')}", "not a regular file"),
    ("glove-fifo", lambda tmp: f"glove:{fifo(tmp / 'glove.txt')}", "not a regular file"),
    ("glove-gz-fifo", lambda tmp: f"glove:{fifo(tmp / 'glove.txt.gz')}", "not a regular file"),
    ("fasttext-fifo", lambda tmp: f"fasttext:{fifo(tmp / 'cc.bin')}", "not a regular file"),
    ("llm-gguf-fifo", lambda tmp: f"llm:{fifo(tmp / 'model.gguf')}", "not a regular file"),
    ("glove-device", lambda tmp: "glove:/dev/zero", "not a regular file"),
    ("word2vec-device", lambda tmp: "word2vec:/dev/null", "not a regular file"),
    ("llm-device", lambda tmp: "llm:/dev/zero", "not a regular file"),
    ("llm-fifo-weights", lambda tmp: f"llm:{model_folder(tmp / 'llm', 'model-2.safetensors')}", "not a regular"),
    ("llm-fifo-config", lambda tmp: f"llm:{model_folder(tmp / 'llm', 'config.json')}", "not a regular file"),
    ("llm-fifo-tokenizer", lambda tmp: f"llm:{model_folder(tmp / 'llm', 'tokenizer.json')}", "not a regular"),
    ("sbert-fifo-weights", lambda tmp: f"sbert:{model_folder(tmp / 'sb', 'model.safetensors')}", "not a regular"),
    ("sbert-fifo-in-module", lambda tmp: f"sbert:{model_folder(tmp / 'sb', '1_Pooling')}", "not a regular"),
    ("simcse-fifo-tokenizer", lambda tmp: f"simcse:{model_folder(tmp / 'sc', 'tokenizer.json')}", "not a regular"),
    ("simcse-fifo-weights", lambda tmp: f"simcse-sup:{model_folder(tmp / 'sc', 'model.safetensors')}", "not a regu"),
]


@pytest.mark.parametrize(("make", "message"), [c[1:] for c in NOT_REGULAR], ids=[c[0] for c in NOT_REGULAR])
def test_not_a_regular_file_is_refused_unread(tmp_path: Path, make: Callable[[Path], str], message: str) -> None:
    spec = make(tmp_path)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            resolve(spec)
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    worker = threading.Thread(target=attempt, daemon=True)  # a FIFO opened for reading would block it forever
    worker.start()
    worker.join(timeout=60)
    assert outcome, f"resolve({spec!r}) blocked"
    assert isinstance(outcome[0], SpecError) and re.search(message, str(outcome[0])), outcome[0]
    assert str(outcome[0]).startswith(f"--embedder {spec}: ")


def test_a_folder_where_a_weights_file_is_expected(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "sb", "tokenizer.json")
    (folder / "tokenizer.json").unlink()
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").mkdir()
    with pytest.raises(SpecError, match=r"model\.safetensors is a folder where a file is expected"):
        resolve(f"sbert:{folder}")


def test_fifo_on_the_command_line_exits_4_without_blocking(tmp_path: Path) -> None:
    path = fifo(tmp_path / "glove.txt")
    result = run_pytest("evals/", "--collect-only", "-q", f"--embedder=glove:{path}")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "not a regular file" in result.stderr and "Traceback" not in result.stderr


# -- text vectors gensim would load only in part: exit 4 when the whole file is in the checked head, else a skip


def big_rows(count: int, prefix: str = "w") -> list[str]:
    return [f"{prefix}{index} 0.1 0.2 0.3" for index in range(count)]  # 9000 rows: about 110 KB, past the head


WHOLE_FILE = [
    ("word2vec-duplicate", "word2vec", "3 4\nthe 1 2 3 4\ncat 1 2 3 5\nthe 1 2 3 6\n", r":4: the word 'the' again"),
    ("glove-duplicate", "glove", "the 1 2 3\ncat 1 2 4\nthe 1 2 5\n", r":3: the word 'the' again \(first on line 1\)"),
    ("glove-tabs", "glove", "the\t1\t2\t3\ncat\t1\t2\t4\n", "separated by tabs"),
    ("glove-tab-after-word", "glove", "the\t1 2 3\ncat\t1 2 4\n", "separated by tabs"),
    ("word2vec-tabs", "word2vec", "2 3\nthe\t1\t2\t3\ncat\t1\t2\t4\n", "separated by tabs"),
    ("word2vec-more-rows", "word2vec", "2 3\nthe 1 2 3\ncat 1 2 4\ndog 1 2 5\n", "announces 2 vectors, the file has 3"),
    (
        "word2vec-fewer-rows",
        "word2vec",
        "4 3\nthe 1 2 3\ncat 1 2 4\ndog 1 2 5\n",
        "announces 4 vectors, the file has 3",
    ),
]


@pytest.mark.parametrize(("kind", "text", "message"), [c[1:] for c in WHOLE_FILE], ids=[c[0] for c in WHOLE_FILE])
def test_a_partial_load_is_refused_at_parse_time(tmp_path: Path, kind: str, text: str, message: str) -> None:
    path = write(tmp_path / "vectors.txt", text)
    with pytest.raises(SpecError, match=message) as caught:
        resolve(f"{kind}:{path}")
    assert str(path) in str(caught.value)


PAST_THE_HEAD = [
    ("glove-duplicate", "glove", [*big_rows(9000), "w3 0.1 0.2 0.4"], r":9001: the word 'w3' again"),
    ("word2vec-duplicate", "word2vec", ["9001 3", *big_rows(9000), "w3 0.1 0.2 0.4"], r":9002: the word 'w3' again"),
    (
        "word2vec-more-rows",
        "word2vec",
        ["8999 3", *big_rows(9000)],
        ": line 1 announces 8999 vectors, the file has 9000",
    ),
]


@pytest.mark.parametrize(("kind", "rows", "message"), [c[1:] for c in PAST_THE_HEAD], ids=[c[0] for c in PAST_THE_HEAD])
def test_a_partial_load_past_the_head_is_a_skip_naming_the_file(
    tmp_path: Path, kind: str, rows: list[str], message: str
) -> None:
    path = write(tmp_path / "vectors.txt", "\n".join(rows) + "\n")
    entry = resolve(f"{kind}:{path}")
    with pytest.raises(EmbedderFileError, match=f"{re.escape(str(path))}{message}"):
        entry.load()


def test_binary_word2vec_with_a_word_twice_is_a_skip(tmp_path: Path) -> None:
    record = b"".join(
        word + b" " + np.arange(4, dtype=np.float32).tobytes() + b"\n" for word in (b"the", b"cat", b"the")
    )
    path = write(tmp_path / "vectors.bin", b"3 4\n" + record)
    with pytest.raises(EmbedderFileError, match="a word appears more than once"):
        resolve(f"word2vec:{path}").load()


@pytest.mark.parametrize("kind", ["glove", "word2vec"])
def test_words_gensim_accepts_are_accepted(tmp_path: Path, kind: str) -> None:
    """gensim splits a vector line on single spaces only: a word may hold a non-breaking space."""
    rows = ["New\u00a0York 0.1 0.2 0.3", "the 1 2 3", "cat 1 2 4"]
    path = write(tmp_path / "vectors.txt", "\n".join(([] if kind == "glove" else ["3 3"]) + rows) + "\n")
    embedder = resolve(f"{kind}:{path}").load()
    gensim = KeyedVectors.load_word2vec_format(str(path), no_header=kind == "glove")
    assert embedder.vocabulary() == gensim.index_to_key == ["New\u00a0York", "the", "cat"]
    assert embedder.embed_words(["New\u00a0York"]).found.all()


@pytest.mark.parametrize("kind", ["glove", "word2vec"])
def test_truncated_gzip_vectors_are_a_skip_naming_the_file(tmp_path: Path, kind: str) -> None:
    rows = ([] if kind == "glove" else ["9000 3"]) + big_rows(9000)
    whole = gzip.compress(("\n".join(rows) + "\n").encode())
    path = write(tmp_path / "vectors.txt.gz", whole[: len(whole) * 3 // 4])  # the checked head still decompresses
    entry = resolve(f"{kind}:{path}")
    with pytest.raises(EmbedderFileError, match=re.escape(str(path))):
        entry.load()


def safetensors_bytes(header: dict[str, object], data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


DAMAGED_SAFETENSORS = [
    ("shape-too-big", {"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 16]}}, "does not fit its offsets"),
    ("dtype-wider", {"w": {"dtype": "F64", "shape": [4], "data_offsets": [0, 16]}}, "does not fit its offsets"),
    ("offsets-reversed", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, "does not fit its offsets"),
    ("shape-not-numbers", {"w": {"dtype": "F32", "shape": ["x"], "data_offsets": [0, 16]}}, "damaged safetensors"),
]


@pytest.mark.parametrize(
    ("header", "message"), [c[1:] for c in DAMAGED_SAFETENSORS], ids=[c[0] for c in DAMAGED_SAFETENSORS]
)
def test_safetensors_whose_header_does_not_fit_its_data(tmp_path: Path, header: dict, message: str) -> None:
    folder = model_folder(tmp_path / "llm", "unused")
    (folder / "unused").unlink()
    write(folder / "model.safetensors", safetensors_bytes(header, bytes(16)))
    with pytest.raises(SpecError, match=message) as caught:
        resolve(f"llm:{folder}")
    assert "model.safetensors" in str(caught.value)


# -- binary word2vec with bytes after the announced vectors: gensim would read the announced ones only


def test_binary_word2vec_with_bytes_after_the_announced_vectors(tmp_path: Path) -> None:
    whole = binary_word2vec(tmp_path / "whole.bin").read_bytes()
    assert resolve(f"word2vec:{tmp_path / 'whole.bin'}").load().vocabulary() == ["the", "cat", "dog"]
    small = write(tmp_path / "small.bin", b"2" + whole[1:])  # the header counts 2 of its 3 records
    with pytest.raises(SpecError, match="announces 2 binary vectors of 4 floats, but bytes follow") as caught:
        resolve(f"word2vec:{small}")
    assert str(small) in str(caught.value)
    vectors = KeyedVectors(vector_size=50)
    vectors.add_vectors([f"w{index}" for index in range(400)], np.ones((400, 50), dtype=np.float32))
    vectors.save_word2vec_format(str(tmp_path / "big.bin"), binary=True)  # 82 KB: past the checked head
    big = write(tmp_path / "big-extra.bin", (tmp_path / "big.bin").read_bytes().replace(b"400 50", b"399 50", 1))
    entry = resolve(f"word2vec:{big}")
    with pytest.raises(EmbedderFileError, match=f"{re.escape(str(big))}: line 1 announces 399 binary vectors"):
        entry.load()
    assert len(resolve(f"word2vec:{tmp_path / 'big.bin'}").load().vocabulary()) == 400


# -- model folders whose tokenizer is broken or whose config disagrees with the weights: exit 4 at parse time


def edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(config | changes))


def cut_file(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def sbert_folder(folder: Path) -> Path:
    """A real sentence-transformers folder around the tiny BERT: modules.json, 0_Transformer/, 1_Pooling/."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    save_tiny_bert(folder / "bert")
    transformer = Transformer(str(folder / "bert"))
    pooling = Pooling(transformer.get_embedding_dimension())
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder / "model"))
    return folder / "model"


def transformer_module(folder: Path) -> Path:
    modules = json.loads((folder / "modules.json").read_text())
    return folder / next(entry["path"] for entry in modules if entry["type"].endswith(".Transformer"))


MODEL_FOLDERS = [
    ("llm-tokenizer-not-json", "llm", lambda f: write(f / "tokenizer.json", "<html>"), r"tokenizer\.json is not valid"),
    ("llm-tokenizer-truncated", "llm", lambda f: cut_file(f / "tokenizer.json"), r"tokenizer\.json is not valid JSON"),
    (
        "llm-tokenizer-wrong-schema",
        "llm",
        lambda f: write(f / "tokenizer.json", '{"model": {"type": "WordLevel"}}'),
        r"tokenizer\.json is not a tokenizers file",
    ),
    ("llm-tokenizer-missing", "llm", lambda f: (f / "tokenizer.json").unlink(), "has no tokenizer"),
    (
        "llm-tokenizer-config-cut",
        "llm",
        lambda f: cut_file(f / "tokenizer_config.json"),
        r"tokenizer_config\.json is not valid JSON",
    ),
    (
        "simcse-vocab-missing",
        "simcse",
        lambda f: [(f / name).unlink() for name in ("vocab.txt", "tokenizer.json")],
        "has no tokenizer",
    ),
    (
        "simcse-merges-missing",
        "simcse",
        lambda f: [(f / "tokenizer.json").unlink(), (f / "vocab.txt").unlink(), write(f / "vocab.json", "{}")],
        r"has vocab\.json but not merges\.txt",
    ),
    ("simcse-vocab-empty", "simcse", lambda f: [(f / "tokenizer.json").unlink(), write(f / "vocab.txt", "")], "empty"),
    ("sbert-tokenizer-cut", "sbert", lambda f: cut_file(transformer_module(f) / "tokenizer.json"), "not valid JSON"),
    ("sbert-modules-not-json", "sbert", lambda f: write(f / "modules.json", "[{"), r"modules\.json is not valid JSON"),
    (
        "llm-config-vocab-size",
        "llm",
        lambda f: edit_config(f, vocab_size=30),
        r"says vocab_size 30 and hidden_size 16, but the weights' model\.embed_tokens\.weight has shape \[21, 16\]",
    ),
    ("llm-config-hidden-size", "llm", lambda f: edit_config(f, hidden_size=32), "hidden_size 32, but the weights'"),
    (
        "llm-config-more-layers",
        "llm",
        lambda f: edit_config(f, num_hidden_layers=3),
        "says num_hidden_layers 3, but the weights hold layers 0-1",
    ),
    (
        "llm-config-fewer-layers",
        "llm",
        lambda f: edit_config(f, num_hidden_layers=1),
        "says num_hidden_layers 1, but the weights hold layers 0-1",
    ),
    ("simcse-config-layers", "simcse", lambda f: edit_config(f, num_hidden_layers=4), "num_hidden_layers 4"),
    (
        "sbert-config-vocab-size",
        "sbert",
        lambda f: edit_config(transformer_module(f), vocab_size=99),
        r"embeddings\.word_embeddings\.weight has shape",
    ),
]


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    save_tiny_bert(root / "simcse")
    return {"llm": save_tiny_llama(root / "llm"), "simcse": root / "simcse", "sbert": sbert_folder(root / "sbert")}


@pytest.mark.parametrize(
    ("kind", "damage", "message"), [c[1:] for c in MODEL_FOLDERS], ids=[c[0] for c in MODEL_FOLDERS]
)
def test_model_folder_tokenizer_and_config_are_checked_at_parse_time(
    tiny_folders: dict[str, Path], tmp_path: Path, kind: str, damage: Callable[[Path], object], message: str
) -> None:
    folder = tmp_path / kind
    shutil.copytree(tiny_folders[kind], folder)
    resolve(f"{kind}:{folder}")  # the undamaged copy passes
    damage(folder)
    with pytest.raises(SpecError, match=message) as caught:
        resolve(f"{kind}:{folder}")
    assert str(folder) in str(caught.value)


def test_config_not_matching_the_weights_on_the_command_line_exits_4(
    tiny_folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "llm"
    shutil.copytree(tiny_folders["llm"], folder)
    edit_config(folder, num_hidden_layers=3)
    result = run_pytest("evals/", "--collect-only", "-q", "--embedder", f"llm:{folder}")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    assert "num_hidden_layers 3" in result.stderr and "Traceback" not in result.stderr
