"""Re-record the expected verdicts (the baseline) of a claims file from a session's ledger.

    python -m evals.claims.baseline reports/ledger/LATEST.jsonl [--claims evals/claims.toml]

Every ``[[claim.expect]]`` of the file is replaced: a comparison whose verdict in the ledger is not "confirmed"
gets one, naming the verdict and what was measured (both scores, the effect, the unadjusted interval, the Holm p
and its correction family, the resampling unit), nothing else. Hand-written text outside the expect tables is
kept. The ledger must come from a session that ran every comparison of its correction families (the default
session): a smaller one is less decisive and would record that.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from embedders import EMBEDDERS
from embedders.declarations import DeclarationsError, load_declarations
from embedders.disk import write_text_atomically
from evals.claims.spec import CLAIMS_PATH, Claim, ClaimsFileError, comparisons, load_claims
from evals.records import ClaimRecord, Verdict

HEADER = re.compile(r"^\s*\[\[?([A-Za-z0-9_.]+)\]\]?\s*(#.*)?$")
MARK = "# expected verdicts recorded from"


def why(record: ClaimRecord) -> str:
    """What was measured, in numbers and model names only."""
    family = record.correction_family
    subject, reference = record.subject, record.reference
    scores = f"{subject.embedder.name} {subject.score:.3f} vs {reference.embedder.name} {reference.score:.3f}"
    return (
        f"{scores}: effect {record.effect:+.3f}, unadjusted 95% interval [{record.low:+.3f}, {record.high:+.3f}], "
        f"Holm p {record.adjusted_p:.4f} in correction family {family.id} (m = {family.size}), resampling "
        f"{record.statistics.unit if record.statistics else '?'}"
    )


def expect_tables(records: Iterable[ClaimRecord]) -> list[str]:
    lines = []
    for record in sorted(records, key=lambda r: r.comparison):
        if record.verdict in (None, Verdict.CONFIRMED):
            continue
        text = why(record) if record.effect is not None else (record.note or "no effect measured")
        lines += [
            "",
            "[[claim.expect]]",
            f"comparison = {_string(glob.escape(record.comparison))}",  # a pattern: its brackets escaped
            f'verdict = "{record.verdict}"',
            f"why = {_string(text)}",
        ]
    return lines


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rewrite(text: str, records: list[ClaimRecord], source: str) -> str:
    """The claims file with the expect tables of the records' claims replaced by those the records call for; the
    tables of other claims, and every other line, stay as they are."""
    by_claim: dict[str, list[ClaimRecord]] = {}
    for record in records:
        by_claim.setdefault(record.claim, []).append(record)
    blocks = _claim_blocks(text.splitlines())
    out: list[str] = []
    for claim_id, lines in blocks:
        if claim_id not in by_claim:
            out += lines
            continue
        kept = _without_expect_tables(lines)
        # the new tables go after the claim's last key: a comment or blank line after it belongs to what follows
        last = max((i for i, line in enumerate(kept) if line.strip() and not line.lstrip().startswith("#")), default=0)
        out += [*kept[: last + 1], *_recorded(by_claim[claim_id], source), *kept[last + 1 :]]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out).rstrip("\n") + "\n")


def _claim_blocks(lines: list[str]) -> list[tuple[str | None, list[str]]]:
    """The file cut at each [[claim]] header: (claim id or None for what comes before the first, its lines)."""
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in lines:
        header = HEADER.match(line)
        if header and header.group(1) == "claim":
            blocks.append((None, []))
        claim_id, block = blocks[-1]
        if claim_id is None and len(blocks) > 1 and (found := re.match(r'^\s*id\s*=\s*"([^"]*)"', line)):
            blocks[-1] = (found.group(1), block)
        block.append(line)
    return blocks


def _without_expect_tables(lines: list[str]) -> list[str]:
    kept, in_expect = [], False
    for line in lines:
        header = HEADER.match(line)
        if header:
            in_expect = header.group(1) == "claim.expect"
        elif in_expect and (not line.strip() or line.lstrip().startswith("#")):
            in_expect = False  # a blank line or a comment ends the table's keys
        if not in_expect and not line.startswith(MARK):
            kept.append(line)
    return kept


def _recorded(records: list[ClaimRecord], source: str) -> list[str]:
    tables = expect_tables(records)
    return ["", f"{MARK} {source}, where they differ from the claim's", *tables[1:]] if tables else []


def _possible(claim: Claim, records: list[ClaimRecord]) -> bool:
    """Whether the claim has a comparison among the registered embedders the ledger's session had (a claim whose
    sides are all missing there, such as the API claims without a key, has none and needs none)."""
    names = {e.name for r in records for e in (r.subject.embedder, r.reference.embedder, r.anchor) if e is not None}
    entries = [EMBEDDERS[name] for name in sorted(names) if name in EMBEDDERS]
    if len(entries) < len(names):  # an embedder given by path: the session's full set cannot be rebuilt
        return True
    return bool(comparisons(claim, entries, None))


def problems(records: list[ClaimRecord], claims: list[Claim]) -> list[str]:
    """Why these records cannot be the baseline of a claims file with these claims; none when they can."""
    found = []
    claim_ids = {c.id for c in claims}
    if any(r.version < 2 for r in records):
        found.append("it is a format 1 ledger, made with other statistics")
    seen = {r.claim for r in records}
    if missing := [c.id for c in claims if c.id not in seen and _possible(c, records)]:
        found.append(f"it has no comparison of claims {', '.join(sorted(missing))}")
    if unknown := {r.claim for r in records} - claim_ids:
        found.append(f"its claims {', '.join(sorted(unknown))} are not in the claims file")
    if partial := sorted({r.correction_family.id for r in records if not r.correction_family.whole}):
        found.append(f"it ran only part of correction families {', '.join(partial)}")
    if failed := [f"{r.claim} {r.comparison}" for r in records if r.error]:
        found.append(f"comparisons failed: {', '.join(failed[:3])}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.claims.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path, help="the ledger of a default session")
    parser.add_argument("--claims", type=Path, default=CLAIMS_PATH, help="the claims file to rewrite")
    args = parser.parse_args(argv)
    from ledger.file import LedgerError, read_ledger

    try:
        ledger = read_ledger(args.ledger)
        records = ledger.claims()
        text = args.claims.read_text(encoding="utf-8")
        # the suite's declared embedders, which the ledger's comparisons and the file's expectations may name
        declared = list(load_declarations().entries.values())
        _, claims = load_claims(args.claims, declared)
    except (OSError, LedgerError, ClaimsFileError, DeclarationsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if found := problems(records, claims):
        print(f"error: {args.ledger} cannot be the baseline of {args.claims}: {'; '.join(found)}", file=sys.stderr)
        return 2
    try:
        write_text_atomically(args.claims, rewrite(text, records, f"{args.ledger.name} ({ledger.started})"))
        expected = {c.id: c for c in load_claims(args.claims, declared)[1]}
        wrong = [
            r.comparison
            for r in records
            if r.verdict and expected[r.claim].expected_verdict(r.comparison)[0] is not r.verdict
        ]
        if wrong:
            raise ValueError(f"the rewritten file would not expect what was measured for {wrong[:3]}")
    except Exception as error:  # never leave a file we made wrong or unreadable
        write_text_atomically(args.claims, text)
        print(f"error: {error}; {args.claims} is left as it was", file=sys.stderr)
        return 1
    print(f"{args.claims}: {sum(1 for r in records if r.verdict not in (None, Verdict.CONFIRMED))} expected verdicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
