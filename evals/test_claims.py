"""The paper's claims, one test per comparison; see evals/claims.toml and README for reading the verdicts."""

from evals.claims.spec import ComparisonSpec


def test_claim(claim_comparison: ComparisonSpec, judge_claim) -> None:
    judge_claim(claim_comparison)
