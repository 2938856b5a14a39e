"""The records that travel: from a test (on any xdist worker) to the controller, into the ledger, the terminal,
JUnit XML, the result cache and the dashboard. Frozen, typed and versioned; every reader uses these types.

Version 5 (this one) says where each embedder's vectors were computed (``EmbedderRecord.computed``: device,
machine, weights and packages, and whether the session had the weights or stood on the cache alone); records
before it load with None there (not known).
Version 4 named what a deviation concerns its ``aspect`` (version 3 called it ``kind``, as ledgers before format
3 called their record types); version 3 records load with the field renamed.
Version 3 added each comparison's deviations from the paper's protocol and the paper's protocol itself.
Version 2 added the correction family, the resampling unit, the interval's standard error and degrees of
freedom, the paper flag and the paper models. Version 2 records load with no deviations and an empty protocol
(what they did not record is not known, not absent). Version 1 ledgers (string-keyed dicts, one Holm family per
session) still load: ``from_json`` fills what they lack and says so in ``statistics.unit``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

VERSION = 5
# what a deviation from the paper's protocol concerns: the data, which model, its weights, or how it is measured
DEVIATION_ASPECTS = ("dataset", "model", "weights", "protocol")


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Deviation:
    """One way a comparison's protocol differs from the paper's, in one plain sentence. ``side``: the embedder it
    concerns, or None when it concerns the whole comparison (its dataset, its metric)."""

    aspect: str
    text: str
    side: str | None = None

    def __post_init__(self) -> None:
        if self.aspect not in DEVIATION_ASPECTS:
            raise ValueError(f"deviation aspect {self.aspect!r} is not one of {', '.join(DEVIATION_ASPECTS)}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("a deviation's text is a non-empty sentence")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deviation:
        return cls(str(data["aspect"]), str(data["text"]), data.get("side"))


@dataclass(frozen=True)
class EmbedderRecord:
    name: str
    family: str
    parameters: int | None = None
    paper_model: str | None = None  # which of the paper's models this is; None: not one of them (a proxy)
    dimension: int | None = None
    weights: str | None = None
    extraction: dict[str, Any] | None = None
    fingerprint: str | None = None
    # where the vectors were computed (runtime.computation.Computation.describe), None when not known
    computed: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmbedderRecord:
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class SideRecord:
    """One side of a comparison: the embedder, its score on the compared items and how it was obtained."""

    embedder: EmbedderRecord
    score: float | None = None
    protocol: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    inputs: dict[str, dict[str, int]] | None = None  # what it embedded for the session's claims, by input form

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "embedder": self.embedder.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SideRecord:
        values = _known(cls, data)
        # version 1 kept the embedder's fields and the score side by side
        values["embedder"] = EmbedderRecord.from_json(data["embedder"] if "embedder" in data else data)
        return cls(**values)


@dataclass(frozen=True)
class CorrectionFamily:
    """The comparisons Holm's correction runs over: every comparison the claim (or the claims sharing its
    ``correction_family`` key) defines over the embedders available to the session, whatever it selected."""

    id: str
    size: int  # m: members of the family
    in_session: int  # members this session ran (the rest were left out by -k, --embedder, node ids, -m)
    measured: int  # members with a p-value (the rest count with p = 1: left out, not applicable, undefined)
    correction: str = "holm"
    alpha: float = 0.05

    @property
    def whole(self) -> bool:
        return self.in_session == self.size

    def describe(self) -> str:
        return (
            f"correction family {self.id}: {self.measured} of {self.size} measured, {self.correction} at {self.alpha:g}"
        )


@dataclass(frozen=True)
class StatisticsRecord:
    test: str
    unit: str  # what the bootstrap draws
    units: int | None = None
    strata: int | None = None
    df: int | None = None
    resamples: int | None = None
    dropped: int | None = None  # resamples where the statistic was undefined, left out
    seed: int | None = None
    confidence: float | None = None
    tolerance: float | None = None
    interval: str = "not adjusted for the family: effect -/+ t(df) x bootstrap standard error"


@dataclass(frozen=True)
class ClaimRecord:
    """One comparison of one claim: what was compared, how, and its two outcomes.

    Against the paper: ``agreement`` (agrees / disagrees / undecided). Against the recorded baseline (the
    claim's expected verdict): ``as_recorded``, and ``deviated`` when what is recorded is not the claim's own
    direction (a known disagreement, kept so that the nightly stays green while it holds)."""

    claim: str
    statement: str
    section: str
    paper: bool  # a claim of the paper (False: beyond it, e.g. the scale claims)
    metric: str
    params: dict[str, Any]
    direction: str
    margin: float
    comparison: str
    subject: SideRecord
    reference: SideRecord
    anchor: EmbedderRecord | None
    expected: Verdict
    expected_why: str
    correction_family: CorrectionFamily
    statistics: StatisticsRecord | None = None
    verdict: Verdict | None = None  # None: not measured (skipped or error)
    skipped: str | None = None  # why it could not be measured (embedder unavailable, metric not applicable)
    error: str | None = None  # the comparison's own failure, which fails its test alone
    note: str | None = None  # why it is inconclusive whatever the numbers (statistic undefined, within tolerance)
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    standard_error: float | None = None
    p_value: float | None = None
    adjusted_p: float | None = None
    items: int | None = None
    dataset: dict[str, Any] | None = None
    test: str | None = None  # the test's node id and pytest outcome, once the ledger has it
    outcome: str | None = None
    paper_protocol: str = ""  # the paper's protocol for the claim, as claims.toml states it
    deviations: tuple[Deviation, ...] = ()  # every way this comparison's protocol differs from the paper's
    version: int = field(default=VERSION)

    # ---------------------------------------------------------------- derived

    @property
    def measured(self) -> bool:
        return self.verdict is not None

    @property
    def decided(self) -> bool:
        return self.verdict in (Verdict.CONFIRMED, Verdict.REFUTED)

    @property
    def agreement(self) -> str | None:
        """With the paper: agrees, disagrees or undecided; None when not measured or not a claim of the paper."""
        if not self.paper or self.verdict is None:
            return None
        return {Verdict.CONFIRMED: "agrees", Verdict.REFUTED: "disagrees"}.get(self.verdict, "undecided")

    @property
    def as_recorded(self) -> bool:
        return self.verdict is not None and self.verdict == self.expected

    @property
    def deviated(self) -> bool:
        """As recorded, and what is recorded is not the claim's own direction."""
        return self.as_recorded and self.expected is not Verdict.CONFIRMED

    @property
    def baseline(self) -> str | None:
        return None if self.verdict is None else "as recorded" if self.as_recorded else "changed"

    @property
    def label(self) -> str:
        """The verdict; in capitals when it is not the recorded one."""
        if self.verdict is None:
            return "error" if self.error else "skipped"
        return str(self.verdict) if self.as_recorded else str(self.verdict).upper()

    @property
    def embedders(self) -> list[EmbedderRecord]:
        return [self.subject.embedder, self.reference.embedder, *([self.anchor] if self.anchor else [])]

    @property
    def on_paper_models(self) -> bool:
        """Every embedder of the comparison is one of the paper's own models (not a proxy)."""
        return all(e.paper_model for e in self.embedders)

    @property
    def params_text(self) -> str:
        return "".join(f"[{v}]" for v in self.params.values())

    # ---------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(subject=self.subject.to_json(), reference=self.reference.to_json())
        data["expected"] = str(self.expected)
        data["verdict"] = None if self.verdict is None else str(self.verdict)
        data["deviations"] = [d.to_json() for d in self.deviations]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClaimRecord:
        version = int(data.get("version") or 1)
        if version < 4:
            data = _version_3(data)
        values = _known(cls, data)
        values.update(
            subject=SideRecord.from_json(data["subject"]),
            reference=SideRecord.from_json(data["reference"]),
            anchor=_anchor(data.get("anchor")),
            expected=Verdict(data["expected"]),
            verdict=Verdict(data["verdict"]) if data.get("verdict") else None,
            params=dict(data.get("params") or {}),
            paper_protocol=str(data.get("paper_protocol") or ""),
            deviations=tuple(Deviation.from_json(d) for d in data.get("deviations") or ()),
            version=version,
        )
        if version == 1:
            values.update(_version_1(data))
        else:
            values["correction_family"] = CorrectionFamily(**data["correction_family"])
            values["statistics"] = StatisticsRecord(**data["statistics"]) if data.get("statistics") else None
        return cls(**values)

    def with_test(self, test: str, outcome: str | None) -> ClaimRecord:
        return replace(self, test=test, outcome=outcome)


def _anchor(data: dict[str, Any] | None) -> EmbedderRecord | None:
    if not data:
        return None
    return EmbedderRecord.from_json(data.get("embedder", data))


def _version_3(data: dict[str, Any]) -> dict[str, Any]:
    """A record before version 4 with its deviations' ``kind`` named ``aspect`` (before version 3: none)."""
    deviations = [{("aspect" if k == "kind" else k): v for k, v in d.items()} for d in data.get("deviations") or ()]
    return {**data, "deviations": deviations}


def _version_1(data: dict[str, Any]) -> dict[str, Any]:
    """What a version 1 record lacks: its Holm family was the whole session, its resampling the rows."""
    statistics = data.get("statistics") or {}
    size = int(statistics.get("family_size") or 0)
    return {
        "paper": not str(data.get("claim", "")).startswith("S-"),
        "correction_family": CorrectionFamily(
            "session", size, size, size, "holm", float(statistics.get("alpha", 0.05))
        ),
        "statistics": StatisticsRecord(
            test=str(statistics.get("test", "paired bootstrap")),
            unit="items (version 1: rows drawn as if independent)",
            resamples=statistics.get("resamples"),
            seed=statistics.get("seed"),
            confidence=statistics.get("confidence"),
            interval="percentile interval, not adjusted (version 1)",
        ),
    }


@dataclass(frozen=True)
class MeasurementRecord:
    """One embedder on one dataset under one protocol: its metrics (the per-item scores stay behind)."""

    check: str
    task: str
    variant: str
    embedder: EmbedderRecord
    dataset: dict[str, Any]
    protocol: dict[str, Any]
    metrics: dict[str, Any]
    test: str | None = None
    outcome: str | None = None
    version: int = field(default=VERSION)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "embedder": self.embedder.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MeasurementRecord:
        values = _known(cls, data)
        values.update(embedder=EmbedderRecord.from_json(data["embedder"]), version=int(data.get("version") or 1))
        return cls(**values)

    def with_test(self, test: str, outcome: str | None) -> MeasurementRecord:
        return replace(self, test=test, outcome=outcome)
