"""Claims as data: read evals/claims.toml and expand each claim into comparisons between embedders."""

from __future__ import annotations

import fnmatch
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from embedders import EMBEDDERS, SPEC_FORMS, EmbedderEntry
from embedders.declarations import DeclaredEntry
from evals.claims.contextual import TOKEN_LEVEL_METRICS
from evals.claims.metrics import METRICS
from evals.claims.settings import Settings
from evals.records import Verdict
from evals.schema import (
    FAMILIES,
    Invalid,
    NameWarning,
    choice,
    embedder_name,
    flag,
    key,
    number,
    one_or_list,
    read_dataclass,
    text,
)

CLAIMS_PATH = Path(__file__).resolve().parent.parent / "claims.toml"


class ClaimsFileError(ValueError):
    pass


DIRECTIONS = ("greater", "less")
PAIRINGS = ("cross", "larger-vs-smaller")
ANCHORED = "agreement"  # the one metric compared through a third embedder


@dataclass(frozen=True)
class Side:
    families: tuple[str, ...] = field(default=(), metadata=key(one_or_list(choice(FAMILIES)), "family"))
    names: tuple[str, ...] = field(default=(), metadata=key(one_or_list(text), "name"))

    def members(self, entries: list[EmbedderEntry]) -> list[EmbedderEntry]:
        # an embedder declared in embedders.toml to stand for one of the paper's models is on every side naming
        # that model; any other is matched by name only (two registered names may be one paper model, and
        # llama2-7b#prompt is not the paper's extraction)
        paper_models = {EMBEDDERS[n].paper_model for n in self.names if n in EMBEDDERS} - {None}
        return [
            e
            for e in entries
            if e.name in self.names
            or str(e.family) in self.families
            or (isinstance(e, DeclaredEntry) and e.paper_model in paper_models)
        ]

    def describe(self) -> str:
        return " or ".join([*self.names, *(f"any {f}" for f in self.families)])


def _as_tuple(value: object) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def side(value: object) -> Side:
    """{ family = [...] } and/or { name = [...] }, naming at least one: an empty side would drop its claim."""
    found = read_dataclass(Side, value, "side", Invalid)
    found = Side(_as_tuple(found.families), _as_tuple(found.names))
    if not found.families and not found.names:
        raise Invalid("a side names at least one family or name: { family = [...] } and/or { name = [...] }")
    return found


@dataclass(frozen=True)
class ExpectedVerdict:
    comparison: str = field(metadata=key(text))  # "SUBJECT vs REFERENCE", shell wildcards allowed
    verdict: Verdict = field(metadata=key(lambda v: Verdict(choice(tuple(Verdict))(v))))
    why: str = field(metadata=key(text))


def expected_verdicts(value: object) -> tuple[ExpectedVerdict, ...]:
    if not isinstance(value, list):
        raise Invalid("must be [[claim.expect]] tables")
    return tuple(
        read_dataclass(ExpectedVerdict, table, f"[[claim.expect]] #{number_}", Invalid)
        for number_, table in enumerate(value, start=1)
    )


def params(value: object) -> tuple[tuple[str, object], ...]:
    """The table as sorted (name, value) pairs; which names and values are allowed is the metric's to say."""
    if not isinstance(value, dict):
        raise Invalid("must be a table { name = value, ... }")
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(value.items()))


# Each field that declares a key (evals/schema.py) is a key of [[claim]]; one with no default (nor `absent`) is
# required. Rules across keys (a metric's params, anchors, expectations, unique ids) are checked by load_claims.
@dataclass(frozen=True)
class Claim:
    id: str = field(metadata=key(text))
    statement: str = field(metadata=key(text))
    section: str = field(metadata=key(text))
    metric: str = field(metadata=key(lambda v: choice(sorted(METRICS))(v)))
    params: tuple[tuple[str, object], ...] = field(metadata=key(params, absent=()))
    subject: Side = field(metadata=key(side))
    reference: Side = field(metadata=key(side))
    # "greater" or "less": the subject's score compared with the reference's
    direction: str = field(metadata=key(choice(DIRECTIONS)))
    margin: float = field(metadata=key(number()))
    # or "larger-vs-smaller": subject bigger than reference, same side
    pairing: str = field(default="cross", metadata=key(choice(PAIRINGS)))
    anchor: Side | None = field(default=None, metadata=key(side))
    # the anchors when none of ``anchor`` is available (labelled proxies, e.g. LLMs for the API embedders)
    anchor_proxy: Side | None = field(default=None, metadata=key(side))
    expected: tuple[ExpectedVerdict, ...] = field(default=(), metadata=key(expected_verdicts, "expect"))
    # the comparisons Holm's correction runs over together: this claim's, and those of every claim naming the
    # same correction family (empty: a correction family of its own)
    correction_family: str = field(default="", metadata=key(text))
    # a claim the paper makes (False: beyond the paper, e.g. scale)
    paper: bool = field(default=True, metadata=key(flag))
    # the paper's own protocol for it (data, method, models), as the paper states it ('not stated' where silent)
    paper_protocol: str = field(default="", metadata=key(text))

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


def load_claims(path: Path = CLAIMS_PATH, declared: Sequence[EmbedderEntry] = ()) -> tuple[Settings, list[Claim]]:
    """The claims file, checked; ``declared``: the embedders declared in embedders.toml, which its sides and
    expectations may name like registered ones."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ClaimsFileError(f"{path}: {error}") from None
    if unknown := sorted(set(document) - {"settings", "claim"}):
        raise ClaimsFileError(f"{path}: unknown tables {unknown}; allowed: [settings] and [[claim]]")
    settings = read_dataclass(Settings, document.get("settings", {}), f"{path}: [settings]", ClaimsFileError)
    if settings.alpha > 1 - settings.confidence:
        # a verdict at alpha must mean its interval excludes the margin: alpha at most the interval's 1 - confidence
        raise ClaimsFileError(
            f"{path}: [settings]: alpha = {settings.alpha:g} is above 1 - confidence = {1 - settings.confidence:g}: "
            "a confirmed verdict's interval could then straddle the margin"
        )
    tables = document.get("claim", [])
    if not isinstance(tables, list):
        raise ClaimsFileError(f"{path}: claim must be [[claim]] tables")
    claims: list[Claim] = []
    for number_, table in enumerate(tables, start=1):
        name = table.get("id") if isinstance(table, dict) else None
        where = f"{path}: [[claim]] #{number_} ({name if isinstance(name, str) else '?'})"
        claim = read_dataclass(Claim, table, where, ClaimsFileError)
        if claim.id in {c.id for c in claims}:
            raise ClaimsFileError(f"{where}: id {claim.id!r} used twice")
        check_claim(claim, where, declared)
        claims.append(claim)
    ids = {c.id: c for c in claims}
    for number_, claim in enumerate(claims, start=1):
        # a family named as another claim's id would join that claim's comparisons in one correction unseen (a
        # typo's likely effect): a family shared with a claim is named by both
        owner = ids.get(claim.correction_family)
        if owner is not None and owner is not claim and owner.correction_family != claim.correction_family:
            raise ClaimsFileError(
                f"{path}: [[claim]] #{number_} ({claim.id}): correction_family {claim.correction_family!r} is the id "
                "of another claim that does not name it as its correction_family: name a family, not a claim"
            )
        # a family only one claim names is a typo's likely effect (D22 for D2): it splits a family, and so weakens
        # its correction; said, not refused, since a family of one may be meant
        named = [c for c in claims if c.correction_family == claim.correction_family]
        if claim.correction_family and len(named) == 1 and claim.correction_family != claim.id:
            warnings.warn(
                f"{path}: [[claim]] #{number_} ({claim.id}): correction_family {claim.correction_family!r} is named by "
                "no other claim, so it is a family of its own (a misspelt shared family splits it and weakens its "
                "correction): leave the key out if that is meant",
                NameWarning,
                stacklevel=2,
            )
    return settings, claims


def check_claim(claim: Claim, where: str, declared: Sequence[EmbedderEntry] = ()) -> None:
    """The rules across keys: the metric's params, anchors only where the metric takes one, names we know or warn
    of, and every [[claim.expect]] matching a comparison the claim can define."""
    try:
        METRICS[claim.metric].params.check(dict(claim.params))
    except Invalid as problem:
        raise ClaimsFileError(f"{where}: params: {problem}") from None
    takes_anchor = claim.metric == ANCHORED
    if takes_anchor and claim.anchor is None:
        raise ClaimsFileError(f"{where}: anchor: metric {ANCHORED!r} needs an anchor side")
    for name, value in (("anchor", claim.anchor), ("anchor_proxy", claim.anchor_proxy)):
        if value is not None and not takes_anchor:
            raise ClaimsFileError(f"{where}: {name}: only metric {ANCHORED!r} takes an anchor")
    if claim.pairing == "larger-vs-smaller" and claim.anchor is not None:
        raise ClaimsFileError(f"{where}: pairing: 'larger-vs-smaller' takes no anchor")
    sides = [("subject", claim.subject), ("reference", claim.reference), ("anchor", claim.anchor)]
    for side_name, value in [*sides, ("anchor_proxy", claim.anchor_proxy)]:
        for name in value.names if value else ():
            embedder_name(name, f"{where}: {side_name}", {e.name for e in declared})
    possible = possible_comparisons(claim, declared)
    if not possible:
        raise ClaimsFileError(f"{where}: subject and reference define no comparison between registered embedders")
    for number_, expectation in enumerate(claim.expected, start=1):
        if _names_a_path_format(claim, expectation.comparison):
            continue  # a user's own FORMAT:PATH embedder joins through its family; its paths are not known here
        if not any(fnmatch.fnmatchcase(name, expectation.comparison) for name in possible):
            raise ClaimsFileError(
                f"{where}: [[claim.expect]] #{number_}: comparison {expectation.comparison!r} matches no comparison "
                f"of this claim (e.g. {sorted(possible)[0]!r})"
            )


def _names_a_path_format(claim: Claim, pattern: str) -> bool:
    """Whether the pattern names a path format (``glove:...``) whose family is on one of the claim's sides."""
    families = {
        f for side in (claim.subject, claim.reference, claim.anchor, claim.anchor_proxy) if side for f in side.families
    }
    return any(f"{name}:" in pattern and str(entry.family) in families for name, entry in SPEC_FORMS.items())


def possible_comparisons(claim: Claim, declared: Sequence[EmbedderEntry] = ()) -> set[str]:
    """The names of every comparison the claim can define over the registered and declared embedders, available
    here or not, and over the names its sides give that no registry knows yet (their size unknown: any pairing)."""
    entries = [*EMBEDDERS.values(), *declared]
    known = {e.name for e in entries}
    pairs = {(s.subject.name, s.reference.name) for s in comparisons(replace(claim, anchor=None), entries, None)}
    unknown = lambda side: [n for n in side.names if n not in known]  # noqa: E731
    subjects = [e.name for e in claim.subject.members(entries)] + unknown(claim.subject)
    references = [e.name for e in claim.reference.members(entries)] + unknown(claim.reference)
    pairs |= {(s, r) for s in subjects for r in references if s != r and (s not in known or r not in known)}
    if claim.anchor is None:
        return {f"{s} vs {r}" for s, r in pairs}
    anchors = {e.name for a in (claim.anchor, claim.anchor_proxy) if a for e in a.members(entries)}
    anchors |= {n for a in (claim.anchor, claim.anchor_proxy) if a for n in unknown(a)}
    return {f"{s} vs {r} (anchor {a})" for s, r in pairs for a in anchors if a not in (s, r)}


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


def applicable(spec: ComparisonSpec) -> bool:
    """Whether the comparison's metric can be defined for both sides, by what their entries declare: a token-level
    metric needs token vectors on both (a user's model that turns out to lack them is still skipped once loaded)."""
    if spec.claim.metric in TOKEN_LEVEL_METRICS:
        return spec.subject.token_vectors and spec.reference.token_vectors
    return True


def correction_families(claims: list[Claim], available: list[EmbedderEntry]) -> dict[str, list[str]]:
    """Each correction family's members (comparison ids): every comparison its claims define over the embedders
    available to the session, before any selection narrows what runs."""
    families: dict[str, list[str]] = {}
    for claim in claims:
        families.setdefault(claim.family_id, []).extend(spec.id for spec in comparisons(claim, available, None))
    return families
