"""A real small session (three quick embedders, claims and measurements) and everything it reports: the ledger,
the terminal tables, the JUnit properties, and the dashboard as a real headless Chromium renders it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from evals.records import VERSION, Verdict
from ledger.file import LEDGER_FORMAT, Ledger, read_ledger
from ledger.summary import WIDTH

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
EMBEDDERS = "glove-6b-50d,sbert-minilm,smollm2-135m"
# The claims among these three only (no other model loads) and the word-similarity measurements: a smaller session
# than the default one, whose correction families still hold every comparison over the embedders available here.
SELECTION = "(smollm2 and (glove or minilm) and not mpnet and not gemma) or word_similarity"


@dataclass
class Session:
    result: subprocess.CompletedProcess
    ledger: Ledger
    dashboard: Path
    junit: Path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    where = tmp_path_factory.mktemp("session")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "evals/test_claims.py",
            "evals/test_word_similarity.py",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "--embedder",
            EMBEDDERS,
            "-k",
            SELECTION,
            f"--ledger-dir={where / 'ledger'}",
            f"--claims-report={where / 'dashboard'}",
            f"--claims-history={where / 'no-history'}",
            f"--junitxml={where / 'junit.xml'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    (ledger_path,) = (where / "ledger").glob("*.jsonl")
    return Session(result, read_ledger(ledger_path), where / "dashboard" / "index.html", where / "junit.xml")


def test_the_ledger_holds_the_environment_and_every_record(session: Session) -> None:
    ledger = session.ledger
    assert ledger.problems == []
    header, footer = ledger.header, ledger.footer
    assert header["format"] == LEDGER_FORMAT == 3 and header["record"] == "session"
    assert header["environment"]["packages"]["torch"] and header["environment"]["suite"]["commit"]
    assert header["claims_settings"]["seed"] == 20240217 and header["options"]["embedder"] == EMBEDDERS.split(",")
    claims, measurements = ledger.claims(), ledger.measurements()
    assert {c.claim for c in claims} >= {"D1", "D2-semantic-llm", "D3", "D4-llm", "D5", "C1", "C2", "C3-variance"}
    assert {(c.subject.embedder.name, c.reference.embedder.name) for c in claims if c.claim == "D1"} == {
        ("smollm2-135m", "glove-6b-50d"),
        ("smollm2-135m", "sbert-minilm"),
    }
    fingerprints = {e["name"]: e["fingerprint"] for e in ledger.of_record("embedder")}
    assert set(fingerprints) == set(EMBEDDERS.split(","))
    for c in claims:
        assert c.version == VERSION and c.low <= c.effect <= c.high and c.verdict in set(Verdict)
        assert c.paper_protocol  # the claim's, from claims.toml
        # smollm2-135m is in every comparison here: a proxy, quantised and instruction-tuned, whatever the metric says
        assert {(d.aspect, d.side) for d in c.deviations} >= {("model", "smollm2-135m"), ("weights", "smollm2-135m")}
        assert c.outcome in ("passed", "inconclusive", "deviated") and len(c.dataset["sha256"]) == 64
        assert c.subject.embedder.fingerprint == fingerprints[c.subject.embedder.name]
        # the correction family is every comparison over the embedders available here, not this session's few
        family = c.correction_family
        assert family.in_session < family.size and family.measured == family.in_session
        assert c.statistics.unit and c.statistics.df > 0 and c.standard_error > 0
        assert c.outcome == ("deviated" if c.deviated else "inconclusive" if not c.as_recorded else "passed")
    assert {c.correction_family.id for c in claims if c.claim.startswith("D2")} == {"D2"}
    assert {m.embedder.name for m in measurements} == set(EMBEDDERS.split(","))
    assert footer["claims"] == len(claims) and footer["measurements"] == len(measurements)
    families = {c.correction_family.id: c.correction_family for c in claims}
    expected = {f.id: {"size": f.size, "in_session": f.in_session} for f in families.values()}
    assert footer["correction_families"] == expected
    assert footer["exit_status"] == 0


def test_the_terminal_summary_fits_100_columns(session: Session) -> None:
    lines = session.result.stdout.splitlines()
    table = lines[lines.index(next(line for line in lines if " claims " in line and line.startswith("="))) + 1 :]
    table = table[: next(i for i, line in enumerate(table) if line.startswith("="))]
    assert all(len(line) <= WIDTH for line in table), max(table, key=len)
    claims = session.ledger.claims()
    opening = " ".join(line.strip() for line in table[:3])
    assert opening.startswith("paper agreement: of ") and "135M proxies (smollm2-135m)" in opening
    for claim in claims:
        effect, holm = f"{claim.effect:+.3f}", f"{claim.adjusted_p:.4f}"
        assert any(line.startswith("  ") and effect in line and holm in line and str(claim.verdict) in line.lower()
                   for line in table)  # fmt: skip
        assert any(line.startswith(claim.claim + " ") for line in table)  # its line of counts
    assert "95% CI unadj." in "\n".join(table) and "Holm p" in "\n".join(table)
    text = " ".join(line.strip() for line in table)
    assert "comparisons deviate from the paper's protocol: " in text and "the dashboard lists them" in text
    deviated = sum(1 for c in claims if c.deviated)
    assert f"{deviated} deviated" in lines[-1]  # pytest's last line counts recorded deviations apart
    assert f"ledger: {session.ledger.path}" in session.result.stdout


def test_junit_xml_shows_each_claims_verdict_effect_and_interval(session: Session) -> None:
    cases = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in ET.parse(session.junit).getroot().iter("testcase")
        if case.get("classname", "").endswith("test_claims")
    }
    claims = session.ledger.claims()
    assert len(cases) == len(claims)
    for claim in claims:
        properties = cases[claim.test.split("::")[-1]]
        assert properties["verdict"] == claim.verdict and properties["expected_verdict"] == claim.expected
        paper = claim.agreement or ("not measured" if claim.paper else "not a claim of the paper")
        assert properties["paper"] == paper and properties["baseline"] == claim.baseline
        assert float(properties["effect"]) == pytest.approx(claim.effect, abs=1e-6)
        assert float(properties["holm_p"]) == pytest.approx(claim.adjusted_p, rel=1e-5)
        assert properties["deviations"] == ("; ".join(f"{d.aspect}: {d.text}" for d in claim.deviations) or "none")
        low, high = (float(bound) for bound in properties["interval_unadjusted"].strip("[]").split(","))
        assert (low, high) == (pytest.approx(claim.low, abs=1e-6), pytest.approx(claim.high, abs=1e-6))


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing: pip install 'embedding-claims[dev]'"
    return None


def test_the_dashboard_renders_every_claim_in_headless_chromium(session: Session, tmp_path: Path) -> None:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)  # in CI a missing browser is a broken set-up, not a reason to skip
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh profile
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: problems.append(f"javascript error: {error}"))
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url))
            page.goto(session.dashboard.as_uri(), wait_until="load")
            cells = page.eval_on_selector_all(
                "#matrix td.cell",
                "cells => cells.map(c => [c.dataset.claim, c.dataset.comparison, c.dataset.verdict, "
                "c.querySelector('a').getAttribute('href'), c.offsetWidth > 0, c.dataset.agreement, "
                "c.dataset.baseline])",
            )
            bars = page.locator("svg.bar").count()
            headline = page.locator("p.paper").first.inner_text()
            targets_found = page.evaluate(
                "hrefs => hrefs.map(h => document.getElementById(h.slice(1)) !== null)", [cell[3] for cell in cells]
            )
            rows = page.locator("#matrix tbody tr")
            total = rows.count()
            page.check("#only-unexpected")  # the page's script runs: rows without an unexpected verdict hide
            shown = sum(1 for i in range(total) if rows.nth(i).is_visible())
            charts = page.locator("svg.chart").count()
            deviations = page.locator("ul.deviations li").all_inner_texts()
        finally:
            browser.close()
    claims = session.ledger.claims()
    assert sorted((c[0], c[1], c[2], c[5], c[6]) for c in cells) == sorted(
        (
            c.claim,
            c.comparison,
            str(c.verdict) if c.verdict else "skipped",
            c.agreement or ("beyond the paper" if c.measured else "not measured"),
            c.baseline or "not measured",
        )
        for c in claims
    )
    assert all(cell[4] for cell in cells), "every cell of the matrix is displayed"
    assert all(targets_found), "every cell links to its detail row"
    changed_rows = {c.comparison for c in claims if c.baseline == "changed"}
    assert shown == len(changed_rows) <= total
    assert charts >= len({c.claim for c in claims}) + 2  # a forest plot per claim, D1 distributions, scale
    assert bars >= len({c.claim for c in claims if c.paper})  # agree/disagree/undecided, per claim
    assert headline.startswith("paper agreement: of ")
    listed = " ".join(deviations)
    assert all(d.text in listed for c in claims for d in c.deviations)  # each claim's section lists its own
    assert problems == []
