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

from embedders.cache import write_text_atomically
from evals.claims.spec import CLAIMS_PATH, ClaimsFileError, load_claims
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
    """The claims file with its expect tables replaced by those the records call for."""
    by_claim: dict[str, list[ClaimRecord]] = {}
    for record in records:
        by_claim.setdefault(record.claim, []).append(record)
    kept: list[str] = []
    in_expect = False
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            in_expect = header.group(1) == "claim.expect"
        elif in_expect and (not line.strip() or line.lstrip().startswith("#")):
            in_expect = False  # a blank line or a comment ends the table's keys
        if in_expect or line.startswith(MARK):
            continue
        kept.append(line)
    out: list[str] = []
    claim_id: str | None = None
    pending = False  # inside a [[claim]] table whose expect tables are not written yet
    for line in [*kept, ""]:
        header = HEADER.match(line)
        if pending and (not line.strip() or header):
            out += _recorded(by_claim.get(claim_id or "", []), source)
            pending = False
        if header and header.group(1) == "claim":
            claim_id, pending = None, True
        if pending and (found := re.match(r'^\s*id\s*=\s*"([^"]*)"', line)):
            claim_id = found.group(1)
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out).rstrip("\n") + "\n")


def _recorded(records: list[ClaimRecord], source: str) -> list[str]:
    tables = expect_tables(records)
    return ["", f"{MARK} {source}, where they differ from the claim's", *tables[1:]] if tables else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.claims.baseline", description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path, help="the ledger of a default session")
    parser.add_argument("--claims", type=Path, default=CLAIMS_PATH, help="the claims file to rewrite")
    args = parser.parse_args(argv)
    from harness.ledger import LedgerError, read_ledger

    try:
        ledger = read_ledger(args.ledger)
        records = ledger.claims()
        text = args.claims.read_text(encoding="utf-8")
    except (OSError, LedgerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    partial = sorted({r.correction_family.id for r in records if not r.correction_family.whole})
    if partial:
        print(f"error: {args.ledger} ran only part of correction families {', '.join(partial)}", file=sys.stderr)
        return 2
    source = f"{args.ledger.name} ({ledger.started})"
    updated = rewrite(text, records, source)
    write_text_atomically(args.claims, updated)
    try:
        _, claims = load_claims(args.claims)
    except ClaimsFileError as error:  # never leave a file we made unreadable
        write_text_atomically(args.claims, text)
        print(f"error: the rewritten file did not load, left as it was: {error}", file=sys.stderr)
        return 1
    expected = {c.id: c for c in claims}
    wrong = [
        r.comparison
        for r in records
        if r.verdict and expected[r.claim].expected_verdict(r.comparison)[0] is not r.verdict
    ]
    if wrong:
        write_text_atomically(args.claims, text)
        print(f"error: the rewritten file would not expect {wrong[:3]}, left as it was", file=sys.stderr)
        return 1
    print(f"{args.claims}: {sum(1 for r in records if r.verdict not in (None, Verdict.CONFIRMED))} expected verdicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
