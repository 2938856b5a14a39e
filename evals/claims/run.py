"""Measure once, compare many: every comparison of a session, computed together so that Holm's correction
sees them all and each model is loaded once, used for everything it is needed for, then released."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from embedders import Embedder, EmbedderEntry, EmbedderUnavailable
from evals.claims.metrics import METRICS, ItemScores, WordMemo
from evals.claims.settings import Settings
from evals.claims.spec import ComparisonSpec
from evals.claims.stats import Comparison, Verdict, holm, paired_bootstrap, verdict


@dataclass
class Outcome:
    spec: ComparisonSpec
    comparison: Comparison | None = None
    adjusted_p: float = float("nan")
    verdict: Verdict | None = None
    subject: ItemScores | None = None
    reference: ItemScores | None = None
    skipped: str | None = None
    family_size: int = 0  # comparisons Holm's correction ran over
    fingerprints: dict[str, str] = field(default_factory=dict)

    def as_record(self, settings: Settings) -> dict[str, object]:
        claim = self.spec.claim
        expected, why = claim.expected_verdict(self.spec.name)
        record: dict[str, object] = {
            "claim": claim.id,
            "statement": claim.statement,
            "section": claim.section,
            "comparison": self.spec.name,
            "subject": _describe(self.spec.subject, self.subject, self.fingerprints),
            "reference": _describe(self.spec.reference, self.reference, self.fingerprints),
            "metric": claim.metric,
            "params": dict(claim.params),
            "direction": claim.direction,
            "margin": claim.margin,
            "expected": str(expected),
            "expected_why": why,
            "skipped": self.skipped,
            "statistics": {
                "test": "paired bootstrap: percentile interval; p-value from the bootstrap standard error (normal)",
                "resamples": settings.resamples,
                "seed": settings.seed,
                "confidence": settings.confidence,
                "correction": f"{settings.correction} over every comparison of the session",
                "alpha": settings.alpha,
                "family_size": self.family_size,
            },
        }
        if self.comparison is not None and self.subject is not None:
            c = self.comparison
            record.update(
                effect=c.effect,
                low=c.low,
                high=c.high,
                p_value=c.p_value,
                adjusted_p=self.adjusted_p,
                items=c.items,
                verdict=str(self.verdict),
                dataset=self.subject.dataset.as_record(),
            )
            if self.spec.anchor is not None:
                record["anchor"] = _describe(self.spec.anchor, None, self.fingerprints)
        return record


def _describe(entry: EmbedderEntry, scores: ItemScores | None, fingerprints: dict[str, str]) -> dict[str, object]:
    described: dict[str, object] = {
        "name": entry.name,
        "family": str(entry.family),
        "parameters": entry.parameters,
        "fingerprint": fingerprints.get(entry.name),
    }
    if scores is not None:
        described.update(score=scores.score, protocol=scores.protocol, summary=scores.summary)
    return described


class ClaimRun:
    def __init__(
        self,
        settings: Settings,
        specs: list[ComparisonSpec],
        load: Callable[[EmbedderEntry], Embedder],
        release: Callable[[EmbedderEntry], None],
    ) -> None:
        self.settings, self.specs, self._load, self._release = settings, specs, load, release
        self._outcomes: dict[str, Outcome] | None = None

    def outcome(self, spec_id: str) -> Outcome:
        if self._outcomes is None:
            self._outcomes = self._compute()
        return self._outcomes[spec_id]

    def _compute(self) -> dict[str, Outcome]:
        memos, unavailable = self._embed_everything()
        outcomes: dict[str, Outcome] = {}
        for spec in self.specs:
            missing = [unavailable[e.name] for e in spec.entries if e.name in unavailable]
            if missing:
                outcomes[spec.id] = Outcome(spec, skipped="; ".join(missing))
                continue
            params = dict(spec.claim.params)
            if spec.anchor is not None:
                params["anchor"] = memos[spec.anchor.name]
            function = METRICS[spec.claim.metric]
            subject = function(memos[spec.subject.name], self.settings, **params)
            reference = function(memos[spec.reference.name], self.settings, **params)
            comparison = paired_bootstrap(
                subject.values,
                reference.values,
                subject.statistic,
                sign=spec.claim.sign,
                margin=spec.claim.margin,
                resamples=self.settings.resamples,
                seed=self.settings.seed,
                confidence=self.settings.confidence,
            )
            fingerprints = {e.name: memos[e.name].info.fingerprint for e in spec.entries}
            outcomes[spec.id] = Outcome(
                spec, comparison, subject=subject, reference=reference, fingerprints=fingerprints
            )
        decided = [o for o in outcomes.values() if o.comparison is not None]
        adjusted = holm([o.comparison.p_value for o in decided])  # type: ignore[union-attr]
        for o, p in zip(decided, adjusted, strict=True):
            o.adjusted_p, o.family_size = p, len(decided)
            o.verdict = verdict(o.comparison, p, o.spec.claim.margin, self.settings.alpha)  # type: ignore[arg-type]
        return outcomes

    def _embed_everything(self) -> tuple[dict[str, WordMemo], dict[str, str]]:
        """Load each embedder once, fill its word memo with every word any comparison needs, release it."""
        entries = {e.name: e for spec in self.specs for e in spec.entries}
        memos: dict[str, WordMemo] = {}
        unavailable: dict[str, str] = {}
        for name, entry in entries.items():
            try:
                memo = WordMemo(self._load(entry))
            except EmbedderUnavailable as error:
                unavailable[name] = str(error)
                continue
            memo.unit(words_needed(self.settings))
            memo.release()
            self._release(entry)
            memos[name] = memo
        return memos, unavailable


def words_needed(settings: Settings) -> list[str]:
    from fixtures import load, locate
    from fixtures.claim_data import google_categories, google_related_pairs, human_rated_pairs, random_wordnet_pairs

    words: list[str] = list(load("google-analogy", locate("google-analogy", {})).words)
    for pairs in (
        random_wordnet_pairs(settings.random_pairs, settings.seed).pairs,
        google_related_pairs().pairs,
        human_rated_pairs().pairs,
    ):
        words.extend(w for pair in pairs for w in pair)
    words.extend(google_categories().words)
    return list(dict.fromkeys(words))
