"""The ledger survives a killed writer; history across ledgers (formats 1 to 3) finds verdict flips; the dashboard
colours by agreement with the paper and marks changes against the baseline apart; the summary fits 100 columns."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.records import (
    DEVIATION_ASPECTS,
    VERSION,
    ClaimRecord,
    CorrectionFamily,
    Deviation,
    EmbedderRecord,
    MeasurementRecord,
    SideRecord,
    StatisticsRecord,
    Verdict,
)
from ledger.dashboard import build_dashboard, flips, history
from ledger.file import LEDGER_FORMAT, LedgerError, LedgerWriter, clean, read_ledger
from ledger.summary import WIDTH, claim_lines, claims_table, paper_lines, scale_table, short_comparison, short_name

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-never-write-this-0123456789"


PAPER_MODEL = {"llama2-7b": "LLaMA-2 7B", "glove-6b-50d": "GloVe", "sbert-minilm": "SBERT (all-MiniLM-L6-v2)"}


def embedder(name: str) -> EmbedderRecord:
    """An embedder as the registry describes it; the paper's own models carry ``paper_model``."""
    family = "static" if name.startswith("glove") else "sentence-encoder" if name.startswith("sbert") else "llm"
    parameters = {"llama2-7b": 6_738_000_000, "smollm2-135m": 135_000_000, "gemma3-270m": 268_000_000}.get(name)
    return EmbedderRecord(name, family, parameters, paper_model=PAPER_MODEL.get(name), fingerprint=f"fp-{name}")


def claim_record(
    claim: str, comparison: str, verdict: str | None, effect: float, expected: str = "confirmed"
) -> ClaimRecord:
    """One comparison as a test reports it (verdict None: skipped). Its embedders are the paper's own models when
    every one of them is in PAPER_MODEL (llama2-7b vs glove-6b-50d), proxies otherwise."""
    subject, reference = comparison.split(" vs ")
    return ClaimRecord(
        claim=claim,
        statement=f"the statement of {claim}",
        section="decontextualized",
        paper=not claim.startswith("S-"),
        metric="random-pair-similarity",
        params={},
        direction="greater",
        margin=0.0,
        comparison=comparison,
        subject=SideRecord(embedder(subject), score=0.5 + effect),
        reference=SideRecord(embedder(reference), score=0.5),
        anchor=None,
        expected=Verdict(expected),
        expected_why="the paper's claim" if expected == "confirmed" else f"measured here: {expected} at 135M",
        correction_family=CorrectionFamily(claim, size=4, in_session=2, measured=2),
        statistics=StatisticsRecord(test="paired bootstrap", unit="random word pairs", units=1000, resamples=2000),
        verdict=Verdict(verdict) if verdict else None,
        skipped=None if verdict else "embedder not available here",
        effect=effect if verdict else None,
        low=effect - 0.05 if verdict else None,
        high=effect + 0.05 if verdict else None,
        p_value=0.0005 if verdict else None,
        adjusted_p=0.001 if verdict else None,
        items=1000 if verdict else None,
        dataset={"dataset": "wordnet-random-pairs", "sha256": "ab" * 32},
    )


def line(record: ClaimRecord) -> dict:
    return {"record": "claim", **record.to_json()}


def claim_record_v1(claim: str, comparison: str, verdict: str, effect: float, expected: str = "confirmed") -> dict:
    """A claim line as format 1 ledgers wrote it: a string-keyed dict, one Holm family over the whole session."""
    subject, reference = comparison.split(" vs ")
    return {
        "kind": "claim",
        "claim": claim,
        "statement": f"the statement of {claim}",
        "section": "decontextualized",
        "comparison": comparison,
        "metric": "random-pair-similarity",
        "params": {},
        "direction": "greater",
        "margin": 0.0,
        "subject": {"name": subject, "family": "llm", "parameters": 135_000_000, "score": 0.5 + effect},
        "reference": {"name": reference, "family": "static", "parameters": None, "score": 0.5},
        "effect": effect,
        "low": effect - 0.05,
        "high": effect + 0.05,
        "p_value": 0.0005,
        "adjusted_p": 0.001,
        "verdict": verdict,
        "expected": expected,
        "expected_why": "the paper's claim",
        "statistics": {"alpha": 0.05, "family_size": 96, "resamples": 2000, "seed": 20240217},
    }


def as_format(record: dict, version: int) -> dict:
    """A line as a ledger of that format wrote it: its type in ``kind`` before format 3, in ``record`` since."""
    name = record.get("record", record.get("kind"))
    rest = {k: v for k, v in record.items() if k not in ("record", "kind")}
    return {("kind" if version < 3 else "record"): name, **rest}


def write_ledger(path: Path, started: str, records: list[ClaimRecord | dict], version: int = LEDGER_FORMAT) -> Path:
    """A finished session: header, claim lines, footer, each as ledgers of that format wrote them."""
    lines = [r if isinstance(r, dict) else line(r) for r in records]
    footer: dict = {"record": "footer", "claims": len(records)}
    if version == 1:
        footer["holm_family_size"] = 96
    else:
        footer["correction_families"] = {r["claim"]: {"size": 4, "in_session": 2} for r in lines}
    writer = LedgerWriter(path)
    for record in [{"record": "session", "started": started, "format": version}, *lines, footer]:
        writer.write(as_format(record, version))
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


def test_history_mixes_format_1_and_current_ledgers(tmp_path: Path) -> None:
    """A nightly folder that spans the format changes: flips are found across it, and each session's page names
    the correction it used (format 1: one Holm family over the session; format 2 and later: one per claim)."""
    from ledger.dashboard import main

    comparison = "smollm2-135m vs glove-6b-50d"
    old = write_ledger(
        tmp_path / "2026-11-01.jsonl",
        "2026-11-01T02:00:00+00:00",
        [
            claim_record_v1("D1", comparison, "confirmed", 0.2),
            claim_record_v1("D3", comparison, "refuted", -0.2, expected="refuted"),
        ],
        version=1,
    )
    new = write_ledger(
        tmp_path / "2026-11-02.jsonl",
        "2026-11-02T02:00:00+00:00",
        [
            claim_record("D1", comparison, "refuted", -0.1),
            claim_record("D3", comparison, "refuted", -0.25, expected="refuted"),
        ],
    )
    ledgers = [read_ledger(new), read_ledger(old)]
    assert [(c.version, c.correction_family.size) for c in ledgers[1].claims()] == [(1, 96), (1, 96)]
    series = history(ledgers)
    assert [(p.ledger, p.verdict, p.agreement) for p in series[("D1", comparison)]] == [
        ("2026-11-01.jsonl", "confirmed", "agrees"),
        ("2026-11-02.jsonl", "refuted", "disagrees"),
    ]
    assert [(f.claim, f.before.verdict, f.after.verdict) for f in flips(series)] == [("D1", "confirmed", "refuted")]
    page = (build_dashboard(ledgers[0], ledgers[1:], tmp_path / "new") / "index.html").read_text()
    flip_table = page.split('<table id="flips">', 1)[1].split("</table>", 1)[0]
    assert "<td>D1</td>" in flip_table and "<td>D3</td>" not in flip_table
    assert "D1: m = 4, 2 in this session; D3: m = 4, 2 in this session" in page
    old_page = (build_dashboard(ledgers[1], ledgers[:1], tmp_path / "old") / "index.html").read_text()
    assert "one family, the whole session: m = 96 (ledger format 1)" in old_page
    assert "Holm p (family session, m = 96)" in old_page and '<table id="flips">' in old_page
    assert main([str(new), "--history", str(tmp_path), "--out", str(tmp_path / "command")]) == 0
    assert '<table id="flips">' in (tmp_path / "command" / "index.html").read_text()


class PageParts(HTMLParser):
    """The matrix cells (by claim and comparison) and the agreement bars of a dashboard page, with attributes."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], dict[str, str]] = {}
        self.bars: list[dict[str, str]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        classes = found.get("class", "").split()
        if tag == "td" and "cell" in classes:
            self.cells[(found["data-claim"], found["data-comparison"])] = found
        elif tag == "svg" and "bar" in classes:
            self.bars.append(found)


def dashboard_of(tmp_path: Path, records: list[ClaimRecord]) -> str:
    ledger = read_ledger(write_ledger(tmp_path / "session.jsonl", "2026-11-03T02:00:00+00:00", records))
    return (build_dashboard(ledger, [], tmp_path / "dashboard") / "index.html").read_text()


def test_the_matrix_is_coloured_by_agreement_and_marks_a_changed_verdict_apart(tmp_path: Path) -> None:
    pair = "smollm2-135m vs glove-6b-50d"
    records = [
        claim_record("D1", pair, "confirmed", 0.3),
        claim_record("D2", pair, "refuted", -0.3, expected="refuted"),  # a recorded disagreement, as recorded
        claim_record("D3", pair, "refuted", -0.3),
        claim_record("D4", pair, "inconclusive", 0.01, expected="refuted"),
        claim_record("S-related", pair, "refuted", -0.2),  # beyond the paper: no agreement to colour by
        claim_record("D5", pair, None, 0.0),
        claim_record("D6", "<script>alert(1)</script> vs glove-6b-50d", "confirmed", 0.1),
    ]
    page = dashboard_of(tmp_path, records)
    cells = PageParts(page).cells
    shown = {
        claim: (set(cell["class"].split()) - {"cell"}, cell["data-agreement"], cell["data-baseline"])
        for (claim, comparison), cell in cells.items()
        if comparison == pair
    }
    assert shown == {
        "D1": ({"t-agrees"}, "agrees", "as recorded"),
        "D2": ({"t-disagrees"}, "disagrees", "as recorded"),
        "D3": ({"t-disagrees", "changed"}, "disagrees", "changed"),
        "D4": ({"t-undecided", "changed"}, "undecided", "changed"),
        "S-related": ({"t-beyond-refuted", "changed"}, "beyond the paper", "changed"),
        "D5": ({"t-not-measured"}, "not measured", "not measured"),
    }
    assert [cells[(c, pair)]["data-verdict"] for c in ("D1", "D4", "D5")] == ["confirmed", "inconclusive", "skipped"]
    assert "changed: recorded confirmed, observed refuted" in cells[("D3", pair)]["title"]
    assert "changed" not in cells[("D2", pair)]["title"]
    assert ".t-agrees{background:#1a7f37}" in page and ".t-disagrees{background:#cf222e}" in page
    assert 'id="only-unexpected"' in page and "td.changed" in page.split("<script>", 1)[1]
    # the detail table says what its numbers are and why a verdict is the recorded one
    for header in ("95% interval (not adjusted)", "Holm p (family D1, m = 4)", "resampling unit", "baseline"):
        assert f"<th>{header}</th>" in page
    assert "recorded refuted: measured here: refuted at 135M" in page
    assert "paper agreement: of 5 comparisons, 2 agree, 2 disagree, 1 undecided" in page
    assert "NOT adjusted for the correction family" in page
    # every text is escaped (the only script on the page is the dashboard's own) and nothing is fetched
    assert page.count("<script") == 1 and "&lt;script&gt;alert(1)" in page
    assert not re.search(r'\b(src|href)="(?!#)', page)


COUNTED = {"agrees", "disagrees", "undecided", "beyond-confirmed", "beyond-refuted", "beyond-inconclusive"}


def test_the_agreement_bars_count_the_papers_own_models_apart_from_proxies(tmp_path: Path) -> None:
    records = [
        claim_record("D1", "llama2-7b vs glove-6b-50d", "confirmed", 0.3),
        claim_record("D1", "smollm2-135m vs glove-6b-50d", "refuted", -0.2),
        claim_record("D1", "smollm2-135m vs sbert-minilm", "inconclusive", 0.01),
        claim_record("D1", "gemma3-270m vs glove-6b-50d", None, 0.0),  # not measured: in no bar
        claim_record("D2", "smollm2-135m vs glove-6b-50d", "refuted", -0.2, expected="refuted"),
        claim_record("S-related", "gemma3-270m vs smollm2-135m", "confirmed", 0.1),
    ]
    assert [r.on_paper_models for r in records] == [True, False, False, False, False, False]
    parts = PageParts(dashboard_of(tmp_path / "mixed", records))
    bars = {
        (bar["data-claim"], bar["data-models"]): {k[5:]: int(v) for k, v in bar.items() if k[5:] in COUNTED}
        for bar in parts.bars
    }
    assert bars == {
        ("D1", "paper"): {"agrees": 1, "disagrees": 0, "undecided": 0},
        ("D1", "proxies"): {"agrees": 0, "disagrees": 1, "undecided": 1},
        ("D2", "proxies"): {"agrees": 0, "disagrees": 1, "undecided": 0},
        ("S-related", "beyond"): {"beyond-confirmed": 1, "beyond-refuted": 0, "beyond-inconclusive": 0},
    }
    assert parts.cells[("D1", "llama2-7b vs glove-6b-50d")]["data-models"] == "paper"
    page = html.unescape((tmp_path / "mixed" / "dashboard" / "index.html").read_text())
    table = page.split('<table id="agreement">', 1)[1].split("</table>", 1)[0]
    assert "none on the paper's own models" in table  # D2 has no comparison on them
    assert "on the paper's own models: 1 agree, 0 disagree, 0 undecided" in page
    proxies_only = html.unescape(dashboard_of(tmp_path / "proxies", records[1:]))
    assert "no comparison on the paper's own models in this session" in proxies_only
    assert 'data-models="paper"' not in proxies_only


def test_a_format_2_ledger_still_reads_and_a_new_one_is_format_3(
    tmp_path: Path, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Format 2 named each line's type ``kind``; it reads as ``record``, so old ledgers stay in the history."""
    from harness.ledger_plugin import LedgerRecorder

    glove = embedder("glove-6b-50d")
    measurement = MeasurementRecord(
        "wordsim353", "word-similarity", "spearman", glove, {"dataset": "wordsim353", "sha256": "cd" * 32}, {},
        {"spearman": 0.5033}, test="evals/test_word_similarity.py::t", outcome="passed",
    )  # fmt: skip
    claim = claim_record("D1", "smollm2-135m vs glove-6b-50d", "confirmed", 0.3)
    old = tmp_path / "2026-11-28.jsonl"
    writer = LedgerWriter(old)
    for record in (
        {"kind": "session", "started": "2026-11-28T02:00:00+00:00", "format": 2},
        {"kind": "embedder", **glove.to_json()},
        {"kind": "measurement", **measurement.to_json()},
        {"kind": "claim", **claim.to_json()},
        {"kind": "footer", "claims": 1, "correction_families": {"D1": {"size": 4, "in_session": 1}}},
    ):
        writer.write(record)
    writer.close()
    ledger = read_ledger(old)
    assert ledger.problems == [] and all("kind" not in r for r in ledger.records)
    assert (ledger.header["format"], ledger.started) == (2, "2026-11-28T02:00:00+00:00")
    assert ledger.footer is not None and ledger.footer["claims"] == 1
    assert ledger.claims() == [claim] and ledger.measurements() == [measurement]
    assert [EmbedderRecord.from_json(r) for r in ledger.of_record("embedder")] == [glove]
    page = (build_dashboard(ledger, [], tmp_path / "dash") / "index.html").read_text()
    assert "(format 2)" in page and "D1: m = 4, 1 in this session" in page

    # a new ledger, written by the session's recorder
    monkeypatch.setattr(pytestconfig.option, "ledger_dir", tmp_path / "new")
    monkeypatch.setattr(pytestconfig.option, "no_ledger", False)
    recorder = LedgerRecorder(pytestconfig)
    recorder.open()
    recorder.embedder_seen(glove)
    assert recorder.writer is not None
    recorder.writer.close()
    (path,) = (tmp_path / "new").glob("*.jsonl")
    lines = [json.loads(text) for text in path.read_text().splitlines()]
    assert [r["record"] for r in lines] == ["session", "embedder"] and not any("kind" in r for r in lines)
    assert lines[0]["format"] == LEDGER_FORMAT == 3
    assert read_ledger(path).records == lines


def test_a_line_without_its_formats_field_is_named(tmp_path: Path) -> None:
    """Which field names a line's type is the header's format's, never guessed line by line."""
    path = tmp_path / "l.jsonl"
    cases = [
        (
            '{"format": 2, "kind": "session"}\n{"record": "claim"}\n',
            r"l\.jsonl:2: a record of a format 2 ledger .* 'kind'",
        ),
        ('{"format": 3, "record": "session"}\n{"kind": "claim"}\n', r"l\.jsonl:2: a ledger record .* 'record'"),
        ('{"record": "session"}\n', r"l\.jsonl:1: a record of a format 1 ledger is a JSON object with a 'kind'"),
        ('{"format": 4, "record": "session"}\n', r"l\.jsonl:1: format = 4: a ledger format is an integer from 1 to 3"),
        ('{"format": "3", "record": "session"}\n', r"l\.jsonl:1: format = '3'"),
        ("[]\n", r"l\.jsonl:1: a ledger record is a JSON object with a 'record'"),
    ]
    for text, message in cases:
        path.write_text(text)
        with pytest.raises(LedgerError, match=message):
            read_ledger(path)


def test_a_truncated_last_line_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    path = write_ledger(tmp_path / "l.jsonl", "2026-11-01", [claim_record("D1", "a vs b", "confirmed", 0.1)])
    complete = path.read_text()
    path.write_text(complete + '{"record": "claim", "claim": "D')
    ledger = read_ledger(path)
    assert [r["record"] for r in ledger.records] == ["session", "claim", "footer"]
    assert any("incomplete" in p and ":4:" in p for p in ledger.problems)
    path.write_text('{"format": 3, "record": "session"}\nnot json\n' + complete)
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
            if files and files[0].read_text().count('"record": "measurement"') >= 2:
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
    assert ledger.records[0]["record"] == "session" and ledger.header["format"] == LEDGER_FORMAT == 3
    lines = [json.loads(line) for line in text.splitlines()[:complete_lines]]
    assert all("record" in r and "kind" not in r for r in lines)  # format 3 names each line's type "record" only
    assert ledger.footer is None
    assert any("no footer" in p for p in ledger.problems)
    measurements = ledger.measurements()
    assert len(measurements) >= 2 and all(m.embedder.name == "glove-6b-50d" for m in measurements)
    assert EmbedderRecord.from_json(ledger.of_record("embedder")[0]).fingerprint == measurements[0].embedder.fingerprint
    assert SECRET not in text


def test_the_session_header_records_the_environment(tmp_path: Path) -> None:
    from ledger.file import environment

    env = environment()
    assert env["packages"]["numpy"] and env["packages"]["gensim"]
    assert len(env["suite"]["commit"] or "") == 40 and isinstance(env["suite"]["dirty"], bool)
    assert env["machine"]["cpu_count"] >= 1


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_/:.", min_size=1, max_size=90)


@given(NAMES, NAMES, st.one_of(st.none(), NAMES))
def test_comparisons_are_shortened_to_fit(subject: str, reference: str, anchor: str | None) -> None:
    record = claim_record("D2-morphological", "a vs b", "refuted", -0.123456)
    record = replace(
        record,
        comparison=f"{subject} vs {reference}" + (f" (anchor {anchor})" if anchor else ""),
        subject=replace(record.subject, embedder=EmbedderRecord(subject, "llm", 135_000_000)),
        reference=replace(record.reference, embedder=EmbedderRecord(reference, "static")),
        anchor=EmbedderRecord(anchor, "llm") if anchor else None,
    )
    assert len(short_comparison(record)) <= 42 and len(short_comparison(record, 30)) <= 30
    lines = [*paper_lines([record]), *claim_lines([record]), *claims_table([record]), *scale_table([record])]
    assert all(len(line) <= WIDTH for line in lines)


def test_the_claims_table_says_what_its_numbers_are() -> None:
    """The interval is not adjusted, the p-value is Holm's within the named family, and a changed verdict says
    what was recorded; the paper's fate comes first, on its own models and on proxies apart."""
    records = [
        claim_record("D1", "smollm2-135m vs glove-6b-50d", "inconclusive", 0.02),
        claim_record("D1", "llama2-7b vs glove-6b-50d", "confirmed", 0.3),
        claim_record("D4", "smollm2-135m vs glove-6b-50d", "refuted", -0.5, expected="refuted"),
    ]
    table = claims_table(records)
    assert "95% CI unadj." in table[0] and "Holm p" in table[0]
    assert any(line.startswith("D1 ") and "Holm in D1, m = 4" in line for line in table)
    changed = next(i for i, line in enumerate(table) if "smollm2-135m vs glove-6b" in line and "INCONCLUSIVE" in line)
    assert "recorded: confirmed" in table[changed + 1]
    assert any("llama2-7b vs glove-6b-50d" in line and "+0.300" in line and "confirmed" in line for line in table)
    text = " ".join(line.strip() for line in paper_lines(records))
    assert "of 3 comparisons, 1 agree, 1 disagree, 1 undecided" in text
    assert "on the paper's own models: 1 agree, 0 disagree, 0 undecided" in text
    assert "2 as recorded (1 of them recorded deviations from the claim), 1 changed" in text
    assert claim_lines(records) == [
        f"{'D1':<17} of  2: 1 agree, 0 disagree, 1 undecided; 1 changed",
        f"{'D4':<17} of  1: 0 agree, 1 disagree, 0 undecided; 0 changed",
    ]


def test_short_names_keep_what_tells_them_apart() -> None:
    assert short_name("glove-6b-50d", 20) == "glove-6b-50d"
    assert short_name("llm:/models/meta/Llama-2-7b-hf/", 30) == "llm:Llama-2-7b-hf"
    assert short_name("openai:SmolLM2-135M@http://127.0.0.1:8080/v1", 40) == "openai:SmolLM2-135M"
    assert short_name("openai:BAAI/bge-small-en-v1.5@gpu-box", 40) == "openai:BAAI/bge-small-en-v1.5"
    long = short_name("simcse-unsup-roberta-large-with-a-very-long-suffix", 21)
    assert len(long) == 21 and long == "simcse-uns…ong-suffix"


def test_an_unreadable_earlier_ledger_is_named_not_fatal(tmp_path: Path) -> None:
    from harness.ledger_plugin import _readable

    good = read_ledger(write_ledger(tmp_path / "b.jsonl", "2026-11-02", [claim_record("D1", "a vs b", "refuted", -1)]))
    (tmp_path / "a.jsonl").write_text("garbage\n{}\n")
    # JSON lines, but a claim record that is not one: left out of the history, named
    (tmp_path / "c.jsonl").write_text(
        '{"format": 3, "record": "session", "started": "2026-11-01"}\n{"record": "claim", "claim": "1"}\n'
    )
    earlier = [_readable(tmp_path / "a.jsonl"), read_ledger(tmp_path / "c.jsonl")]
    page = (build_dashboard(good, earlier, tmp_path / "d") / "index.html").read_text()
    assert "left out of the history" in page and "a.jsonl:1" in page
    assert "c.jsonl: claim record #1 is not one" in page


def test_the_dashboard_command_builds_from_ledgers_without_tests(tmp_path: Path, capsys) -> None:
    from ledger.dashboard import main

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
from ledger.file import LedgerWriter
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))  # a disk that is full after 5000 bytes
writer = LedgerWriter(Path(sys.argv[1]))
writer.write({"record": "session", "format": 3})
written = 0
try:
    while True:
        writer.write({"record": "measurement", "index": written, "padding": "x" * 300})
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
    assert ledger.header["format"] == 3 and [r["index"] for r in ledger.records[1:]] == list(range(written))
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


def test_an_undefined_score_does_not_cost_the_session_its_dashboard(tmp_path: Path) -> None:
    """A side whose statistic is undefined (NaN) has no point on the scale plot; the page is built all the same."""
    llm = claim_record("D1", "smollm2-135m vs glove-6b-50d", "inconclusive", 0.0)
    undefined = replace(
        llm,
        subject=replace(llm.subject, score=float("nan")),
        effect=None,
        low=None,
        high=None,
        adjusted_p=None,
        note="statistic undefined on these items for the subject",
    )
    from ledger.file import Ledger

    for record in (line(undefined), clean_line(undefined)):  # as the session holds it, and as the file does
        page = build_dashboard(Ledger(tmp_path / "now.jsonl", [record]), [], tmp_path / "dash") / "index.html"
        assert "statistic undefined on these items" in page.read_text()


def clean_line(record: ClaimRecord) -> dict:
    from ledger.file import clean

    return clean(line(record))  # type: ignore[return-value]


# ---------------------------------------------------------------- deviations from the paper's protocol

DEVIATIONS = st.builds(
    Deviation,
    st.sampled_from(DEVIATION_ASPECTS),
    st.text(min_size=1).filter(str.strip),
    st.one_of(st.none(), NAMES),
)


@given(st.lists(DEVIATIONS, max_size=6), st.text())
def test_a_record_keeps_its_deviations_through_json_and_the_ledger(deviations: list[Deviation], protocol: str) -> None:
    record = replace(
        claim_record("D4", "smollm2-135m vs glove-6b-50d", "refuted", -0.2),
        deviations=tuple(deviations),
        paper_protocol=protocol,
    )
    data = json.loads(json.dumps(clean(line(record))))  # as the ledger writes it and reads it back
    assert isinstance(data["deviations"], list) and all(isinstance(d, dict) for d in data["deviations"])
    back = ClaimRecord.from_json(data)
    assert back == record and back.deviations == tuple(deviations) and back.version == VERSION


def test_a_version_3_record_loads_with_its_deviations_kind_read_as_their_aspect(tmp_path: Path) -> None:
    record = replace(claim_record("D4", "smollm2-135m vs glove-6b-50d", "refuted", -0.2), deviations=(BATS, PROXY))
    data = line(record)
    data["version"] = 3
    data["deviations"] = [{"kind": d.aspect, "text": d.text, "side": d.side} for d in record.deviations]
    path = write_ledger(tmp_path / "v3.jsonl", "2026-11-29", [data])
    (loaded,) = read_ledger(path).claims()
    assert (loaded.version, loaded.deviations) == (3, (BATS, PROXY))
    page = (build_dashboard(read_ledger(path), [], tmp_path / "dash") / "index.html").read_text()
    assert '<span class="badge k-dev">model</span> proxy: smollm2-135m stands in' in page
    assert "older than version 3" not in page


def test_a_version_2_record_loads_with_no_deviations_and_no_protocol(tmp_path: Path) -> None:
    data = line(claim_record("D1", "smollm2-135m vs glove-6b-50d", "confirmed", 0.3))
    for key in ("deviations", "paper_protocol"):
        del data[key]
    data["version"] = 2
    path = write_ledger(tmp_path / "v2.jsonl", "2026-11-29", [data])
    (record,) = read_ledger(path).claims()
    assert (record.version, record.deviations, record.paper_protocol) == (2, (), "")
    page = (build_dashboard(read_ledger(path), [], tmp_path / "dash") / "index.html").read_text()
    assert "1 comparisons come from records older than version 3, which did not record deviations" in page


def test_a_deviation_of_an_unknown_aspect_or_without_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not one of dataset, model, weights, protocol"):
        Deviation("vibes", "something differs")
    with pytest.raises(ValueError, match="non-empty"):
        Deviation("dataset", "  ")
    data = line(claim_record("D1", "a vs b", "confirmed", 0.3))
    data["deviations"] = [{"aspect": "vibes", "text": "x", "side": None}]
    path = write_ledger(tmp_path / "bad.jsonl", "2026-11-29", [data])
    with pytest.raises(LedgerError, match="claim record #1 is not one"):
        read_ledger(path).claims()


BATS = Deviation("dataset", "Google analogy stands in for BATS")
PROXY = Deviation("model", "proxy: smollm2-135m stands in for the paper's open LLMs", "smollm2-135m")
QUANTISED = Deviation("weights", "smollm2-135m: weights quantised (GGUF Q4_1)", "smollm2-135m")


def deviating_records() -> list[ClaimRecord]:
    """D4 on a proxy (three deviations) and on the paper's own models (the dataset's only); D1 follows the paper."""
    return [
        replace(
            claim_record("D4", "smollm2-135m vs glove-6b-50d", "refuted", -0.2, expected="refuted"),
            deviations=(BATS, PROXY, QUANTISED),
            paper_protocol="BATS, vector arithmetic (3CosAdd), accuracy",
        ),
        replace(
            claim_record("D4", "llama2-7b vs glove-6b-50d", "confirmed", 0.2),
            deviations=(BATS,),
            paper_protocol="BATS, vector arithmetic (3CosAdd), accuracy",
        ),
        replace(claim_record("D1", "llama2-7b vs glove-6b-50d", "confirmed", 0.3), paper_protocol="WordNet pairs"),
    ]


def test_the_terminal_counts_each_comparisons_deviations_and_names_them_per_claim() -> None:
    records = deviating_records()
    table = claims_table(records)
    assert table[0].split()[-2:] == ["dev", "verdict"]
    d1, d4 = (next(i for i, x in enumerate(table) if x.startswith(f"{claim} · ")) for claim in ("D1", "D4"))
    # no deviation: the column is blank; then D4's, by comparison name
    assert table[d1 + 1].split()[-2:] == ["0.0010", "confirmed"]
    assert table[d4 + 1].split()[-2:] == ["1", "confirmed"] and "llama2-7b vs glove-6b-50d" in table[d4 + 1]
    assert table[d4 + 2].split()[-2:] == ["3", "refuted"] and "smollm2-135m vs glove-6b-50d" in table[d4 + 2]
    legend = " ".join(x.strip() for x in table[next(i for i, x in enumerate(table) if x.startswith("dev: ")) :])
    assert "dev: how many ways a comparison's protocol differs from the paper's" in legend
    assert "the dashboard lists them" in legend
    lines = claim_lines(records)
    assert lines[0].startswith("D1 ") and lines[1].startswith("D4 ")  # D1 has no line of deviations
    text = " ".join(x.strip() for x in lines[2:])
    assert text.startswith("2 of 2 comparisons deviate from the paper's protocol: Google analogy stands in for BATS;")
    assert "proxy: smollm2-135m stands in" in text and text.count("Google analogy") == 1  # distinct texts, once
    assert all(len(x) <= WIDTH for x in [*table, *lines])


def test_many_deviations_stay_within_three_terminal_lines() -> None:
    many = tuple(
        Deviation("model", f"proxy: model-{i} stands in for the paper's open LLMs", f"m{i}") for i in range(30)
    )
    record = replace(claim_record("D1", "a vs b", "confirmed", 0.1), deviations=many)
    lines = claim_lines([record])
    assert len(lines) == 4 and lines[-1].endswith("… (dashboard: all)") and all(len(x) <= WIDTH for x in lines)


def test_the_dashboard_lists_each_claims_protocol_and_deviations(tmp_path: Path) -> None:
    path = write_ledger(tmp_path / "l.jsonl", "2026-11-29", deviating_records())
    page = (build_dashboard(read_ledger(path), [], tmp_path / "dash") / "index.html").read_text()
    d4 = page.split('<section id="c-d4">', 1)[1].split("</section>", 1)[0]
    assert "<b>The paper's protocol:</b> BATS, vector arithmetic (3CosAdd), accuracy" in d4
    assert "2 of 2 comparisons deviate from it" in d4
    items = re.findall(r"<li>(.*?)</li>", d4)
    assert len(items) == 3
    assert "Google analogy stands in for BATS" in items[0] and "all 2 comparisons" in items[0]
    assert "weights quantised (GGUF Q4_1)" in items[2]
    assert html.escape("embedder smollm2-135m; smollm2-135m vs glove-6b-50d") in items[2]
    d1 = page.split('<section id="c-d1">', 1)[1].split("</section>", 1)[0]
    assert "no deviation recorded" in d1 and "<li>" not in d1


def test_junit_names_every_deviation() -> None:
    from harness.claims_plugin import junit_properties

    proxy, own, plain = deviating_records()
    assert dict(junit_properties(proxy))["deviations"] == (
        "dataset: Google analogy stands in for BATS; model: proxy: smollm2-135m stands in for the paper's open "
        "LLMs; weights: smollm2-135m: weights quantised (GGUF Q4_1)"
    )
    assert dict(junit_properties(own))["deviations"] == "dataset: Google analogy stands in for BATS"
    assert dict(junit_properties(plain))["deviations"] == "none"
