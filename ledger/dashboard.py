"""A self-contained static HTML dashboard built from ledgers: one index.html with inline CSS, inline SVG charts
drawn here and a few lines of inline script; it fetches nothing and opens from disk.

Two questions are kept apart on the page: how the paper fares (a comparison agrees with the paper, disagrees or is
undecided; the matrix is coloured by it) and whether anything changed against the recorded baseline (the verdict
is not the one recorded for it; outlined). A known disagreement recorded as such is red but not outlined.

    python -m ledger.dashboard reports/ledger/LATEST.jsonl --history reports/ledger --out reports/dashboard
"""

from __future__ import annotations

import argparse
import html
import itertools
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from embedders.disk import write_text_atomically
from evals.records import ClaimRecord, CorrectionFamily, EmbedderRecord, MeasurementRecord, Verdict
from ledger.file import Ledger, LedgerError, ledgers_in, read_ledger
from ledger.summary import by_claim, deviations_of, paper_text, short_comparison

# verdicts: badges and the history, where a flip is a change of verdict whatever the paper says
COLOURS = {"confirmed": "#1a7f37", "refuted": "#cf222e", "inconclusive": "#bf8700", "skipped": "#8c959f"}
# the matrix, forest plots and bars: agreement with the paper; claims beyond it (scale) in a palette of their own,
# so that a refuted scale claim never reads as the paper being wrong
TONES = {
    "agrees": "#1a7f37",
    "disagrees": "#cf222e",
    "undecided": "#bf8700",
    "beyond-confirmed": "#8250df",
    "beyond-refuted": "#4c2889",
    "beyond-inconclusive": "#a371f7",
    "not-measured": "#8c959f",
}
TONE_TEXT = {
    "agrees": "agrees with the paper",
    "disagrees": "disagrees with the paper",
    "undecided": "undecided",
    "beyond-confirmed": "beyond the paper: confirmed",
    "beyond-refuted": "beyond the paper: refuted",
    "beyond-inconclusive": "beyond the paper: inconclusive",
    "not-measured": "not measured (skipped or error)",
}
COUNT_WORDS = {"agrees": "agree", "disagrees": "disagree", "undecided": "undecided"}
PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781", "#bf3989"]
NO_PAPER_MODELS = "no comparison on the paper's own models in this session"
FOREST_NOTE = (
    "Effects: subject minus reference, oriented so that the claim's direction is positive; the dashed line is the "
    "claim's margin; dots and intervals coloured by agreement with the paper. The 95% intervals are NOT adjusted for "
    "the correction family. Each verdict comes from the Holm-adjusted p within the claim's correction family (the "
    "claims sharing it, over every embedder available, whatever the session selected), so an interval clear of the "
    "margin can still be inconclusive."
)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def slug(*parts: str) -> str:
    return "c-" + re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")


def number(value: float | None, spec: str = "+.4f") -> str:
    return "" if value is None else format(value, spec)


def key_of(record: ClaimRecord) -> tuple[str, str]:
    return record.claim, record.comparison


def verdict_of(record: ClaimRecord) -> str:
    return "skipped" if record.verdict is None else str(record.verdict)


def tone(record: ClaimRecord) -> str:
    if record.agreement:
        return record.agreement
    return "not-measured" if record.verdict is None else f"beyond-{record.verdict}"


def agreement_text(record: ClaimRecord) -> str:
    return record.agreement or ("beyond the paper" if record.measured else "not measured")


def models_of(record: ClaimRecord) -> str:
    return "paper" if record.on_paper_models else "proxies"


def family_label(family: CorrectionFamily) -> str:
    return f"family {family.id}, m = {family.size}"


def baseline_text(record: ClaimRecord) -> str:
    if record.baseline is None:
        return "not measured"
    if record.baseline == "changed":
        return f"changed: recorded {record.expected}, observed {record.verdict}"
    return f"as recorded ({record.expected})"


def why_text(record: ClaimRecord) -> str:
    """Why the recorded verdict is not the claim's own, and why a verdict is inconclusive or missing."""
    parts = [
        f"recorded {record.expected}: {record.expected_why}" if record.expected is not Verdict.CONFIRMED else None,
        record.note,
        f"not measured: {record.skipped}" if record.skipped else None,
        f"error: {record.error}" if record.error else None,
    ]
    return " · ".join(p for p in parts if p)


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class Point:
    started: str
    ledger: str
    verdict: str
    effect: float | None
    low: float | None
    high: float | None
    agreement: str | None = None


@dataclass(frozen=True)
class Flip:
    claim: str
    comparison: str
    before: Point
    after: Point


def history(ledgers: Iterable[Ledger]) -> dict[tuple[str, str], list[Point]]:
    """Each comparison's verdict and effect per session, oldest first; ledgers of every format mix, since all
    read as typed records. Raises LedgerError for a ledger whose claim records do not read."""
    series: dict[tuple[str, str], list[Point]] = {}
    for ledger in sorted(ledgers, key=lambda lg: lg.started):
        for record in ledger.claims():
            point = Point(
                ledger.started,
                ledger.path.name,
                verdict_of(record),
                record.effect,
                record.low,
                record.high,
                record.agreement,
            )
            series.setdefault(key_of(record), []).append(point)
    return series


def flips(series: dict[tuple[str, str], list[Point]]) -> list[Flip]:
    """Every change of verdict between consecutive sessions that both measured the comparison (inconclusive counts)."""
    found = []
    for (claim, comparison), points in sorted(series.items()):
        decided = [p for p in points if p.verdict != "skipped"]
        for before, after in itertools.pairwise(decided):
            if before.verdict != after.verdict:
                found.append(Flip(claim, comparison, before, after))
    return found


def readable_history(ledgers: Iterable[Ledger]) -> list[Ledger]:
    """An earlier ledger whose claim records do not read is named on the page, not fatal to the dashboard."""
    readable = []
    for ledger in ledgers:
        try:
            ledger.claims()
        except LedgerError as error:
            ledger = Ledger(ledger.path, problems=[*ledger.problems, f"left out of the history: {error}"])
        readable.append(ledger)
    return readable


# ---------------------------------------------------------------- SVG helpers


def scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start if high == low else start + (value - low) * (end - start) / (high - low)


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if step * m >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step) + 1)]


def _interval_known(record: ClaimRecord) -> bool:
    return None not in (record.effect, record.low, record.high)


def forest_plot(records: list[ClaimRecord]) -> str:
    """Effect and interval of each comparison of a claim, with the zero line and the claim's margin."""
    shown = sorted((r for r in records if _interval_known(r)), key=lambda r: r.comparison)
    if not shown:
        return ""
    margin = shown[0].margin
    values = [v for r in shown for v in (r.low, r.high) if v is not None] + [0.0, margin]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 0.05
    low, high = low - pad, high + pad
    label_w, plot_w, row_h, top = 330, 420, 22, 24
    height = top + row_h * len(shown) + 30
    x = lambda v: label_w + scale(v, low, high, 0, plot_w)  # noqa: E731
    parts = [f'<svg class="chart" viewBox="0 0 {label_w + plot_w + 70} {height}" role="img">']
    for t in ticks(low, high):
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 6}" y2="{height - 24}" class="grid"/>'
            f'<text x="{x(t):.1f}" y="{height - 10}" class="tick">{t:+g}</text>'
        )
    parts.append(f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 10}" y2="{height - 24}" class="zero"/>')
    parts.append(
        f'<line x1="{x(margin):.1f}" x2="{x(margin):.1f}" y1="{top - 10}" y2="{height - 24}" class="margin"/>'
        f'<text x="{x(margin) + 3:.1f}" y="{top - 12}" class="note">margin {margin:+g}</text>'
    )
    for i, r in enumerate(shown):
        parts.append(forest_row(r, top + i * row_h + row_h / 2, label_w, x))
    parts.append("</svg>")
    return "".join(parts)


def forest_row(r: ClaimRecord, y: float, label_w: int, x: Callable[[float], float]) -> str:
    colour = TONES[tone(r)]
    low, high, effect = float(r.low or 0), float(r.high or 0), float(r.effect or 0)
    title = (
        f"{r.comparison}: {effect:+.4f} [{low:+.4f}, {high:+.4f}] (not adjusted); Holm p {number(r.adjusted_p, '.4f')} "
        f"({family_label(r.correction_family)}): {verdict_of(r)}; {TONE_TEXT[tone(r)]}; {baseline_text(r)}"
    )
    return (
        f'<a href="#{slug(r.claim, r.comparison)}"><text x="{label_w - 8}" y="{y + 4:.1f}" class="label">'
        f"{esc(short_comparison(r, 44))}</text></a>"
        f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
        f'stroke-width="2.5"/><circle cx="{x(effect):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
        f"<title>{esc(title)}</title></circle>"
    )


def legend(names: list[str]) -> str:
    return "".join(
        f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{esc(n)}</span>'
        for i, n in enumerate(names)
    )


def histograms_of(claims: list[ClaimRecord]) -> dict[str, dict]:
    """D1's per-embedder histograms of random-pair cosines, as the sides' summaries carry them."""
    found: dict[str, dict] = {}
    for r in claims:
        if r.metric != "random-pair-similarity":
            continue
        for side in (r.subject, r.reference):
            hist = (side.summary or {}).get("histogram")
            if isinstance(hist, dict) and hist.get("counts") and hist.get("edges"):
                found.setdefault(side.embedder.name, hist)
    return found


def distributions(claims: list[ClaimRecord]) -> str:
    """D1: each embedder's histogram of random-pair cosines, as outlines on one axis."""
    histograms = histograms_of(claims)
    if not histograms:
        return ""
    names = sorted(histograms)
    width, height, left, top, bottom = 760, 260, 50, 10, 30
    peak = max(max(h["counts"]) / max(sum(h["counts"]), 1) for h in histograms.values()) or 1
    x = lambda v: left + scale(v, -1, 1, 0, width - left - 10)  # noqa: E731
    y = lambda v: top + scale(v, 0, peak, height - top - bottom, 0)  # noqa: E731
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">']
    for t in (-1, -0.5, 0, 0.5, 1):
        parts.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{height - bottom}" class="grid"/>'
            f'<text x="{x(t):.1f}" y="{height - 12}" class="tick">{t:g}</text>'
        )
    for i, name in enumerate(names):
        hist = histograms[name]
        total = max(sum(hist["counts"]), 1)
        edges, counts = hist["edges"], hist["counts"]
        points = [f"{x(edges[0]):.1f},{y(0):.1f}"]
        for left_edge, right_edge, count in zip(edges, edges[1:], counts, strict=False):
            share = count / total
            points += [f"{x(left_edge):.1f},{y(share):.1f}", f"{x(right_edge):.1f},{y(share):.1f}"]
        points.append(f"{x(edges[-1]):.1f},{y(0):.1f}")
        parts.append(
            f'<polyline points="{" ".join(points)}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" '
            f'stroke-width="1.6"><title>{esc(name)}</title></polyline>'
        )
    parts.append(f'<text x="{width / 2:.0f}" y="{height}" class="tick">cosine of a random word pair</text></svg>')
    return "".join(parts) + f'<div class="legend">{legend(names)}</div>'


def scale_plots(claims: list[ClaimRecord]) -> str:
    """Each claim metric against LLM parameter count (log scale); other families as dashed reference lines."""
    series: dict[str, dict[str, tuple[str, int, float]]] = {}
    for r in claims:
        for side in (r.subject, r.reference):
            if side.score is not None and math.isfinite(side.score):  # an undefined score has no place on an axis
                e = side.embedder
                series.setdefault(r.metric + r.params_text, {})[e.name] = (e.family, e.parameters or 0, side.score)
    return "".join(scale_plot(metric, models) for metric, models in sorted(series.items()))


def scale_plot(metric: str, models: dict[str, tuple[str, int, float]]) -> str:
    llms = sorted((p, v, n) for n, (f, p, v) in models.items() if f in ("llm", "api") and p)
    if not llms:
        return ""
    others = sorted((v, n) for n, (f, p, v) in models.items() if f not in ("llm", "api"))
    scores = [v for _, v, _ in llms] + [v for v, _ in others]
    low, high = min(scores), max(scores)
    pad = (high - low) * 0.1 or 0.05
    low, high = low - pad, high + pad
    sizes = [math.log10(p) for p, _, _ in llms]
    xmin, xmax = min(sizes) - 0.3, max(sizes) + 0.3
    width, height, left, top, bottom, right = 460, 240, 50, 12, 30, 130
    x = lambda v: left + scale(v, xmin, xmax, 0, width - left - right)  # noqa: E731
    y = lambda v: top + scale(v, low, high, height - top - bottom, 0)  # noqa: E731
    parts = [
        f'<figure><figcaption>{esc(metric)}</figcaption><svg class="chart small" '
        f'viewBox="0 0 {width} {height}" role="img">'
    ]
    for t in ticks(low, high, 4):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y(t) + 4:.1f}" class="ytick">{t:g}</text>'
        )
    for i, (value, name) in enumerate(others):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="ref" '
            f'stroke="{PALETTE[(i + 3) % len(PALETTE)]}"/><text x="{width - right + 4}" y="{y(value) + 4:.1f}" '
            f'class="note">{esc(name)} {value:.3f}</text>'
        )
    path = " ".join(f"{x(math.log10(p)):.1f},{y(v):.1f}" for p, v, _ in llms)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#0969da" stroke-width="2"/>')
    for p, v, n in llms:
        parts.append(
            f'<circle cx="{x(math.log10(p)):.1f}" cy="{y(v):.1f}" r="4" fill="#0969da"><title>{esc(n)}: '
            f'{v:.4f}</title></circle><text x="{x(math.log10(p)):.1f}" y="{height - 10}" class="tick">'
            f"{esc(n)} ({p / 1e6:,.0f}M)</text>"
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def sparkline(points: list[Point]) -> str:
    effects = [p.effect for p in points if p.effect is not None]
    if not effects:
        return ""
    bounds = [v for p in points for v in (p.low, p.high, p.effect) if v is not None] + [0.0]
    low, high = min(bounds), max(bounds)
    width, height = 160, 28
    x = lambda i: 4 + scale(i, 0, max(len(points) - 1, 1), 0, width - 8)  # noqa: E731
    y = lambda v: 3 + scale(v, low, high, height - 6, 0)  # noqa: E731
    parts = [
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f'<line x1="0" x2="{width}" y1="{y(0):.1f}" y2="{y(0):.1f}" class="zero"/>',
    ]
    line = [f"{x(i):.1f},{y(p.effect):.1f}" for i, p in enumerate(points) if p.effect is not None]
    parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="#57606a" stroke-width="1.2"/>')
    for i, p in enumerate(points):
        if p.effect is not None:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(p.effect):.1f}" r="2.6" fill="{COLOURS.get(p.verdict, "#8c959f")}">'
                f"<title>{esc(p.started)}: {p.effect:+.4f} {esc(p.verdict)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(claim: str, models: str, counts: dict[str, int]) -> str:
    """One horizontal bar of counts by tone; the counts are also data attributes, so that they can be read back."""
    width, height = 220, 14
    total = sum(counts.values())
    data = " ".join(f'data-{key}="{n}"' for key, n in counts.items())
    parts = [
        f'<svg class="bar" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'data-claim="{esc(claim)}" data-models="{esc(models)}" {data}>'
    ]
    left = 0.0
    for key, n in counts.items():
        if n:
            span = width * n / total
            parts.append(
                f'<rect x="{left:.1f}" y="0" width="{span:.1f}" height="{height}" fill="{TONES[key]}">'
                f"<title>{n} {esc(TONE_TEXT[key])}</title></rect>"
            )
            left += span
    words = ", ".join(f"{n} {COUNT_WORDS.get(key, key.removeprefix('beyond-'))}" for key, n in counts.items())
    return "".join(parts) + f'</svg> <span class="count">{esc(words)}</span>'


# ---------------------------------------------------------------- page


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#d0d7de;font-size:13px}header p.paper{color:#fff;font-size:15px;max-width:1100px}
main{padding:8px 24px 40px;max-width:1400px}
h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}h3{margin:18px 0 4px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#matrix td.cell{text-align:center;color:#fff;font-weight:600;min-width:64px;padding:0}
#matrix td.cell a{display:block;color:#fff;text-decoration:none;padding:4px 6px}
#matrix td.changed{outline:3px solid #1f2328;outline-offset:-3px}#matrix td.none{background:#f6f8fa}
#matrix th.claim{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;vertical-align:bottom}
.v-confirmed{background:#1a7f37}.v-refuted{background:#cf222e}.v-inconclusive{background:#bf8700}
.v-skipped{background:#8c959f}.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px}
.t-agrees{background:#1a7f37}.t-disagrees{background:#cf222e}.t-undecided{background:#bf8700}
.t-beyond-confirmed{background:#8250df}.t-beyond-refuted{background:#4c2889}
.t-beyond-inconclusive{background:#a371f7}.t-not-measured{background:#8c959f}
.outlined{border:2px solid #1f2328;background:#fff;color:#1f2328}
svg.bar{vertical-align:middle;background:#f6f8fa}.count{font-size:12px;color:#57606a}
tr:target{background:#fff8c5}.chart{width:100%;max-width:780px;height:auto;display:block}
.chart.small{max-width:470px}figure{display:inline-block;margin:6px 18px 6px 0;vertical-align:top}
figcaption{font-weight:600;font-size:13px}.grid{stroke:#eaeef2}.zero{stroke:#8c959f}
.margin{stroke:#1f2328;stroke-dasharray:5 3}.ref{stroke-dasharray:4 3;stroke-width:1.3}
.tick{font-size:10px;fill:#57606a;text-anchor:middle}.ytick{font-size:10px;fill:#57606a;text-anchor:end}
.note{font-size:10px;fill:#57606a}.label{font-size:11px;fill:#0969da;text-anchor:end}
.legend .key{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:3px;
margin:0 5px 3px 0;vertical-align:middle}.strip i{display:inline-block;width:10px;height:14px;margin-right:1px}
.problems{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px}.muted{color:#57606a}
.k-dev{background:#57606a}ul.deviations{margin:2px 0 8px;padding-left:20px}
.protocol p{margin:4px 0}.controls{margin:8px 0}.hidden{display:none}details{margin:6px 0}code{font-size:12px}
"""

# the checkbox keeps its id (only-unexpected): "unexpected" now means changed against the recorded baseline
SCRIPT = """
document.getElementById('only-unexpected').addEventListener('change', function (event) {
  document.querySelectorAll('#matrix tbody tr').forEach(function (row) {
    var changed = row.querySelector('td.changed') !== null;
    row.classList.toggle('hidden', event.target.checked && !changed);
  });
});
"""


def paper_summary(claims: list[ClaimRecord]) -> str:
    return "".join(f'<p class="paper">{esc(p)}</p>' for p in paper_text(claims))


def matrix_cell(r: ClaimRecord | None) -> str:
    if r is None:
        return '<td class="none"></td>'
    changed = r.baseline == "changed"
    text = f"{r.effect:+.3f}" if r.effect is not None else "n/a" if r.measured else "error" if r.error else "skip"
    on = "on the paper's own models" if r.on_paper_models else "on proxies"
    title = f"{r.claim} · {r.comparison}: {TONE_TEXT[tone(r)]} ({on}); verdict {verdict_of(r)}; {baseline_text(r)}"
    return (
        f'<td class="cell t-{tone(r)}{" changed" if changed else ""}" data-claim="{esc(r.claim)}" '
        f'data-comparison="{esc(r.comparison)}" data-verdict="{esc(verdict_of(r))}" '
        f'data-agreement="{esc(agreement_text(r))}" data-baseline="{esc(r.baseline or "not measured")}" '
        f'data-models="{models_of(r)}" title="{esc(title)}"><a href="#{slug(r.claim, r.comparison)}">{text}</a></td>'
    )


def matrix(claims: list[ClaimRecord]) -> str:
    """Comparisons down, claims across: each cell coloured by agreement with the paper and outlined when its
    verdict changed against the recorded baseline; the effect links to its detail row."""
    claim_ids = sorted({r.claim for r in claims})
    cells = {key_of(r): r for r in claims}
    head = "".join(f'<th class="claim">{esc(c)}</th>' for c in claim_ids)
    body = [
        f"<tr><th>{esc(comparison)}</th>{''.join(matrix_cell(cells.get((c, comparison))) for c in claim_ids)}</tr>"
        for comparison in sorted({r.comparison for r in claims})
    ]
    used = [t for t in TONES if any(tone(r) == t for r in claims)]
    key = " ".join(f'<span class="badge t-{t}">{esc(TONE_TEXT[t])}</span>' for t in used)
    return (
        f'<div class="controls">colour: {key} · <span class="badge outlined">outlined</span>: changed against the '
        'recorded baseline (the verdict is not the recorded one) · <label><input type="checkbox" '
        'id="only-unexpected"> only comparisons changed against the recorded baseline</label></div>'
        f'<table id="matrix"><thead><tr><th>comparison</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def tone_counts(records: list[ClaimRecord], paper: bool) -> dict[str, int]:
    found = Counter(tone(r) for r in records)
    keys = COUNT_WORDS if paper else [f"beyond-{v}" for v in Verdict]
    return {key: found[key] for key in keys}


def agreement_cell(claim: str, records: list[ClaimRecord], models: str) -> str:
    chosen = [r for r in records if r.measured and models_of(r) == models]
    if not chosen:
        where = "on the paper's own models" if models == "paper" else "on proxies"
        return f'<td class="muted">none {esc(where)}</td>'
    return f"<td>{stacked_bar(claim, models, tone_counts(chosen, True))}</td>"


def agreement_row(claim: str, records: list[ClaimRecord], own_models: bool) -> str:
    """One claim: its bars (paper models and proxies apart), what changed, what was not measured."""
    first = records[0]
    if first.paper:
        own = [agreement_cell(claim, records, "paper")] if own_models else []
        cells = "".join([*own, agreement_cell(claim, records, "proxies")])
    else:
        measured = [r for r in records if r.measured]
        bar = stacked_bar(claim, "beyond", tone_counts(measured, False)) if measured else "none measured"
        cells = f"<td colspan='{2 if own_models else 1}'>{bar} <span class='muted'>(beyond the paper)</span></td>"
    changed = sum(1 for r in records if r.baseline == "changed")
    missing = sum(1 for r in records if not r.measured)
    return (
        f'<tr><th><a href="#{slug(claim)}">{esc(claim)}</a></th>{cells}<td class="num">{changed}</td>'
        f'<td class="num">{missing}</td></tr>'
    )


def agreement_table(claims: list[ClaimRecord]) -> str:
    """Per claim, how many comparisons agree with the paper, disagree or are undecided; those on the paper's own
    models apart from those on proxies, since only the former test the paper's claim as it was made."""
    own_models = any(r.on_paper_models and r.measured for r in claims)
    head = "<th>on the paper's own models</th>" if own_models else ""
    note = "" if own_models else f"<p class='muted'>{esc(NO_PAPER_MODELS)}: every bar below is on proxies.</p>"
    rows = "".join(agreement_row(claim, records, own_models) for claim, records in by_claim(claims).items())
    return (
        f'{note}<table id="agreement"><thead><tr><th>claim</th>{head}<th>on proxies</th><th>changed against the '
        f"recorded baseline</th><th>not measured</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def detail_row(r: ClaimRecord, family_per_row: bool) -> str:
    dataset = r.dataset or {}
    sha = str(dataset.get("sha256") or "")
    statistics = r.statistics
    unit = statistics.unit if statistics else ""
    if statistics and statistics.units:
        unit += f" (n = {statistics.units})"
    holm = number(r.adjusted_p, ".4f") + (f" ({family_label(r.correction_family)})" if family_per_row else "")
    return (
        f'<tr id="{slug(r.claim, r.comparison)}"><td>{esc(r.comparison)}</td>'
        f'<td class="num">{number(r.subject.score, ".4f")}</td><td class="num">{number(r.reference.score, ".4f")}</td>'
        f'<td class="num">{number(r.effect)}</td><td class="num">[{number(r.low)}, {number(r.high)}]</td>'
        f'<td class="num">{esc(holm)}</td><td>{esc(unit)}</td>'
        f'<td><span class="badge v-{esc(verdict_of(r))}">{esc(verdict_of(r))}</span></td>'
        f'<td><span class="badge t-{tone(r)}">{esc(agreement_text(r))}</span></td>'
        f"<td>{esc(baseline_text(r))}</td><td>{esc(why_text(r))}</td><td>{esc(r.outcome or '')}</td>"
        f'<td class="num">{esc(r.items if r.items is not None else "")}</td>'
        f'<td><code title="{esc(sha)}">{esc(dataset.get("dataset", ""))} {esc(sha[:12])}</code></td></tr>'
    )


def families_of(records: Iterable[ClaimRecord]) -> dict[str, CorrectionFamily]:
    return {r.correction_family.id: r.correction_family for r in records}


def claim_section(claim: str, records: list[ClaimRecord]) -> str:
    first = records[0]
    families = families_of(records)
    family_per_row = len({(f.id, f.size) for f in families.values()}) > 1
    holm = "Holm p (family per row)" if family_per_row else f"Holm p ({family_label(first.correction_family)})"
    described = "; ".join(f"{f.describe()}, {f.in_session} of {f.size} in this session" for f in families.values())
    caption = f"Intervals not adjusted for the family; each verdict comes from the Holm p within it ({described})."
    where = "a claim of the paper" if first.paper else "beyond the paper"
    return (
        f'<section id="{slug(claim)}"><h3>{esc(claim)} — {esc(first.statement)}</h3>'
        f'<p class="muted">{esc(first.section)} · {where} · metric {esc(first.metric + first.params_text)} · '
        f"direction {esc(first.direction)} · margin {first.margin:+g}</p>{deviations_block(records)}"
        f"{forest_plot(records)}"
        f'<p class="muted caption">{esc(caption)}</p>'
        "<table><thead><tr><th>comparison</th><th>subject</th><th>reference</th><th>effect</th>"
        f"<th>95% interval (not adjusted)</th><th>{esc(holm)}</th><th>resampling unit</th><th>verdict</th>"
        "<th>agreement with the paper</th><th>baseline</th><th>note / why</th><th>test</th><th>items</th>"
        f"<th>dataset sha256</th></tr></thead><tbody>{''.join(detail_row(r, family_per_row) for r in records)}"
        "</tbody></table></section>"
    )


def deviations_block(records: list[ClaimRecord]) -> str:
    """The paper's protocol for the claim, then each distinct way its comparisons differ from it, with which
    comparisons (and, for a model's deviation, which embedder) it concerns."""
    protocol = next((r.paper_protocol for r in records if r.paper_protocol), "")
    parts = [f"<p><b>The paper's protocol:</b> {esc(protocol or 'not recorded')}</p>"]
    unrecorded = [r for r in records if r.version < 3]
    found = deviations_of(r for r in records if r.version >= 3)
    items = []
    for deviation, concerned in found.items():
        names = [r.comparison for r in concerned]
        which = f"all {len(records)} comparisons" if len(names) == len(records) else ", ".join(names)
        side = f"embedder {deviation.side}; " if deviation.side else ""
        items.append(
            f'<li><span class="badge k-dev">{esc(deviation.aspect)}</span> {esc(deviation.text)} '
            f'<span class="muted">({esc(side)}{esc(which)})</span></li>'
        )
    if items:
        deviating = sum(1 for r in records if r.deviations)
        parts.append(
            f"<p><b>How ours differs:</b> {deviating} of {len(records)} comparisons deviate from it</p>"
            f'<ul class="deviations">{"".join(items)}</ul>'
        )
    elif not unrecorded:
        parts.append("<p><b>How ours differs:</b> no deviation recorded</p>")
    if unrecorded:
        parts.append(
            f'<p class="muted">{len(unrecorded)} comparisons come from records older than version 3, which did not '
            "record deviations: not known</p>"
        )
    return f'<div class="protocol">{"".join(parts)}</div>'


def claim_sections(claims: list[ClaimRecord]) -> str:
    return "".join(claim_section(claim, records) for claim, records in by_claim(claims).items())


def measurements_table(measurements: list[MeasurementRecord]) -> str:
    if not measurements:
        return "<p class='muted'>no measurements in this session</p>"
    rows = []
    for m in sorted(measurements, key=lambda m: (m.check, m.embedder.name)):
        headline = next((k for k in ("spearman", "accuracy", "pearson") if m.metrics.get(k) is not None), None)
        value = f"{m.metrics[headline]:.4f}" if headline else ""
        coverage = m.metrics.get("coverage")
        rows.append(
            f"<tr><td>{esc(m.check)}</td><td>{esc(m.embedder.name)}</td><td>{esc(headline or '')}</td>"
            f'<td class="num">{value}</td><td class="num">{"" if coverage is None else f"{coverage:.1%}"}</td>'
            f"<td>{esc(m.outcome or '')}</td></tr>"
        )
    return (
        "<table><thead><tr><th>check</th><th>embedder</th><th>metric</th><th>value</th><th>coverage</th>"
        f"<th>test</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def flips_table(found: list[Flip]) -> str:
    if not found:
        return "<p>No verdict flipped.</p>"
    rows = "".join(
        f"<tr><td>{esc(f.claim)}</td><td>{esc(f.comparison)}</td><td>{esc(f.before.started)}</td>"
        f'<td><span class="badge v-{esc(f.before.verdict)}">{esc(f.before.verdict)}</span> → '
        f'<span class="badge v-{esc(f.after.verdict)}">{esc(f.after.verdict)}</span></td>'
        f"<td>{esc(f.after.started)}</td></tr>"
        for f in found
    )
    return (
        '<table id="flips"><thead><tr><th>claim</th><th>comparison</th><th>before</th><th>flip</th><th>after</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def point_title(p: Point) -> str:
    return f"{p.started}: {p.verdict}" + (f" ({p.agreement})" if p.agreement else "")


def history_section(ledgers: list[Ledger]) -> str:
    # a ledger left out of the history (unreadable) holds no records and is no session
    sessions = sorted({lg.started for lg in ledgers if lg.records})
    if len(sessions) < 2:
        return f"<p class='muted'>{len(sessions)} session in the history folder: history needs two or more.</p>"
    series = history(lg for lg in ledgers if lg.records)
    found = flips(series)
    rows = []
    for (claim, comparison), points in sorted(series.items()):
        effects = [p.effect for p in points if p.effect is not None]
        drift = f"{effects[-1] - effects[0]:+.4f}" if len(effects) > 1 else ""
        strip = "".join(f'<i class="v-{esc(p.verdict)}" title="{esc(point_title(p))}"></i>' for p in points)
        count = sum(1 for f in found if (f.claim, f.comparison) == (claim, comparison))
        rows.append(
            f"<tr><td>{esc(claim)}</td><td>{esc(comparison)}</td><td class='num'>{len(points)}</td>"
            f'<td class="strip">{strip}</td><td>{sparkline(points)}</td><td class="num">{drift}</td>'
            f'<td class="num">{count}</td></tr>'
        )
    return (
        f"<p>{len(sessions)} sessions, {esc(sessions[0])} to {esc(sessions[-1])} (ledger formats 1 to 3 alike)."
        f"</p><h3>Verdict flips</h3>{flips_table(found)}"
        "<h3>Effect over time</h3><table><thead><tr><th>claim</th><th>comparison</th><th>sessions</th>"
        "<th>verdicts</th><th>effect (dots coloured by verdict)</th><th>drift</th><th>flips</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def families_text(footer: dict, claims: list[ClaimRecord]) -> str:
    """The session's correction families: from the footer (format 2 and later), from a format 1 footer's one Holm
    family, or, for a session that did not finish, from its claim records."""
    families = footer.get("correction_families")
    if isinstance(families, dict) and families:
        return "; ".join(
            f"{name}: m = {f.get('size', '?')}, {f.get('in_session', '?')} in this session"
            for name, f in sorted(families.items())
            if isinstance(f, dict)
        )
    if footer.get("holm_family_size") is not None:
        return f"one family, the whole session: m = {footer['holm_family_size']} (ledger format 1)"
    found = families_of(claims)
    if found:
        return "; ".join(f"{f.id}: m = {f.size}, {f.in_session} in this session" for _, f in sorted(found.items()))
    return "?"


def embedder_rows(ledger: Ledger) -> str:
    rows = []
    for line in ledger.of_record("embedder"):
        try:
            e = EmbedderRecord.from_json(line)
        except TypeError:  # a line without a name or family describes nothing worth a row
            continue
        rows.append(
            f"<tr><td>{esc(e.name)}</td><td>{esc(e.family)}</td><td><code>{esc(e.fingerprint or '')}</code></td>"
            f"<td>{esc(e.paper_model or 'proxy')}</td><td>{esc(e.weights or '')}</td></tr>"
        )
    return "".join(rows)


def session_facts(ledger: Ledger, claims: list[ClaimRecord]) -> str:
    header, footer = ledger.header, ledger.footer or {}
    env = header.get("environment") or {}
    suite = env.get("suite") or {}
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
    machine = env.get("machine") or {}
    tests = ", ".join(f"{v} {k}" for k, v in sorted((footer.get("tests") or {}).items()))
    commit = str(suite.get("commit") or "?")[:12] + (" (uncommitted changes)" if suite.get("dirty") else "")
    settings = header.get("claims_settings") or {}
    statistics = ", ".join(f"{k} {v}" for k, v in settings.items()) if isinstance(settings, dict) else settings
    return (
        "<table><tbody>"
        f"<tr><th>started</th><td>{esc(header.get('started', '?'))}</td></tr>"
        f"<tr><th>duration</th><td>{esc(footer.get('duration_s', '?'))} s</td></tr>"
        f"<tr><th>tests</th><td>{esc(tests or 'unfinished')}</td></tr>"
        f"<tr><th>suite commit</th><td><code>{esc(commit)}</code></td></tr>"
        f"<tr><th>python, packages</th><td>{esc(env.get('python', '?'))}; {esc(packages)}</td></tr>"
        f"<tr><th>machine</th><td>{esc(machine.get('platform', '?'))}, {esc(machine.get('cpu_count', '?'))} CPUs"
        "</td></tr>"
        f"<tr><th>statistics</th><td>{esc(statistics)}</td></tr>"
        f"<tr><th>correction families (Holm)</th><td>{esc(families_text(footer, claims))}</td></tr>"
        f"<tr><th>command</th><td><code>pytest {esc(' '.join(header.get('arguments') or []))}</code></td></tr>"
        f"<tr><th>ledger</th><td><code>{esc(ledger.path.name)}</code> (format {esc(header.get('format', 1))})"
        "</td></tr></tbody></table>"
        "<details><summary>embedder fingerprints</summary><table><thead><tr><th>embedder</th><th>family</th>"
        f"<th>fingerprint</th><th>paper model</th><th>weights</th></tr></thead><tbody>{embedder_rows(ledger)}"
        "</tbody></table></details>"
    )


def headline(claims: list[ClaimRecord], measurements: list[MeasurementRecord]) -> str:
    verdicts = Counter(verdict_of(r) for r in claims)
    summary = " · ".join(f"{verdicts[v]} {v}" for v in COLOURS if verdicts[v])
    changed = sum(1 for r in claims if r.baseline == "changed")
    return (
        f"<p>{len(claims)} comparisons: {esc(summary)} · {changed} changed against the recorded baseline · "
        f"{len(measurements)} measurements</p>"
    )


def claims_part(claims: list[ClaimRecord]) -> list[str]:
    if not claims:
        return ["<h2 id=\"matrix-title\">Claims matrix</h2><p class='muted'>no claims in this session</p>"]
    return [
        "<h2>How the paper fares, claim by claim</h2>",
        agreement_table(claims),
        '<h2 id="matrix-title">Claims matrix</h2>',
        matrix(claims),
        "<h2>Claims: effects with 95% intervals (not adjusted for the correction family)</h2>",
        f'<p class="muted">{esc(FOREST_NOTE)}</p>',
        claim_sections(claims),
    ]


def render(current: Ledger, earlier: list[Ledger]) -> str:
    claims, measurements = current.claims(), current.measurements()
    earlier = readable_history(earlier)
    problems = [p for lg in (current, *earlier) for p in lg.problems]
    sections = [
        f"<header><h1>embedding-claims · {esc(current.started)}</h1>{headline(claims, measurements)}",
        paper_summary(claims) if claims else "",
        "</header><main>",
        "".join(f'<p class="problems">{esc(p)}</p>' for p in problems),
        *claims_part(claims),
        "<h2>D1: cosine of random word pairs</h2>",
        distributions(claims) or "<p class='muted'>no D1 comparison in this session</p>",
        "<h2>Scale: metric vs LLM parameter count</h2>",
        scale_plots(claims) or "<p class='muted'>no LLM scores in this session</p>",
        "<h2>History</h2>",
        history_section([*earlier, current]),
        "<h2>Measurements</h2>",
        measurements_table(measurements),
        "<h2>Session</h2>",
        session_facts(current, claims),
        "</main>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>embedding-claims dashboard</title><style>{STYLE}</style></head><body>"
        + "".join(sections)
        + (f"<script>{SCRIPT}</script>" if claims else "")
        + "</body></html>\n"
    )


def build_dashboard(current: Ledger, earlier: list[Ledger], out: Path) -> Path:
    """Write out/index.html (atomically) and return the folder. Raises LedgerError when the current ledger's
    claim or measurement records do not read; an earlier ledger's are named on the page instead."""
    write_text_atomically(out / "index.html", render(current, earlier))
    (out / "index.html").chmod(0o644)  # a temporary file's private mode would hide it from a web server
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ledger.dashboard", description="Build the claims dashboard from ledgers, without tests."
    )
    parser.add_argument("ledgers", nargs="+", type=Path, metavar="LEDGER", help="ledger files; the last one is shown")
    parser.add_argument("--history", type=Path, metavar="DIR", help="folder of earlier ledgers for the history")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where index.html goes")
    args = parser.parse_args(argv)
    try:
        ledgers = [read_ledger(p) for p in args.ledgers]
        paths = {p.resolve() for p in args.ledgers}
        more = [read_ledger(p) for p in ledgers_in(args.history) if p.resolve() not in paths] if args.history else []
        current = ledgers[-1]
        for problem in current.problems:
            print(f"warning: {problem}", file=sys.stderr)
        out = build_dashboard(current, [*ledgers[:-1], *more], args.out)
    except (OSError, LedgerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(out / "index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
