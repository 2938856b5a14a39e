"""The claims tables printed at the end of a session, each line at most 100 columns whatever the names."""

from __future__ import annotations

import textwrap

WIDTH = 100
COMPARISON_WIDTH = 43


def short_name(name: str, width: int) -> str:
    """An embedder name in at most ``width`` characters: KIND:PATH becomes KIND:basename, then the middle goes."""
    if ":" in name and "/" in name:
        kind, _, path = name.partition(":")
        name = f"{kind}:{path.rstrip('/').rsplit('/', 1)[-1]}"
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head) :]


def short_comparison(record: dict, width: int = COMPARISON_WIDTH) -> str:
    """SUBJECT vs REFERENCE [@ANCHOR], each name shortened just enough to fit ``width``."""
    names = [record["subject"]["name"], record["reference"]["name"]]
    anchor = (record.get("anchor") or {}).get("name")
    if anchor is None and "(anchor " in record["comparison"]:
        anchor = record["comparison"].split("(anchor ", 1)[1].rstrip(")")
    if anchor:
        names.append(anchor)
    glue = len(" vs ") + (len(" @") if anchor else 0)
    budget = width - glue
    lengths = [len(n) for n in names]
    # shrink the longest name one character at a time: short names stay whole
    while sum(lengths) > budget:
        longest = max(range(len(lengths)), key=lambda i: lengths[i])
        lengths[longest] -= 1
    parts = [short_name(n, k) for n, k in zip(names, lengths, strict=True)]
    text = f"{parts[0]} vs {parts[1]}"
    return f"{text} @{parts[2]}" if anchor else text


def verdict_text(record: dict) -> str:
    verdict, expected = record.get("verdict") or "skipped", record.get("expected")
    if expected is None or verdict == expected or verdict == "skipped":
        return verdict
    return f"{verdict.upper()} (exp. {expected})"


def claims_table(records: list[dict]) -> list[str]:
    """Claims × comparisons: a line per claim, then a line per comparison with effect, interval, verdict
    (Holm p and the rest are in the ledger and the dashboard)."""
    lines = [f"  {'subject vs reference @anchor':<{COMPARISON_WIDTH}} {'effect':>7} {'95% interval':<15}  verdict"]
    by_claim: dict[str, list[dict]] = {}
    for record in records:
        by_claim.setdefault(record["claim"], []).append(record)
    for claim in sorted(by_claim):
        first = by_claim[claim][0]
        metric = first["metric"] + "".join(f"[{v}]" for v in (first.get("params") or {}).values())
        lines.append(f"{claim} · {metric} · margin {first['margin']:+g}"[:WIDTH])
        for r in sorted(by_claim[claim], key=lambda r: r["comparison"]):
            if r.get("effect") is None:
                lines.append(f"  {short_comparison(r):<{COMPARISON_WIDTH}} {'':>7} {'':<15}  skipped")
                continue
            interval = f"[{r['low']:+.3f},{r['high']:+.3f}]"
            lines.append(
                f"  {short_comparison(r):<{COMPARISON_WIDTH}} {r['effect']:>+7.3f} {interval:<15}  {verdict_text(r)}"
            )
    return lines


def scale_table(records: list[dict]) -> list[str]:
    """Each claim metric against LLM size, smallest LLM first, wrapped to the terminal width."""
    scale: dict[str, dict[str, tuple[int, float]]] = {}
    for r in records:
        for side in ("subject", "reference"):
            s = r[side]
            if s.get("family") == "llm" and s.get("score") is not None:
                key = r["metric"] + "".join(f"[{v}]" for v in (r.get("params") or {}).values())
                scale.setdefault(key, {})[s["name"]] = (s.get("parameters") or 0, s["score"])
    lines = []
    for key, models in sorted(scale.items()):
        by_size = sorted(models.items(), key=lambda kv: kv[1][0])
        cells = [f"{short_name(n, 24)} ({p / 1e6:,.0f}M) {v:.4f}" for n, (p, v) in by_size]
        lines.extend(textwrap.wrap(f"{key}: " + "  ·  ".join(cells), WIDTH, subsequent_indent="    "))
    return lines
