"""Expected outcomes, read from one TOML file that users can edit, and their check against a measurement."""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from evals.schema import FAMILIES, embedder_name, key, number, read_dataclass, text
from evals.tasks.measurement import Measurement

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "evals" / "expectations.toml"


class ExpectationsError(ValueError):
    pass


def bound(value: object) -> float:
    return number()(value)


# Each field is a key of [[expect]], declared with what it allows (evals/schema.py); no default: required.
@dataclass(frozen=True)
class Expectation:
    check: str = field(metadata=key(text))  # "task/dataset/variant", shell wildcards allowed
    who: str = field(metadata=key(text))  # an embedder name, a family, or "*"
    metric: str = field(metadata=key(text))
    why: str = field(metadata=key(text))
    at_least: float | None = field(default=None, metadata=key(bound))
    at_most: float | None = field(default=None, metadata=key(bound))

    def rank(self, measurement: Measurement) -> int | None:
        """How specifically this applies: 0 by embedder name, 1 by family, 2 for everyone; None if not at all."""
        if not fnmatch.fnmatchcase(measurement.check, self.check) or self.metric not in measurement.metrics:
            return None
        info = measurement.embedder
        return {info.name: 0, str(info.family): 1, "*": 2}.get(self.who)

    def describe(self) -> str:
        bounds = [
            f">= {self.at_least}" if self.at_least is not None else "",
            f"<= {self.at_most}" if self.at_most is not None else "",
        ]
        return f"{self.metric} {' and '.join(b for b in bounds if b)} ({self.who}: {self.why})"

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return (self.at_least is None or value >= self.at_least) and (self.at_most is None or value <= self.at_most)


def load_expectations(path: Path = DEFAULT_PATH, declared: Collection[str] = ()) -> list[Expectation]:
    """The expectations file, checked; ``declared``: the names declared in embedders.toml, which ``who`` may give
    like registered ones."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ExpectationsError(f"{path}: {error}") from None
    if unknown := sorted(set(document) - {"expect"}):
        raise ExpectationsError(f"{path}: unknown tables {unknown}; allowed: [[expect]]")
    tables = document.get("expect", [])
    if not isinstance(tables, list):
        raise ExpectationsError(f"{path}: expect must be [[expect]] tables")
    expectations = []
    for number_, table in enumerate(tables, start=1):
        where = f"{path}: [[expect]] #{number_}"
        expectation = read_dataclass(Expectation, table, where, ExpectationsError)
        if expectation.at_least is None and expectation.at_most is None:
            raise ExpectationsError(f"{where}: needs at_least and/or at_most")
        if expectation.at_least is not None and expectation.at_most is not None:
            if expectation.at_least > expectation.at_most:
                raise ExpectationsError(
                    f"{where}: at_least {expectation.at_least} is above at_most {expectation.at_most}: nothing passes"
                )
        if expectation.who != "*" and expectation.who not in FAMILIES:
            embedder_name(expectation.who, f"{where}: who", declared)
        expectations.append(expectation)
    return expectations


def applicable(expectations: list[Expectation], measurement: Measurement) -> list[Expectation]:
    """For each metric, the expectations of the most specific rank that applies to this measurement."""
    best: dict[str, tuple[int, list[Expectation]]] = {}
    for expectation in expectations:
        rank = expectation.rank(measurement)
        if rank is None:
            continue
        current = best.get(expectation.metric)
        if current is None or rank < current[0]:
            best[expectation.metric] = (rank, [expectation])
        elif rank == current[0]:
            current[1].append(expectation)
    return [expectation for _, group in best.values() for expectation in group]


def failures(expectations: list[Expectation], measurement: Measurement) -> list[str]:
    """What the measurement fails to show; an error if nothing is expected of it at all."""
    chosen = applicable(expectations, measurement)
    if not chosen:
        raise ExpectationsError(
            f"no expectation recorded for {measurement.check} and {measurement.embedder.name}: add an [[expect]] "
            'table (who = the embedder, its family or "*") to the expectations file'
        )
    return [
        f"{measurement.metrics[e.metric]:.4f} fails {e.describe()}"
        for e in chosen
        if not e.holds(measurement.metrics[e.metric])
    ]
