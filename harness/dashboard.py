"""A self-contained static HTML dashboard built from ledgers: one index.html with inline CSS, inline SVG charts
drawn here and a few lines of inline script; it fetches nothing and opens from disk.

    python -m harness.dashboard reports/ledger/LATEST.jsonl --history reports/ledger --out reports/dashboard
"""

from __future__ import annotations

import argparse
import html
import itertools
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from embedders.cache import write_text_atomically
from harness.ledger import Ledger, LedgerError, ledgers_in, read_ledger
from harness.summary import short_comparison

COLOURS = {"confirmed": "#1a7f37", "refuted": "#cf222e", "inconclusive": "#bf8700", "skipped": "#8c959f"}
PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781", "#bf3989"]


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def slug(*parts: str) -> str:
    return "c-" + re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")


def key_of(record: dict) -> tuple[str, str]:
    return record["claim"], record["comparison"]


def verdict_of(record: dict) -> str:
    return record.get("verdict") or "skipped"


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class Point:
    started: str
    ledger: str
    verdict: str
    effect: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Flip:
    claim: str
    comparison: str
    before: Point
    after: Point


def history(ledgers: Iterable[Ledger]) -> dict[tuple[str, str], list[Point]]:
    """Each comparison's verdict and effect per session, oldest first."""
    series: dict[tuple[str, str], list[Point]] = {}
    for ledger in sorted(ledgers, key=lambda lg: lg.started):
        for record in ledger.of_kind("claim"):
            point = Point(
                ledger.started,
                ledger.path.name,
                verdict_of(record),
                record.get("effect"),
                record.get("low"),
                record.get("high"),
            )
            series.setdefault(key_of(record), []).append(point)
    return series


def flips(series: dict[tuple[str, str], list[Point]]) -> list[Flip]:
    """Every change of verdict between consecutive sessions that both decided the comparison."""
    found = []
    for (claim, comparison), points in sorted(series.items()):
        decided = [p for p in points if p.verdict != "skipped"]
        for before, after in itertools.pairwise(decided):
            if before.verdict != after.verdict:
                found.append(Flip(claim, comparison, before, after))
    return found


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


def forest_plot(records: list[dict]) -> str:
    """Effect and interval of each comparison of a claim, with the zero line and the claim's margin."""
    decided = [r for r in records if r.get("effect") is not None]
    if not decided:
        return ""
    margin = float(decided[0].get("margin") or 0.0)
    values = [v for r in decided for v in (r["low"], r["high"])] + [0.0, margin]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 0.05
    low, high = low - pad, high + pad
    label_w, plot_w, row_h, top = 330, 420, 22, 24
    height = top + row_h * len(decided) + 30
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
    for i, r in enumerate(sorted(decided, key=lambda r: r["comparison"])):
        y = top + i * row_h + row_h / 2
        colour = COLOURS[verdict_of(r)]
        anchor = slug(r["claim"], r["comparison"])
        parts.append(
            f'<a href="#{anchor}"><text x="{label_w - 8}" y="{y + 4:.1f}" class="label">'
            f"{esc(short_comparison(r, 44))}</text></a>"
            f'<line x1="{x(r["low"]):.1f}" x2="{x(r["high"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="2.5"/><circle cx="{x(r["effect"]):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{esc(r['comparison'])}: {r['effect']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}] "
            f"{esc(verdict_of(r))}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(names: list[str]) -> str:
    return "".join(
        f'<span class="key"><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{esc(n)}</span>'
        for i, n in enumerate(names)
    )


def distributions(claims: list[dict]) -> str:
    """D1: each embedder's histogram of random-pair cosines, as outlines on one axis."""
    histograms: dict[str, dict] = {}
    for r in claims:
        if r.get("metric") != "random-pair-similarity":
            continue
        for side in ("subject", "reference"):
            hist = ((r.get(side) or {}).get("summary") or {}).get("histogram")
            if hist:
                histograms.setdefault(r[side]["name"], hist)
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


def scale_plots(claims: list[dict]) -> str:
    """Each claim metric against LLM parameter count (log scale); other families as dashed reference lines."""
    series: dict[str, dict[str, tuple[str, int, float]]] = {}
    for r in claims:
        metric = r["metric"] + "".join(f"[{v}]" for v in (r.get("params") or {}).values())
        for side in ("subject", "reference"):
            s = r.get(side) or {}
            if s.get("score") is not None:
                series.setdefault(metric, {})[s["name"]] = (s.get("family"), s.get("parameters") or 0, s["score"])
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
                f'<circle cx="{x(i):.1f}" cy="{y(p.effect):.1f}" r="2.6" fill="{COLOURS[p.verdict]}">'
                f"<title>{esc(p.started)}: {p.effect:+.4f} {esc(p.verdict)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------- page


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#24292f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#d0d7de;font-size:13px}main{padding:8px 24px 40px;max-width:1400px}
h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}h3{margin:18px 0 4px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
#matrix td.cell{text-align:center;color:#fff;font-weight:600;min-width:64px;padding:0}
#matrix td.cell a{display:block;color:#fff;text-decoration:none;padding:4px 6px}
#matrix td.unexpected{outline:3px solid #1f2328;outline-offset:-3px}#matrix td.none{background:#f6f8fa}
#matrix th.claim{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;vertical-align:bottom}
.v-confirmed{background:#1a7f37}.v-refuted{background:#cf222e}.v-inconclusive{background:#bf8700}
.v-skipped{background:#8c959f}.badge{color:#fff;border-radius:10px;padding:1px 8px;font-size:12px}
tr:target{background:#fff8c5}.chart{width:100%;max-width:780px;height:auto;display:block}
.chart.small{max-width:470px}figure{display:inline-block;margin:6px 18px 6px 0;vertical-align:top}
figcaption{font-weight:600;font-size:13px}.grid{stroke:#eaeef2}.zero{stroke:#8c959f}
.margin{stroke:#1f2328;stroke-dasharray:5 3}.ref{stroke-dasharray:4 3;stroke-width:1.3}
.tick{font-size:10px;fill:#57606a;text-anchor:middle}.ytick{font-size:10px;fill:#57606a;text-anchor:end}
.note{font-size:10px;fill:#57606a}.label{font-size:11px;fill:#0969da;text-anchor:end}
.legend .key{margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:3px;
margin:0 5px 3px 0;vertical-align:middle}.strip i{display:inline-block;width:10px;height:14px;margin-right:1px}
.problems{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px}.muted{color:#57606a}
.controls{margin:8px 0}.hidden{display:none}details{margin:6px 0}code{font-size:12px}
"""

SCRIPT = """
document.getElementById('only-unexpected').addEventListener('change', function (event) {
  document.querySelectorAll('#matrix tbody tr').forEach(function (row) {
    var odd = row.querySelector('td.unexpected') !== null;
    row.classList.toggle('hidden', event.target.checked && !odd);
  });
});
"""


def matrix(claims: list[dict]) -> str:
    """Comparisons down, claims across: each cell the verdict's colour and the effect, linking to its detail."""
    claim_ids = sorted({r["claim"] for r in claims})
    rows = sorted({r["comparison"] for r in claims})
    cells = {key_of(r): r for r in claims}
    head = "".join(f'<th class="claim">{esc(c)}</th>' for c in claim_ids)
    body = []
    for comparison in rows:
        tds = []
        for claim in claim_ids:
            r = cells.get((claim, comparison))
            if r is None:
                tds.append('<td class="none"></td>')
                continue
            verdict = verdict_of(r)
            unexpected = r.get("expected") and verdict not in (r["expected"], "skipped")
            text = f"{r['effect']:+.3f}" if r.get("effect") is not None else "skip"
            title = f"{claim} · {comparison}: {verdict}" + (f" (expected {r['expected']})" if unexpected else "")
            tds.append(
                f'<td class="cell v-{verdict}{" unexpected" if unexpected else ""}" data-claim="{esc(claim)}" '
                f'data-comparison="{esc(comparison)}" data-verdict="{verdict}" title="{esc(title)}">'
                f'<a href="#{slug(claim, comparison)}">{text}</a></td>'
            )
        body.append(f"<tr><th>{esc(comparison)}</th>{''.join(tds)}</tr>")
    key = " ".join(f'<span class="badge v-{v}">{v}</span>' for v in COLOURS)
    return (
        f'<div class="controls">{key} · outlined: not the expected verdict · <label><input type="checkbox" '
        'id="only-unexpected"> only comparisons with an unexpected verdict</label></div>'
        f'<table id="matrix"><thead><tr><th>comparison</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def claim_sections(claims: list[dict]) -> str:
    out = []
    by_claim: dict[str, list[dict]] = {}
    for r in claims:
        by_claim.setdefault(r["claim"], []).append(r)
    for claim in sorted(by_claim):
        records = sorted(by_claim[claim], key=lambda r: r["comparison"])
        first = records[0]
        rows = []
        for r in records:
            verdict = verdict_of(r)
            subject, reference = r.get("subject") or {}, r.get("reference") or {}
            dataset = r.get("dataset") or {}
            number = lambda v, f="+.4f": "" if v is None else format(v, f)  # noqa: E731
            rows.append(
                f'<tr id="{slug(claim, r["comparison"])}"><td>{esc(r["comparison"])}</td>'
                f'<td class="num">{number(subject.get("score"), ".4f")}</td>'
                f'<td class="num">{number(reference.get("score"), ".4f")}</td>'
                f'<td class="num">{number(r.get("effect"))}</td>'
                f'<td class="num">[{number(r.get("low"))}, {number(r.get("high"))}]</td>'
                f'<td class="num">{number(r.get("adjusted_p"), ".4f")}</td>'
                f'<td><span class="badge v-{verdict}">{verdict}</span></td><td>{esc(r.get("expected", ""))}</td>'
                f'<td>{esc(r.get("outcome", ""))}</td><td class="num">{r.get("items", "")}</td>'
                f'<td><code title="{esc(dataset.get("sha256", ""))}">{esc(dataset.get("dataset", ""))} '
                f"{esc(str(dataset.get('sha256', ''))[:12])}</code></td></tr>"
            )
        out.append(
            f'<section id="{slug(claim)}"><h3>{esc(claim)} — {esc(first.get("statement", ""))}</h3>'
            f'<p class="muted">{esc(first.get("section", ""))} · metric {esc(first["metric"])} · direction '
            f"{esc(first.get('direction', ''))} · margin {first.get('margin', 0):+g}</p>{forest_plot(records)}"
            "<table><thead><tr><th>comparison</th><th>subject</th><th>reference</th><th>effect</th>"
            "<th>95% interval</th><th>Holm p</th><th>verdict</th><th>expected</th><th>test</th><th>items</th>"
            f"<th>dataset sha256</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
        )
    return "".join(out)


def measurements_table(measurements: list[dict]) -> str:
    if not measurements:
        return "<p class='muted'>no measurements in this session</p>"
    rows = []
    for m in sorted(measurements, key=lambda m: (m["check"], m["embedder"]["name"])):
        metrics = m["metrics"]
        headline = next((k for k in ("spearman", "accuracy", "pearson") if metrics.get(k) is not None), None)
        value = f"{metrics[headline]:.4f}" if headline else ""
        rows.append(
            f"<tr><td>{esc(m['check'])}</td><td>{esc(m['embedder']['name'])}</td><td>{esc(headline or '')}</td>"
            f'<td class="num">{value}</td><td class="num">{metrics.get("coverage", 0):.1%}</td>'
            f"<td>{esc(m.get('outcome', ''))}</td></tr>"
        )
    return (
        "<table><thead><tr><th>check</th><th>embedder</th><th>metric</th><th>value</th><th>coverage</th>"
        f"<th>test</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def history_section(ledgers: list[Ledger]) -> str:
    series = history(ledgers)
    sessions = len({lg.started for lg in ledgers})
    if sessions < 2:
        return f"<p class='muted'>{sessions} session in the history folder: history needs two or more.</p>"
    found = flips(series)
    flip_rows = "".join(
        f"<tr><td>{esc(f.claim)}</td><td>{esc(f.comparison)}</td><td>{esc(f.before.started)}</td>"
        f'<td><span class="badge v-{f.before.verdict}">{f.before.verdict}</span> → '
        f'<span class="badge v-{f.after.verdict}">{f.after.verdict}</span></td><td>{esc(f.after.started)}</td></tr>'
        for f in found
    )
    flips_html = (
        f'<table id="flips"><thead><tr><th>claim</th><th>comparison</th><th>before</th><th>flip</th><th>after</th>'
        f"</tr></thead><tbody>{flip_rows}</tbody></table>"
        if found
        else "<p>No verdict flipped.</p>"
    )
    rows = []
    for (claim, comparison), points in sorted(series.items()):
        effects = [p.effect for p in points if p.effect is not None]
        drift = f"{effects[-1] - effects[0]:+.4f}" if len(effects) > 1 else ""
        strip = "".join(f'<i class="v-{p.verdict}" title="{esc(p.started)}: {esc(p.verdict)}"></i>' for p in points)
        count = sum(1 for f in found if (f.claim, f.comparison) == (claim, comparison))
        rows.append(
            f"<tr><td>{esc(claim)}</td><td>{esc(comparison)}</td><td class='num'>{len(points)}</td>"
            f'<td class="strip">{strip}</td><td>{sparkline(points)}</td><td class="num">{drift}</td>'
            f'<td class="num">{count}</td></tr>'
        )
    return (
        f"<p>{sessions} sessions, {esc(min(lg.started for lg in ledgers))} to "
        f"{esc(max(lg.started for lg in ledgers))}.</p><h3>Verdict flips</h3>{flips_html}"
        "<h3>Effect over time</h3><table><thead><tr><th>claim</th><th>comparison</th><th>sessions</th>"
        "<th>verdicts</th><th>effect (dots coloured by verdict)</th><th>drift</th><th>flips</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def session_facts(ledger: Ledger) -> str:
    header, footer = ledger.header, ledger.footer or {}
    env = header.get("environment") or {}
    suite = env.get("suite") or {}
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
    machine = env.get("machine") or {}
    tests = ", ".join(f"{v} {k}" for k, v in sorted((footer.get("tests") or {}).items()))
    commit = str(suite.get("commit") or "?")[:12] + (" (uncommitted changes)" if suite.get("dirty") else "")
    embedders = "".join(
        f"<tr><td>{esc(e.get('name'))}</td><td>{esc(e.get('family'))}</td><td><code>{esc(e.get('fingerprint'))}"
        f"</code></td><td>{esc(e.get('weights', ''))}</td></tr>"
        for e in ledger.of_kind("embedder")
    )
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
        f"<tr><th>statistics</th><td>{esc(statistics)}"
        f"; Holm family {esc(footer.get('holm_family_size', '?'))}</td></tr>"
        f"<tr><th>command</th><td><code>pytest {esc(' '.join(header.get('arguments') or []))}</code></td></tr>"
        f"<tr><th>ledger</th><td><code>{esc(ledger.path.name)}</code></td></tr>"
        "</tbody></table>"
        f"<details><summary>embedder fingerprints</summary><table><thead><tr><th>embedder</th><th>family</th>"
        f"<th>fingerprint</th><th>weights</th></tr></thead><tbody>{embedders}</tbody></table></details>"
    )


def render(current: Ledger, earlier: list[Ledger]) -> str:
    claims, measurements = current.of_kind("claim"), current.of_kind("measurement")
    problems = [p for lg in (current, *earlier) for p in lg.problems]
    counts = {v: sum(1 for r in claims if verdict_of(r) == v) for v in COLOURS}
    summary = " · ".join(f"{n} {v}" for v, n in counts.items() if n)
    unexpected = sum(1 for r in claims if r.get("expected") and verdict_of(r) not in (r["expected"], "skipped"))
    sections = [
        f"<header><h1>embedding-claims · {esc(current.started)}</h1><p>{len(claims)} comparisons: "
        f"{esc(summary)} · {unexpected} not as expected · {len(measurements)} measurements</p></header><main>",
        "".join(f'<p class="problems">{esc(p)}</p>' for p in problems),
        '<h2 id="matrix-title">Claims matrix</h2>',
        matrix(claims) if claims else "<p class='muted'>no claims in this session</p>",
        "<h2>Claims: effects with 95% intervals</h2>",
        '<p class="muted">Subject minus reference, oriented so that the claim\'s direction is positive; the dashed '
        "line is the claim's margin. Dots and intervals coloured by verdict.</p>",
        claim_sections(claims),
        "<h2>D1: cosine of random word pairs</h2>",
        distributions(claims) or "<p class='muted'>no D1 comparison in this session</p>",
        "<h2>Scale: metric vs LLM parameter count</h2>",
        scale_plots(claims) or "<p class='muted'>no LLM scores in this session</p>",
        "<h2>History</h2>",
        history_section([*earlier, current]),
        "<h2>Measurements</h2>",
        measurements_table(measurements),
        "<h2>Session</h2>",
        session_facts(current),
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
    """Write out/index.html (atomically) and return the folder."""
    write_text_atomically(out / "index.html", render(current, earlier))
    (out / "index.html").chmod(0o644)  # a temporary file's private mode would hide it from a web server
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.dashboard", description="Build the claims dashboard from ledgers, without tests."
    )
    parser.add_argument("ledgers", nargs="+", type=Path, metavar="LEDGER", help="ledger files; the last one is shown")
    parser.add_argument("--history", type=Path, metavar="DIR", help="folder of earlier ledgers for the history")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where index.html goes")
    args = parser.parse_args(argv)
    try:
        ledgers = [read_ledger(p) for p in args.ledgers]
        paths = {p.resolve() for p in args.ledgers}
        more = [read_ledger(p) for p in ledgers_in(args.history) if p.resolve() not in paths] if args.history else []
    except (OSError, LedgerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    current = ledgers[-1]
    for problem in current.problems:
        print(f"warning: {problem}", file=sys.stderr)
    out = build_dashboard(current, [*ledgers[:-1], *more], args.out)
    print(out / "index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
