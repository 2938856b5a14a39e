"""Measure once, compare many: every comparison of a session, computed together so that each model is loaded
once, used for everything it is needed for, then released; Holm's correction runs within each correction family
over all of its members, those this session did not measure counting with p = 1."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from embedders import Embedder, EmbedderEntry, EmbedderUnavailable
from evals.claims.deviations import comparison_deviations
from evals.claims.metrics import INPUTS, METRICS, EmbeddingMemo, ItemScores, NotApplicable
from evals.claims.settings import Settings
from evals.claims.spec import ComparisonSpec
from evals.claims.stats import Comparison, Undefined, family_adjusted, paired_bootstrap, verdict
from evals.records import (
    ClaimRecord,
    CorrectionFamily,
    EmbedderRecord,
    SideRecord,
    StatisticsRecord,
    Verdict,
)

TEST = "paired bootstrap over the resampling units; p-value from the bootstrap standard error (Student's t)"


@dataclass
class Result:
    """One comparison before the correction: its numbers, or why there are none."""

    spec: ComparisonSpec
    comparison: Comparison | None = None
    subject: ItemScores | None = None
    reference: ItemScores | None = None
    skipped: str | None = None  # cannot be measured here: an embedder unavailable, the metric not applicable
    error: str | None = None  # the comparison failed: its test fails, the others go on
    note: str | None = None  # measured, but the statistic is undefined: inconclusive whatever the correction


def _failure(what: str) -> str:
    """The exception in flight, with where it was raised: enough to find it, short enough for a test report."""
    return f"{what}: " + "".join(traceback.format_exc(limit=-3)).strip()


class ClaimRun:
    def __init__(
        self,
        settings: Settings,
        specs: Sequence[ComparisonSpec],
        families: Mapping[str, Sequence[str]],
        load: Callable[[EmbedderEntry], Embedder],
        release: Callable[[EmbedderEntry], None],
    ) -> None:
        """``specs``: the comparisons this session runs; ``families``: each correction family's members (spec ids),
        all comparisons its claims define over the embedders available here, whatever the session selected."""
        self.settings, self.specs, self.families = settings, list(specs), families
        self._load, self._release = load, release
        self._records: dict[str, ClaimRecord] | None = None
        missing = {s.id for s in self.specs} - {m for members in families.values() for m in members}
        if missing:
            raise ValueError(f"comparisons outside every correction family: {sorted(missing)}")

    def records(self) -> dict[str, ClaimRecord]:
        if self._records is None:
            self._records = self._compute()
        return self._records

    def _compute(self) -> dict[str, ClaimRecord]:
        memos, failed = self.embed_everything()
        results = {spec.id: self._compare(spec, memos, failed) for spec in self.specs}
        in_session = set(results)
        records: dict[str, ClaimRecord] = {}
        for family_id, members in self.families.items():
            tested = {m: r.comparison.p_value for m in members if (r := results.get(m)) and r.comparison}
            adjusted = family_adjusted(members, tested)
            family = CorrectionFamily(
                family_id,
                size=len(members),
                in_session=len(in_session & set(members)),
                measured=len(tested),
                correction=self.settings.correction,
                alpha=self.settings.alpha,
            )
            for member in members:
                if member in results:
                    records[member] = self._record(results[member], family, adjusted.get(member), memos)
        return records

    def _compare(self, spec: ComparisonSpec, memos: dict[str, EmbeddingMemo], failed: dict[str, str]) -> Result:
        problems = [failed[e.name] for e in spec.entries if e.name in failed]
        if problems:
            unavailable = all(p.startswith("unavailable: ") for p in problems)
            text = "; ".join(p.removeprefix("unavailable: ") for p in problems)
            return Result(spec, skipped=text) if unavailable else Result(spec, error=text)
        params = dict(spec.claim.params)
        if spec.anchor is not None:
            params["anchor"] = memos[spec.anchor.name]
        function = METRICS[spec.claim.metric]
        try:
            subject = function(memos[spec.subject.name], self.settings, **params)
            reference = function(memos[spec.reference.name], self.settings, **params)
        except NotApplicable as error:
            return Result(spec, skipped=f"not applicable: {error}")
        except Exception:  # one comparison's failure fails its own test only
            return Result(spec, error=_failure(f"{spec.claim.metric} failed on {spec.name}"))
        result = Result(spec, subject=subject, reference=reference)
        if not subject.resampling.same_as(reference.resampling):
            result.error = f"{spec.claim.metric}: the two sides were scored on different items"
            return result
        try:
            result.comparison = paired_bootstrap(
                subject.values,
                reference.values,
                subject.statistic,
                reference.statistic,
                subject.resampling,
                sign=spec.claim.sign,
                margin=spec.claim.margin,
                resamples=self.settings.resamples,
                seed=self.settings.seed,
                confidence=self.settings.confidence,
                tolerance=self.settings.tolerance,
            )
        except Undefined as error:
            result.note = str(error)
        except Exception:
            result.error = _failure(f"the bootstrap failed on {spec.name}")
        return result

    def _record(
        self,
        result: Result,
        family: CorrectionFamily,
        adjusted_p: float | None,
        memos: dict[str, EmbeddingMemo],
    ) -> ClaimRecord:
        spec, claim, c = result.spec, result.spec.claim, result.comparison
        expected, why = claim.expected_verdict(spec.name)
        settings = self.settings
        observed: Verdict | None = None
        note = result.note
        if c is not None:
            observed = verdict(c, adjusted_p if adjusted_p is not None else 1.0, claim.margin, settings.alpha)
            if c.within_tolerance:
                note = f"the effect is within the numerical tolerance ({settings.tolerance:g}) of the margin"
        elif result.note is not None:
            observed = Verdict.INCONCLUSIVE
        statistics = None
        if c is not None:
            statistics = StatisticsRecord(
                test=TEST,
                unit=c.unit,
                units=c.units,
                strata=c.strata,
                df=c.df,
                resamples=c.resamples,
                dropped=c.dropped,
                seed=c.seed,
                confidence=c.confidence,
                tolerance=settings.tolerance,
            )
        dataset = result.subject.dataset.as_record() if result.subject is not None else None
        metric_deviations = [scores.deviations for scores in (result.subject, result.reference) if scores is not None]
        return ClaimRecord(
            claim=claim.id,
            statement=claim.statement,
            section=claim.section,
            paper=claim.paper,
            metric=claim.metric,
            params=dict(claim.params),
            direction=claim.direction,
            margin=claim.margin,
            comparison=spec.name,
            subject=_side(spec.subject, result.subject, memos),
            reference=_side(spec.reference, result.reference, memos),
            anchor=_embedder(spec.anchor, memos) if spec.anchor is not None else None,
            expected=expected,
            expected_why=why,
            correction_family=family,
            statistics=statistics,
            verdict=observed,
            skipped=result.skipped,
            error=result.error,
            note=note,
            effect=c.effect if c else None,
            low=c.low if c else None,
            high=c.high if c else None,
            standard_error=c.standard_error if c else None,
            p_value=c.p_value if c else None,
            adjusted_p=adjusted_p if c else None,
            items=c.items if c else None,
            dataset=dataset,
            paper_protocol=claim.paper_protocol,
            deviations=comparison_deviations(spec, *metric_deviations),
        )

    def embed_everything(self) -> tuple[dict[str, EmbeddingMemo], dict[str, str]]:
        """Load each embedder once, embed every input its comparisons' metrics need, release it. An embedder that
        cannot be had is "unavailable: ..."; one that fails otherwise fails only the comparisons it is in."""
        entries = {e.name: e for spec in self.specs for e in spec.entries}
        memos: dict[str, EmbeddingMemo] = {}
        failed: dict[str, str] = {}
        for name, entry in entries.items():
            try:
                memo = EmbeddingMemo(self._load(entry))
            except EmbedderUnavailable as error:
                failed[name] = f"unavailable: {error}"
                continue
            except Exception:
                failed[name] = _failure(f"loading {name} failed")
                continue
            try:
                needed: dict[str, list] = {}
                claims = {s.claim.id: s.claim for s in self.specs if name in {e.name for e in s.entries}}
                for claim in claims.values():
                    for kind, inputs in INPUTS[claim.metric](self.settings, memo.info, **dict(claim.params)).items():
                        needed.setdefault(kind, []).extend(inputs)
                for kind, inputs in needed.items():
                    memo.vectors(kind, list(dict.fromkeys(inputs)))
            except Exception:
                failed[name] = _failure(f"embedding with {name} failed")
            finally:
                memo.release()
                self._release(entry)
            memos[name] = memo
        return memos, failed


def _embedder(entry: EmbedderEntry, memos: dict[str, EmbeddingMemo]) -> EmbedderRecord:
    memo = memos.get(entry.name)
    info = memo.info if memo is not None else None
    return EmbedderRecord(
        name=entry.name,
        family=str(entry.family),
        parameters=entry.parameters,
        paper_model=entry.paper_model,
        dimension=info.dimension if info else entry.dimension,
        weights=info.weights if info else None,
        extraction=asdict(info.extraction) if info else None,
        fingerprint=info.fingerprint if info else None,
    )


def _side(entry: EmbedderEntry, scores: ItemScores | None, memos: dict[str, EmbeddingMemo]) -> SideRecord:
    memo = memos.get(entry.name)
    # everything this embedder embedded for the session's claims, by kind: unusable rows are never scored
    inputs = {kind: dict(counts) for kind, counts in memo.inputs.items()} if memo is not None else None
    if scores is None:
        return SideRecord(_embedder(entry, memos), inputs=inputs)
    return SideRecord(_embedder(entry, memos), scores.score, scores.protocol, scores.summary, inputs)
