"""Re-recording the expected verdicts from a ledger: what is recorded is what was measured, nothing else moves."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from evals.claims.baseline import main, rewrite
from evals.claims.spec import load_claims
from evals.records import (
    ClaimRecord,
    CorrectionFamily,
    EmbedderRecord,
    SideRecord,
    StatisticsRecord,
    Verdict,
)
from ledger.file import LEDGER_FORMAT, LedgerWriter

CLAIMS = """# a hand-written note that must stay
[settings]
resamples = 200

[[claim]]
id = "A"
statement = "s"
section = "s"
metric = "random-pair-similarity"
subject = { family = ["llm"] }
reference = { family = ["static"] }
direction = "greater"
margin = 0.0

# expected verdicts recorded from an older ledger, where they differ from the claim's
[[claim.expect]]
comparison = "olmo-7b vs *"
verdict = "refuted"
why = "an old reason"

# a comment about claim B, kept with it
[[claim]]
id = "B"
statement = "s"
section = "s"
metric = "random-pair-similarity"
subject = { family = ["llm"] }
reference = { family = ["static"] }
direction = "greater"
margin = 0.0
"""


def record(claim: str, subject: str, verdict: Verdict | None, size: int = 2, in_session: int = 2) -> ClaimRecord:
    def side(name: str, score: float) -> SideRecord:
        return SideRecord(EmbedderRecord(name, "static" if name.startswith("glove") else "llm"), score)

    return ClaimRecord(
        claim=claim, statement="s", section="s", paper=True, metric="random-pair-similarity", params={},
        direction="greater", margin=0.0, comparison=f"{subject} vs glove-6b-50d", subject=side(subject, 0.4),
        reference=side("glove-6b-50d", 0.5), anchor=None, expected=Verdict.CONFIRMED, expected_why="",
        correction_family=CorrectionFamily(claim, size, in_session, in_session),
        statistics=StatisticsRecord("t", "random word pairs"), verdict=verdict,
        effect=None if verdict is None else -0.1, low=-0.2, high=-0.05, adjusted_p=0.001,
    )  # fmt: skip


RECORDS = [
    record("A", "smollm2-135m", Verdict.REFUTED),
    record("A", "llama2-7b", Verdict.CONFIRMED),
    record("B", "smollm2-135m", Verdict.INCONCLUSIVE),
    record("B", "llama2-7b", None),
]


def test_the_expected_verdicts_become_what_was_measured(tmp_path: Path) -> None:
    path = tmp_path / "claims.toml"
    text = rewrite(CLAIMS, RECORDS, "today.jsonl")
    path.write_text(text)
    _, claims = load_claims(path)
    a, b = claims
    assert a.expected_verdict("smollm2-135m vs glove-6b-50d")[0] is Verdict.REFUTED
    assert a.expected_verdict("olmo-7b vs glove-6b-50d")[0] is Verdict.CONFIRMED  # the old row is gone
    assert b.expected_verdict("smollm2-135m vs glove-6b-50d")[0] is Verdict.INCONCLUSIVE
    assert b.expected_verdict("llama2-7b vs glove-6b-50d")[0] is Verdict.CONFIRMED
    why = a.expected_verdict("smollm2-135m vs glove-6b-50d")[1]
    assert why.startswith("smollm2-135m 0.400 vs glove-6b-50d 0.500: effect -0.100") and "Holm p 0.0010" in why
    assert "# a hand-written note that must stay" in text and "# a comment about claim B, kept with it" in text
    assert "an old reason" not in text and "older ledger" not in text
    assert rewrite(text, RECORDS, "today.jsonl") == text  # rerunning it changes nothing


def write_ledger(path: Path, records: list[ClaimRecord]) -> Path:
    writer = LedgerWriter(path)
    writer.write({"record": "session", "started": "2026-11-29T00:00:00+00:00", "format": LEDGER_FORMAT})
    for r in records:
        writer.write({"record": "claim", **r.to_json()})
    writer.write({"record": "footer"})
    writer.close()
    return path


def test_a_ledger_of_part_of_a_family_is_refused(tmp_path: Path, capsys) -> None:
    claims = tmp_path / "claims.toml"
    claims.write_text(CLAIMS)
    partial = write_ledger(tmp_path / "part.jsonl", [record("A", "smollm2-135m", Verdict.INCONCLUSIVE, 2, 1)])
    assert main([str(partial), "--claims", str(claims)]) == 2
    assert "only part of correction families A" in capsys.readouterr().err
    assert claims.read_text() == CLAIMS
    whole = write_ledger(tmp_path / "whole.jsonl", RECORDS)
    assert main([str(whole), "--claims", str(claims)]) == 0
    assert load_claims(claims)[1][0].expected_verdict("smollm2-135m vs glove-6b-50d")[0] is Verdict.REFUTED


def test_a_claims_keys_after_a_blank_line_stay_in_the_claim(tmp_path: Path) -> None:
    spaced = CLAIMS.replace(
        "margin = 0.0\n\n# expected", 'margin = 0.0\n\ncorrection_family = "F"\npaper = false\n\n# expected'
    )
    path = tmp_path / "claims.toml"
    path.write_text(rewrite(spaced, RECORDS, "today.jsonl"))
    a = load_claims(path)[1][0]
    assert (a.correction_family, a.paper) == ("F", False)
    assert a.expected_verdict("smollm2-135m vs glove-6b-50d")[0] is Verdict.REFUTED


def test_claims_the_ledger_did_not_run_keep_their_tables_and_a_ledger_missing_one_is_refused(
    tmp_path: Path, capsys
) -> None:
    only_b = rewrite(CLAIMS, [r for r in RECORDS if r.claim == "B"], "today.jsonl")
    assert "an old reason" in only_b  # A's table is not the ledger's to replace
    claims = tmp_path / "claims.toml"
    claims.write_text(CLAIMS)
    ledger = write_ledger(tmp_path / "b.jsonl", [r for r in RECORDS if r.claim == "B"])
    assert main([str(ledger), "--claims", str(claims)]) == 2
    assert "no comparison of claims A" in capsys.readouterr().err and claims.read_text() == CLAIMS
    old = write_ledger(tmp_path / "old.jsonl", [replace(r, version=1) for r in RECORDS])
    assert main([str(old), "--claims", str(claims)]) == 2
    assert "format 1 ledger" in capsys.readouterr().err and claims.read_text() == CLAIMS
