"""Measure once, compare many: every comparison of a session, computed together so that each model is loaded
once, used for everything it is needed for, then released; Holm's correction runs within each correction family
over all of its members, those this session did not measure counting with p = 1."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from embedders import Embedder, EmbedderEntry, EmbedderUnavailable
from evals.claims.deviations import comparison_deviations
from evals.claims.metrics import METRICS, EmbeddingMemo, ItemScores, NotApplicable
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
from fixtures import Dataset, Resolver
from fixtures.anchor_variations import AnchorVariations

OUR_CODE = str(Path(__file__).resolve().parent.parent.parent)
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


def _reason() -> str:
    """The exception in flight as its type and message, then the innermost frame of our own code it passed through
    (a library's frames below it say less about what went wrong than where we called it)."""
    error_type, error, trace = sys.exc_info()
    text = f"{error_type.__name__ if error_type else 'error'}: {error}"
    frames = traceback.extract_tb(trace)
    ours = [f for f in frames if f.filename.startswith(OUR_CODE) and "-packages" not in f.filename]
    return f"{text} (at {Path(ours[-1].filename).name}:{ours[-1].lineno}, {ours[-1].name})" if ours else text


@dataclass(frozen=True)
class _Watched(Resolver):
    """The session's resolver, noting which datasets are read, so that a comparison that fails names its files."""

    reads: list[str] = field(default_factory=list, compare=False, repr=False)

    def load(self, name: str) -> Dataset | AnchorVariations:
        self.reads.append(name)
        return super().load(name)


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
        # what the metrics read through: the same datasets, noting which ones each comparison asks for
        self._data = _Watched(settings.data.user_paths)
        self._measuring = replace(settings, data=self._data)
        self._load, self._release = load, release
        self._records: dict[str, ClaimRecord] | None = None
        missing = {s.id for s in self.specs} - {m for members in families.values() for m in members}
        if missing:
            raise ValueError(f"comparisons outside every correction family: {sorted(missing)}")

    def records(self) -> dict[str, ClaimRecord]:
        if self._records is None:
            try:
                self._records = self._compute()
            except Exception:  # outside every comparison: each test fails with the reason, none errors
                reason = f"the claim run failed outside any one comparison: {_reason()}"
                self._records = {spec.id: self._error_record(spec, reason) for spec in self.specs}
        return self._records

    def _error_record(self, spec: ComparisonSpec, reason: str) -> ClaimRecord:
        family_id, members = next((f, m) for f, m in self.families.items() if spec.id in m)
        family = CorrectionFamily(
            family_id,
            size=len(members),
            in_session=len({s.id for s in self.specs} & set(members)),
            measured=0,
            correction=self.settings.correction,
            alpha=self.settings.alpha,
        )
        return self._record(Result(spec, error=reason), family, None, {})

    def _compute(self) -> dict[str, ClaimRecord]:
        """Every comparison's record; whatever goes wrong in one comparison (its inputs, its metric, the bootstrap,
        its correction family, its record) becomes that comparison's error, and the others keep their verdicts."""
        memos, failed = self.embed_everything()
        results = {spec.id: self._guarded_compare(spec, memos, failed) for spec in self.specs}
        in_session = set(results)
        records: dict[str, ClaimRecord] = {}
        for family_id, members in self.families.items():
            family = CorrectionFamily(
                family_id,
                size=len(members),
                in_session=len(in_session & set(members)),
                measured=0,
                correction=self.settings.correction,
                alpha=self.settings.alpha,
            )
            try:
                tested = {m: r.comparison.p_value for m in members if (r := results.get(m)) and r.comparison}
                adjusted = family_adjusted(members, tested)
                family = replace(family, measured=len(tested))
            except Exception:
                reason = f"the correction within family {family_id} failed: {_reason()}"
                for member in members:
                    if member in results:
                        results[member] = Result(results[member].spec, error=reason)
                adjusted = {}
            for member in members:
                if member in results:
                    records[member] = self._guarded_record(results[member], family, adjusted.get(member), memos)
        return records

    def _guarded_compare(
        self, spec: ComparisonSpec, memos: dict[str, EmbeddingMemo], failed: dict[tuple[str, str], str]
    ) -> Result:
        self._data.reads.clear()
        try:
            return self._compare(spec, memos, failed)
        except Exception:  # a failure nobody foresaw fails this comparison only
            return Result(spec, error=self._failed(spec, "comparing failed"))

    def _guarded_record(
        self, result: Result, family: CorrectionFamily, adjusted_p: float | None, memos: dict[str, EmbeddingMemo]
    ) -> ClaimRecord:
        try:
            return self._record(result, family, adjusted_p, memos)
        except Exception:
            error = self._failed(result.spec, "writing its record failed")
            return self._record(Result(result.spec, error=error), family, None, {})

    def _failed(self, spec: ComparisonSpec, what: str, side: EmbedderEntry | None = None) -> str:
        """Why a comparison failed, naming its embedders (the side at fault when known), the dataset files it read
        and the reason."""
        embedders = side.name if side is not None else " and ".join(e.name for e in spec.entries)
        return f"{spec.claim.metric} on {embedders}, {self._datasets()}: {what}: {_reason()}"

    def _datasets(self) -> str:
        names = list(dict.fromkeys(self._data.reads))
        if not names:
            return "reading no dataset file"
        return "reading " + ", ".join(f"{name} ({self._data.locate(name)})" for name in names)

    def _compare(
        self, spec: ComparisonSpec, memos: dict[str, EmbeddingMemo], failed: dict[tuple[str, str], str]
    ) -> Result:
        keys = [key for e in spec.entries for key in ((e.name, ""), (e.name, spec.claim.id))]
        problems = [failed[key] for key in keys if key in failed]
        if problems:
            unavailable = all(p.startswith("unavailable: ") for p in problems)
            text = "; ".join(p.removeprefix("unavailable: ") for p in problems)
            return Result(spec, skipped=text) if unavailable else Result(spec, error=text)
        params = dict(spec.claim.params)
        if spec.anchor is not None:
            params["anchor"] = memos[spec.anchor.name]
        metric = METRICS[spec.claim.metric]
        scores: list[ItemScores] = []
        for side in (spec.subject, spec.reference):
            try:
                scores.append(metric.score(memos[side.name], self._measuring, **params))
            except NotApplicable as error:
                return Result(spec, skipped=f"not applicable: {error}")
            except Exception:  # one comparison's failure fails its own test only
                return Result(spec, error=self._failed(spec, "its metric failed", side))
        subject, reference = scores
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
        except Undefined as error:  # inconclusive, saying what it was measured on
            result.note = f"{error} ({self._datasets()})"
        except Exception:
            result.error = self._failed(spec, "the bootstrap failed")
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

    def embed_everything(self) -> tuple[dict[str, EmbeddingMemo], dict[tuple[str, str], str]]:
        """Each embedder's vectors for every input its comparisons' metrics need: the session's embedding plan
        computed them before any test ran, so this reads the store (what the plan missed is computed here). What
        fails is noted by (embedder, claim id), "" for every claim: an embedder that cannot be had is
        "unavailable: ..."; one that fails to load fails all its comparisons; a claim whose inputs cannot be listed
        or embedded fails that claim's comparisons with this embedder only."""
        entries = {e.name: e for spec in self.specs for e in spec.entries}
        memos: dict[str, EmbeddingMemo] = {}
        failed: dict[tuple[str, str], str] = {}
        for name, entry in entries.items():
            try:
                memo = EmbeddingMemo(self._load(entry))
            except EmbedderUnavailable as error:
                failed[name, ""] = f"unavailable: {error}"
                continue
            except Exception:
                failed[name, ""] = f"loading {name} failed: {_reason()}"
                continue
            try:
                needed: dict[str, dict[str, list]] = {}  # input form -> claim id -> its inputs
                claims = {s.claim.id: s.claim for s in self.specs if name in {e.name for e in s.entries}}
                for claim in claims.values():
                    self._data.reads.clear()
                    try:
                        inputs = METRICS[claim.metric].inputs(self._measuring, memo.info, **dict(claim.params))
                    except Exception:
                        failed[name, claim.id] = (
                            f"{claim.metric} on {name}, {self._datasets()}: listing its inputs failed: {_reason()}"
                        )
                        continue
                    for form, items in inputs.items():
                        needed.setdefault(form, {})[claim.id] = list(items)
                for form, by_claim in needed.items():
                    try:
                        memo.vectors(form, list(dict.fromkeys(i for items in by_claim.values() for i in items)))
                    except EmbedderUnavailable as error:  # on the cache alone, which lacks some of these inputs
                        for claim_id in by_claim:
                            failed[name, claim_id] = f"unavailable: {error}"
                    except Exception:
                        for claim_id in by_claim:
                            failed[name, claim_id] = f"embedding {form} inputs with {name} failed: {_reason()}"
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
        computed=memo.computed if memo is not None else None,
    )


def _side(entry: EmbedderEntry, scores: ItemScores | None, memos: dict[str, EmbeddingMemo]) -> SideRecord:
    memo = memos.get(entry.name)
    # everything this embedder embedded for the session's claims, by input form: unusable rows are never scored
    inputs = {form: dict(counts) for form, counts in memo.inputs.items()} if memo is not None else None
    if scores is None:
        return SideRecord(_embedder(entry, memos), inputs=inputs)
    return SideRecord(_embedder(entry, memos), scores.score, scores.protocol, scores.summary, inputs)
