"""The claims section printed at the end of a session, each line at most 100 columns whatever the names: how
the paper fares, one line per claim, then the comparisons."""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable

from evals.records import ClaimRecord, Deviation

WIDTH = 100
COMPARISON_WIDTH = 42
AGREEMENT = ("agrees", "disagrees", "undecided")
DEVIATION_LEGEND = (
    "dev: how many ways a comparison's protocol differs from the paper's (a stand-in dataset, a proxy model, "
    "quantised or instruction-tuned weights, another protocol); blank: none recorded; the dashboard lists them"
)


def short_name(name: str, width: int) -> str:
    """An embedder name in at most ``width`` characters: FORMAT:PATH becomes FORMAT:basename, openai:MODEL@BASE_URL
    openai:MODEL, then the middle goes."""
    if name.startswith("openai:") and "@" in name:
        # the served model tells comparisons apart; the URL's last part ("v1") would not (the model ends at '@')
        name = name.partition("@")[0]
    elif ":" in name and "/" in name:
        path_format, _, path = name.partition(":")
        name = f"{path_format}:{path.rstrip('/').rsplit('/', 1)[-1]}"
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    return name[:head] + "…" + name[len(name) - (width - 1 - head) :]


def short_comparison(record: ClaimRecord, width: int = COMPARISON_WIDTH) -> str:
    """SUBJECT vs REFERENCE [@ANCHOR], each name shortened just enough to fit ``width``."""
    names = [e.name for e in record.embedders]
    glue = len(" vs ") + (len(" @") if record.anchor else 0)
    budget = width - glue
    lengths = [len(n) for n in names]
    # shrink the longest name one character at a time: short names stay whole
    while sum(lengths) > budget:
        longest = max(range(len(lengths)), key=lambda i: lengths[i])
        lengths[longest] -= 1
    parts = [short_name(n, k) for n, k in zip(names, lengths, strict=True)]
    text = f"{parts[0]} vs {parts[1]}"
    return f"{text} @{parts[2]}" if record.anchor else text


def counts(records: Iterable[ClaimRecord]) -> str:
    """'A agree, B disagree, C undecided' over the measured comparisons of paper claims."""
    found = Counter(r.agreement for r in records if r.agreement)
    return f"{found['agrees']} agree, {found['disagrees']} disagree, {found['undecided']} undecided"


def _llm_scale(records: list[ClaimRecord]) -> str:
    """Which LLMs the session's verdicts rest on: the paper's own, or smaller stand-ins."""
    llms = {e.name: e for r in records for e in r.embedders if e.family in ("llm", "api")}
    proxies = sorted((e.parameters or 0, name) for name, e in llms.items() if not e.paper_model)
    own = sorted(name for name, e in llms.items() if e.paper_model)
    parts = []
    if proxies:
        sizes = sorted({f"{p / 1e6:,.0f}M" for p, _ in proxies if p}, key=lambda s: float(s[:-1].replace(",", "")))
        span = f"{sizes[0]}-{sizes[-1]} " if len(sizes) > 1 else f"{sizes[0]} " if sizes else ""
        parts.append(f"the LLMs here are {span}proxies ({', '.join(n for _, n in proxies)})")
    if own:
        parts.append(f"the paper's own here: {', '.join(own)}")
    parts.append("the paper's open LLMs are 7B-8B (LLaMA-2/3, Mistral, OLMo) and its API embedders ADA and PaLM")
    return "; ".join(parts)


def paper_text(records: list[ClaimRecord]) -> list[str]:
    """How the paper fares, in two paragraphs: agreement over the paper's claims (on its own models and on proxies
    apart) and which LLMs that rests on; then the recorded baseline."""
    paper = [r for r in records if r.agreement]
    own = [r for r in paper if r.on_paper_models]
    text = f"paper agreement: of {len(paper)} comparisons, {counts(paper)}"
    if own:
        text += f" (on the paper's own models: {counts(own)}; on proxies: {counts(r for r in paper if r not in own)})"
    changed = sum(1 for r in records if r.baseline == "changed")
    deviated = sum(1 for r in records if r.deviated)
    baseline = (
        f"recorded baseline: {sum(1 for r in records if r.measured) - changed} as recorded ({deviated} of them "
        f"recorded deviations from the claim), {changed} changed"
    )
    return [text + "; " + _llm_scale(records), baseline]


def paper_lines(records: list[ClaimRecord]) -> list[str]:
    """paper_text for a terminal: opens the claims section."""
    return [line for text in paper_text(records) for line in textwrap.wrap(text, WIDTH, subsequent_indent="  ")]


def claim_lines(records: list[ClaimRecord]) -> list[str]:
    """One line per claim: its agreement counts with the paper, and how many comparisons changed."""
    lines = []
    for claim, group in by_claim(records).items():
        measured = [r for r in group if r.measured]
        changed = sum(1 for r in measured if r.baseline == "changed")
        if group[0].paper:
            what = counts(measured)
        else:
            found = Counter(str(r.verdict) for r in measured)
            what = ", ".join(f"{n} {v}" for v, n in sorted(found.items())) + " (beyond the paper)"
        unmeasured = f", {len(group) - len(measured)} not measured" if len(measured) < len(group) else ""
        lines.append(f"{claim:<17} of {len(group):>2}: {what}{unmeasured}; {changed} changed"[:WIDTH])
        lines.extend(deviation_lines(group))
    return lines


def deviations_of(records: Iterable[ClaimRecord]) -> dict[Deviation, list[ClaimRecord]]:
    """Each distinct deviation of the records, in order of first appearance, with the comparisons it concerns."""
    found: dict[Deviation, list[ClaimRecord]] = {}
    for record in records:
        for deviation in record.deviations:
            found.setdefault(deviation, []).append(record)
    return found


def deviation_lines(group: list[ClaimRecord]) -> list[str]:
    """'N of M comparisons deviate from the paper's protocol: ...', the distinct texts in at most three lines."""
    deviating = [r for r in group if r.deviations]
    if not deviating:
        return []
    texts = "; ".join(dict.fromkeys(d.text for d in deviations_of(deviating)))
    text = f"{len(deviating)} of {len(group)} comparisons deviate from the paper's protocol: {texts}"
    return textwrap.wrap(
        text, WIDTH, initial_indent="  ", subsequent_indent="    ", max_lines=3, placeholder=" … (dashboard: all)"
    )


def by_claim(records: Iterable[ClaimRecord]) -> dict[str, list[ClaimRecord]]:
    """The records grouped by claim, claims and each claim's comparisons in order."""
    groups: dict[str, list[ClaimRecord]] = {}
    for record in records:
        groups.setdefault(record.claim, []).append(record)
    return {claim: sorted(groups[claim], key=lambda r: r.comparison) for claim in sorted(groups)}


def claims_table(records: list[ClaimRecord]) -> list[str]:
    """Claims x comparisons: a line per claim, then a line per comparison with its effect, the interval (not
    adjusted for the family), the Holm-adjusted p-value the verdict is decided by, how many ways it deviates from
    the paper's protocol, and the verdict; a legend closes it."""
    lines = [
        f"  {'subject vs reference @anchor':<{COMPARISON_WIDTH}} {'effect':>7} {'95% CI unadj.':<15} "
        f"{'Holm p':>6} dev verdict"
    ]
    for claim, group in by_claim(records).items():
        first = group[0]
        family = first.correction_family
        left_out = "" if family.whole else f" ({family.size - family.in_session} not run: p = 1)"
        lines.append(
            f"{claim} · {first.metric}{first.params_text} · margin {first.margin:+g} · Holm in {family.id}, "
            f"m = {family.size}{left_out}"[:WIDTH]
        )
        for r in group:
            numbers = f"{'':>7} {'':<15} {'':>6}"
            if r.effect is not None:
                numbers = f"{r.effect:>+7.3f} {f'[{r.low:+.3f},{r.high:+.3f}]':<15} {r.adjusted_p:>6.4f}"
            lines.append(
                f"  {short_comparison(r):<{COMPARISON_WIDTH}} {numbers} {len(r.deviations) or '':>3} {r.label}"
            )
            if r.baseline == "changed":
                lines.append(f"      recorded: {r.expected}; {r.claim} {r.comparison} changed"[:WIDTH])
    return lines + textwrap.wrap(DEVIATION_LEGEND, WIDTH, subsequent_indent="  ")


def scale_table(records: list[ClaimRecord]) -> list[str]:
    """Each claim metric against LLM size, smallest LLM first, wrapped to the terminal width."""
    scale: dict[str, dict[str, tuple[int, float]]] = {}
    for r in records:
        for side in (r.subject, r.reference):
            if side.embedder.family == "llm" and side.score is not None:
                scale.setdefault(r.metric + r.params_text, {})[side.embedder.name] = (
                    side.embedder.parameters or 0,
                    side.score,
                )
    lines = []
    for key, models in sorted(scale.items()):
        by_size = sorted(models.items(), key=lambda kv: kv[1][0])
        cells = [f"{short_name(n, 24)} ({p / 1e6:,.0f}M) {v:.4f}" for n, (p, v) in by_size]
        lines.extend(textwrap.wrap(f"{key}: " + "  ·  ".join(cells), WIDTH, subsequent_indent="    "))
    return lines
