"""Claims as data: read evals/claims.toml and expand each claim into comparisons between embedders."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from embedders import EmbedderEntry
from evals.claims.metrics import METRICS
from evals.claims.settings import Settings
from evals.records import Verdict

CLAIMS_PATH = Path(__file__).resolve().parent.parent / "claims.toml"


class ClaimsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Side:
    families: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def members(self, entries: list[EmbedderEntry]) -> list[EmbedderEntry]:
        return [e for e in entries if e.name in self.names or str(e.family) in self.families]

    def describe(self) -> str:
        return " or ".join([*self.names, *(f"any {f}" for f in self.families)])


@dataclass(frozen=True)
class ExpectedVerdict:
    comparison: str  # "SUBJECT vs REFERENCE", shell wildcards allowed
    verdict: Verdict
    why: str


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    section: str
    metric: str
    params: tuple[tuple[str, object], ...]
    subject: Side
    reference: Side
    direction: str  # "greater" or "less": the subject's score compared with the reference's
    margin: float
    pairing: str = "cross"  # or "larger-vs-smaller": subject bigger than reference, same side
    anchor: Side | None = None
    # the anchors when none of ``anchor`` is available (labelled proxies, e.g. LLMs for the API embedders)
    anchor_proxy: Side | None = None
    expected: tuple[ExpectedVerdict, ...] = field(default=())
    # the comparisons Holm's correction runs over together: this claim's, and those of every claim naming the
    # same correction family (empty: a correction family of its own)
    correction_family: str = ""
    paper: bool = True  # a claim the paper makes (False: beyond the paper, e.g. scale)
    paper_protocol: str = ""  # the paper's own protocol for it (data, method, models), as the paper states it

    @property
    def family_id(self) -> str:
        return self.correction_family or self.id

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "greater" else -1.0

    def expected_verdict(self, comparison: str) -> tuple[Verdict, str]:
        for expectation in self.expected:
            if fnmatch.fnmatchcase(comparison, expectation.comparison):
                return expectation.verdict, expectation.why
        return Verdict.CONFIRMED, "the paper's claim"


@dataclass(frozen=True)
class ComparisonSpec:
    claim: Claim
    subject: EmbedderEntry
    reference: EmbedderEntry
    anchor: EmbedderEntry | None = None

    @property
    def name(self) -> str:
        text = f"{self.subject.name} vs {self.reference.name}"
        return f"{text} (anchor {self.anchor.name})" if self.anchor else text

    @property
    def id(self) -> str:
        return f"{self.claim.id}:{self.name}"

    @property
    def entries(self) -> list[EmbedderEntry]:
        return [e for e in (self.subject, self.reference, self.anchor) if e is not None]


def _side(table: object, where: str) -> Side:
    if not isinstance(table, dict) or not set(table) <= {"family", "name"}:
        raise ClaimsFileError(f"{where}: a side is {{ family = [...] }} and/or {{ name = [...] }}")
    as_tuple = lambda v: (v,) if isinstance(v, str) else tuple(v)  # noqa: E731
    return Side(as_tuple(table.get("family", ())), as_tuple(table.get("name", ())))


REQUIRED = {"id", "statement", "section", "metric", "subject", "reference", "direction", "margin"}
OPTIONAL = {"params", "pairing", "anchor", "anchor_proxy", "expect", "correction_family", "paper", "paper_protocol"}


def load_claims(path: Path = CLAIMS_PATH) -> tuple[Settings, list[Claim]]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ClaimsFileError(f"{path}: {error}") from None
    try:
        settings = Settings(**document.get("settings", {}))
    except TypeError as error:
        raise ClaimsFileError(f"{path}: [settings]: {error}") from None
    if settings.correction != "holm":
        raise ClaimsFileError(f"{path}: [settings]: correction {settings.correction!r}: only 'holm' is implemented")
    claims, seen = [], set()
    for number, table in enumerate(document.get("claim", []), start=1):
        where = f"{path}: [[claim]] #{number} ({table.get('id', '?')})"
        if missing := REQUIRED - set(table):
            raise ClaimsFileError(f"{where}: missing {sorted(missing)}")
        if unknown := set(table) - REQUIRED - OPTIONAL:
            raise ClaimsFileError(f"{where}: unknown keys {sorted(unknown)}")
        if table["metric"] not in METRICS:
            raise ClaimsFileError(f"{where}: metric {table['metric']!r} is not one of {sorted(METRICS)}")
        if table["direction"] not in ("greater", "less"):
            raise ClaimsFileError(f"{where}: direction must be 'greater' or 'less'")
        if not isinstance(table.get("correction_family", ""), str) or not isinstance(table.get("paper", True), bool):
            raise ClaimsFileError(f"{where}: correction_family is a name (text) and paper is true or false")
        protocol = table.get("paper_protocol", "")
        if "paper_protocol" in table and (not isinstance(protocol, str) or not protocol.strip()):
            raise ClaimsFileError(
                f"{where}: paper_protocol is a non-empty text ('not stated' where the paper is silent)"
            )
        if table["id"] in seen:
            raise ClaimsFileError(f"{where}: id {table['id']!r} used twice")
        seen.add(table["id"])
        for number_, expectation in enumerate(table.get("expect", []), start=1):
            if unknown := set(expectation) - {"comparison", "verdict", "why"}:  # e.g. a claim key written below it
                raise ClaimsFileError(f"{where}: [[claim.expect]] #{number_}: unknown keys {sorted(unknown)}")
        try:
            expected = tuple(
                ExpectedVerdict(e["comparison"], Verdict(e["verdict"]), e["why"]) for e in table.get("expect", [])
            )
        except (KeyError, ValueError) as error:
            raise ClaimsFileError(
                f"{where}: [[claim.expect]] needs comparison, verdict (confirmed, refuted, "
                f"inconclusive) and why: {error}"
            ) from None
        claims.append(
            Claim(
                id=table["id"],
                statement=table["statement"],
                section=table["section"],
                metric=table["metric"],
                params=tuple(
                    (key, tuple(value) if isinstance(value, list) else value)
                    for key, value in sorted(table.get("params", {}).items())
                ),
                subject=_side(table["subject"], where),
                reference=_side(table["reference"], where),
                direction=table["direction"],
                margin=float(table["margin"]),
                pairing=table.get("pairing", "cross"),
                anchor=_side(table["anchor"], where) if "anchor" in table else None,
                anchor_proxy=_side(table["anchor_proxy"], where) if "anchor_proxy" in table else None,
                expected=expected,
                correction_family=table.get("correction_family", ""),
                paper=table.get("paper", True),
                paper_protocol=protocol,
            )
        )
    return settings, claims


def comparisons(claim: Claim, candidates: list[EmbedderEntry], selected: set[str] | None) -> list[ComparisonSpec]:
    """Every (subject, reference[, anchor]) of the claim among the candidates; with a selection, only those
    involving a selected embedder, which then meets the claim's other side."""
    subjects, references = claim.subject.members(candidates), claim.reference.members(candidates)
    if claim.pairing == "larger-vs-smaller":
        pairs = [(s, r) for s in subjects for r in references if (s.parameters or 0) > (r.parameters or 0)]
    else:
        pairs = [(s, r) for s in subjects for r in references if s.name != r.name]
    anchors: list[EmbedderEntry | None] = [None]
    if claim.anchor is not None:
        # the same anchors for the session and its correction families: those available here (an unavailable API
        # embedder named with --embedder does not displace the proxies the family was built with)
        anchors = [e for e in claim.anchor.members(candidates) if e.unavailable_reason() is None]
        if not anchors and claim.anchor_proxy is not None:
            anchors = list(claim.anchor_proxy.members(candidates))
    specs = [
        ComparisonSpec(claim, s, r, a) for s, r in pairs for a in anchors if a is None or a.name not in (s.name, r.name)
    ]
    if selected is not None:
        specs = [spec for spec in specs if {s.name for s in spec.entries} & selected]
    return specs


def correction_families(claims: list[Claim], available: list[EmbedderEntry]) -> dict[str, list[str]]:
    """Each correction family's members (comparison ids): every comparison its claims define over the embedders
    available to the session, before any selection narrows what runs."""
    families: dict[str, list[str]] = {}
    for claim in claims:
        families.setdefault(claim.family_id, []).extend(spec.id for spec in comparisons(claim, available, None))
    return families
