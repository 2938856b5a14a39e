"""Expected outcomes, read from one TOML file that users can edit, and their check against a measurement."""

from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from evals.tasks.measurement import Measurement

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "evals" / "expectations.toml"
FIELDS = {"check", "who", "metric", "at_least", "at_most", "why"}


class ExpectationsError(ValueError):
    pass


@dataclass(frozen=True)
class Expectation:
    check: str  # "task/dataset/variant", shell wildcards allowed
    who: str  # an embedder name, a family, or "*"
    metric: str
    at_least: float | None
    at_most: float | None
    why: str

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


def load_expectations(path: Path = DEFAULT_PATH) -> list[Expectation]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ExpectationsError(f"{path}: {error}") from None
    expectations = []
    for number, table in enumerate(document.get("expect", []), start=1):
        where = f"{path}: [[expect]] #{number}"
        unknown = set(table) - FIELDS
        if unknown:
            raise ExpectationsError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(FIELDS)}")
        missing = {"check", "who", "metric", "why"} - set(table)
        if missing or ("at_least" not in table and "at_most" not in table):
            raise ExpectationsError(f"{where}: needs check, who, metric, why and at_least and/or at_most")
        bounds = [table.get("at_least"), table.get("at_most")]
        if not all(bound is None or isinstance(bound, int | float) for bound in bounds):
            raise ExpectationsError(f"{where}: at_least / at_most must be numbers")
        expectations.append(
            Expectation(table["check"], table["who"], table["metric"], bounds[0], bounds[1], table["why"])
        )
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
