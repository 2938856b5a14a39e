"""Measure once, compare many: every comparison of a session, computed together so that Holm's correction
sees them all and each model is loaded once, used for everything it is needed for, then released."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from embedders import Embedder, EmbedderEntry, EmbedderUnavailable
from evals.claims.metrics import INPUTS, METRICS, EmbeddingMemo, ItemScores, NotApplicable
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
    inputs: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # embedder -> kind -> counts

    def as_record(self, settings: Settings) -> dict[str, object]:
        claim = self.spec.claim
        expected, why = claim.expected_verdict(self.spec.name)
        record: dict[str, object] = {
            "claim": claim.id,
            "statement": claim.statement,
            "section": claim.section,
            "comparison": self.spec.name,
            "subject": _describe(self.spec.subject, self.subject, self.fingerprints, self.inputs),
            "reference": _describe(self.spec.reference, self.reference, self.fingerprints, self.inputs),
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
                record["anchor"] = _describe(self.spec.anchor, None, self.fingerprints, self.inputs)
        return record


def _describe(
    entry: EmbedderEntry,
    scores: ItemScores | None,
    fingerprints: dict[str, str],
    inputs: dict[str, dict[str, dict[str, int]]],
) -> dict[str, object]:
    described: dict[str, object] = {
        "name": entry.name,
        "family": str(entry.family),
        "parameters": entry.parameters,
        "fingerprint": fingerprints.get(entry.name),
        # everything this embedder embedded for the session's claims, by kind: unusable rows are never scored
        "inputs": inputs.get(entry.name),
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
            try:
                subject = function(memos[spec.subject.name], self.settings, **params)
                reference = function(memos[spec.reference.name], self.settings, **params)
            except NotApplicable as error:
                outcomes[spec.id] = Outcome(spec, skipped=f"not applicable: {error}")
                continue
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
            inputs = {e.name: memos[e.name].inputs for e in spec.entries}
            outcomes[spec.id] = Outcome(
                spec, comparison, subject=subject, reference=reference, fingerprints=fingerprints, inputs=inputs
            )
        decided = [o for o in outcomes.values() if o.comparison is not None]
        adjusted = holm([o.comparison.p_value for o in decided])  # type: ignore[union-attr]
        for o, p in zip(decided, adjusted, strict=True):
            o.adjusted_p, o.family_size = p, len(decided)
            o.verdict = verdict(o.comparison, p, o.spec.claim.margin, self.settings.alpha)  # type: ignore[arg-type]
        return outcomes

    def _embed_everything(self) -> tuple[dict[str, EmbeddingMemo], dict[str, str]]:
        """Load each embedder once, embed every input its comparisons' metrics need, release it."""
        entries = {e.name: e for spec in self.specs for e in spec.entries}
        memos: dict[str, EmbeddingMemo] = {}
        unavailable: dict[str, str] = {}
        for name, entry in entries.items():
            try:
                memo = EmbeddingMemo(self._load(entry))
            except EmbedderUnavailable as error:
                unavailable[name] = str(error)
                continue
            needed: dict[str, list] = {}
            claims = {s.claim.id: s.claim for s in self.specs if name in {e.name for e in s.entries}}
            for claim in claims.values():
                for kind, inputs in INPUTS[claim.metric](self.settings, memo.info, **dict(claim.params)).items():
                    needed.setdefault(kind, []).extend(inputs)
            for kind, inputs in needed.items():
                memo.vectors(kind, list(dict.fromkeys(inputs)))
            memo.release()
            self._release(entry)
            memos[name] = memo
        return memos, unavailable
