"""The ledger survives a killed writer; history across ledgers finds verdict flips; the summary fits 100 columns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.dashboard import build_dashboard, flips, history
from harness.ledger import LedgerError, LedgerWriter, read_ledger
from harness.summary import WIDTH, claims_table, short_comparison, short_name

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-never-write-this-0123456789"


def claim_record(claim: str, comparison: str, verdict: str, effect: float, expected: str = "confirmed") -> dict:
    subject, reference = comparison.split(" vs ")
    return {
        "kind": "claim",
        "claim": claim,
        "comparison": comparison,
        "metric": "random-pair-similarity",
        "params": {},
        "margin": 0.0,
        "subject": {"name": subject, "family": "llm", "parameters": 135_000_000, "score": 0.5 + effect},
        "reference": {"name": reference, "family": "static", "parameters": None, "score": 0.5},
        "effect": effect,
        "low": effect - 0.05,
        "high": effect + 0.05,
        "adjusted_p": 0.001,
        "verdict": verdict,
        "expected": expected,
    }


def write_ledger(path: Path, started: str, records: list[dict]) -> Path:
    writer = LedgerWriter(path)
    for record in [{"kind": "session", "started": started}, *records, {"kind": "footer", "claims": len(records)}]:
        writer.write(record)
    writer.close()
    return path


def test_history_of_three_ledgers_finds_the_verdict_flip(tmp_path: Path) -> None:
    steady = "smollm2-135m vs glove-6b-50d"
    flipping = "smollm2-135m vs sbert-minilm"
    runs = [
        ("2026-11-01T02:00:00+00:00", "confirmed", 0.20),
        ("2026-11-02T02:00:00+00:00", "confirmed", 0.15),
        ("2026-11-03T02:00:00+00:00", "refuted", -0.12),
    ]
    paths = [
        write_ledger(
            tmp_path / f"{started[:10]}.jsonl",
            started,
            [claim_record("D1", steady, "confirmed", 0.3), claim_record("D1", flipping, verdict, effect)],
        )
        for started, verdict, effect in runs
    ]
    ledgers = [read_ledger(p) for p in reversed(paths)]  # the order given does not matter: sorted by start
    series = history(ledgers)
    assert [p.verdict for p in series[("D1", flipping)]] == ["confirmed", "confirmed", "refuted"]
    found = flips(series)
    assert [(f.claim, f.comparison, f.before.verdict, f.after.verdict) for f in found] == [
        ("D1", flipping, "confirmed", "refuted")
    ]
    assert (found[0].before.started, found[0].after.started) == (runs[1][0], runs[2][0])
    page = (build_dashboard(ledgers[0], ledgers[1:], tmp_path / "dash") / "index.html").read_text()
    flip_table = page.split('<table id="flips">', 1)[1].split("</table>", 1)[0]
    assert flipping in flip_table and steady not in flip_table


def test_a_truncated_last_line_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = write_ledger(tmp_path / "l.jsonl", "2026-11-01", [claim_record("D1", "a vs b", "confirmed", 0.1)])
    complete = path.read_text()
    path.write_text(complete + '{"kind": "claim", "claim": "D')
    ledger = read_ledger(path)
    assert [r["kind"] for r in ledger.records] == ["session", "claim", "footer"]
    assert any("incomplete" in p and ":4:" in p for p in ledger.problems)
    path.write_text('{"kind": "session"}\nnot json\n' + complete)
    with pytest.raises(LedgerError, match=r"l\.jsonl:2: not a JSON record"):
        read_ledger(path)


def test_a_session_killed_half_way_leaves_a_readable_ledger(tmp_path: Path) -> None:
    """A real eval session, SIGKILLed once its ledger holds a measurement: every complete record reads."""
    folder = tmp_path / "ledger"
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OPENAI_API_KEY": SECRET,  # present in the environment, never in the ledger
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "evals/test_word_similarity.py",
        "evals/test_analogy.py",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-q",
        "--embedder",
        "glove-6b-50d",
        f"--ledger-dir={folder}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            files = list(folder.glob("*.jsonl"))
            if files and files[0].read_text().count('"kind": "measurement"') >= 2:
                break
            time.sleep(0.05)
        assert process.poll() is None, f"the session ended before it could be killed: {process.stderr.read()!r}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    (path,) = folder.glob("*.jsonl")
    text = path.read_text()
    ledger = read_ledger(path)
    complete_lines = text.count("\n")
    assert len(ledger.records) == complete_lines
    assert ledger.records[0]["kind"] == "session" and ledger.footer is None
    assert any("no footer" in p for p in ledger.problems)
    measurements = ledger.of_kind("measurement")
    assert len(measurements) >= 2 and all(m["embedder"]["name"] == "glove-6b-50d" for m in measurements)
    assert ledger.of_kind("embedder")[0]["fingerprint"] == measurements[0]["embedder"]["fingerprint"]
    assert SECRET not in text


def test_the_session_header_records_the_environment(tmp_path: Path) -> None:
    from harness.ledger import environment

    env = environment()
    assert env["packages"]["numpy"] and env["packages"]["gensim"]
    assert len(env["suite"]["commit"] or "") == 40 and isinstance(env["suite"]["dirty"], bool)
    assert env["machine"]["cpu_count"] >= 1


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/:.", min_size=1, max_size=90)


@given(NAMES, NAMES, st.one_of(st.none(), NAMES))
def test_comparisons_are_shortened_to_fit(subject: str, reference: str, anchor: str | None) -> None:
    record = claim_record("D2-morphological", "a vs b", "refuted", -0.123456)
    record["subject"]["name"], record["reference"]["name"] = subject, reference
    record["comparison"] = f"{subject} vs {reference}" + (f" (anchor {anchor})" if anchor else "")
    if anchor:
        record["anchor"] = {"name": anchor}
    assert len(short_comparison(record)) <= 43
    assert all(len(line) <= WIDTH for line in claims_table([record]))


def test_short_names_keep_what_tells_them_apart() -> None:
    assert short_name("glove-6b-50d", 20) == "glove-6b-50d"
    assert short_name("llm:/models/meta/Llama-2-7b-hf/", 30) == "llm:Llama-2-7b-hf"
    long = short_name("simcse-unsup-roberta-large-with-a-very-long-suffix", 21)
    assert len(long) == 21 and long == "simcse-uns…ong-suffix"


def test_an_unreadable_earlier_ledger_is_named_not_fatal(tmp_path: Path) -> None:
    from harness.ledger_plugin import _readable

    good = read_ledger(write_ledger(tmp_path / "b.jsonl", "2026-11-02", [claim_record("D1", "a vs b", "refuted", -1)]))
    (tmp_path / "a.jsonl").write_text("garbage\n{}\n")
    page = (build_dashboard(good, [_readable(tmp_path / "a.jsonl")], tmp_path / "d") / "index.html").read_text()
    assert "left out of the history" in page and "a.jsonl:1" in page


def test_the_dashboard_command_builds_from_ledgers_without_tests(tmp_path: Path, capsys) -> None:
    from harness.dashboard import main

    folder = tmp_path / "history"
    for day, verdict in ((1, "confirmed"), (2, "refuted")):
        write_ledger(folder / f"2026-11-0{day}.jsonl", f"2026-11-0{day}", [claim_record("D1", "a vs b", verdict, 0)])
    assert main([str(folder / "2026-11-02.jsonl"), "--history", str(folder), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "index.html").read_text()
    assert 'data-claim="D1"' in page and '<table id="flips">' in page
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    assert main([str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "out2")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from harness.ledger import LedgerWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))  # a disk that is full after 5000 bytes
writer = LedgerWriter(Path(sys.argv[1]))
written = 0
try:
    while True:
        writer.write({"kind": "measurement", "index": written, "padding": "x" * 300})
        written += 1
except OSError as error:
    print(written, error.errno, flush=True)
"""


def test_a_full_disk_leaves_only_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path)], env=environment, capture_output=True, text=True
    )
    assert result.returncode == 0 and len(result.stdout.split()) == 2, result.stdout + result.stderr[-2000:]
    written, _ = map(int, result.stdout.split())
    assert 0 < written < 5000 // 300
    ledger = read_ledger(path)
    assert [p for p in ledger.problems if "no footer" not in p] == []  # no cut-off line, only the missing footer
    assert [r["index"] for r in ledger.records] == list(range(written))
    assert path.read_bytes().endswith(b"\n")  # the line cut off by the full disk was removed again


def test_a_ledger_that_cannot_be_written_is_said_and_fails_the_run(tmp_path: Path) -> None:
    folder = tmp_path / "ledger"
    # the folder is fine when the options are read and gone (a file in its place) when the first record comes
    plugin = tmp_path / "saboteur.py"
    plugin.write_text(
        "import shutil\n"
        "def pytest_collection_finish(session):\n"
        f"    shutil.rmtree({str(folder)!r}, ignore_errors=True)\n"
        f"    open({str(folder)!r}, 'w').close()\n"
    )
    folder.mkdir()
    command = [
        sys.executable, "-m", "pytest", "evals/test_word_similarity.py", "-k", "wordsim353",
        "--embedder=glove-6b-50d", f"--ledger-dir={folder}", "-p", "no:xdist", "-p", "no:cacheprovider",
        "-p", "saboteur", "--cache=off",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert "1 passed" in result.stdout, result.stdout[-3000:]
    assert "ledger NOT written: cannot create" in result.stdout
    assert result.returncode == 1 and "INTERNALERROR" not in result.stdout
