"""Session-wide settings of the claims engine, read from [settings] in claims.toml: each key is a field here,
declared with what it allows (evals/schema.py)."""

from dataclasses import dataclass, field

from evals.schema import choice, integer, key, number
from fixtures import Resolver

# Holm's step-down correction is the only one the engine applies: any other name would be recorded but not applied
CORRECTIONS = ("holm",)


@dataclass(frozen=True)
class Settings:
    # paired bootstrap resamples per comparison. At least 200: the interval and p value are t-based on the
    # resamples' standard deviation, whose relative error is about 1 / sqrt(2 (B - 1)), 5% at B = 200 (Efron and
    # Tibshirani 1993, sec. 6.4, find 50-200 enough for a standard error); fewer give an interval that need not
    # contain its own effect (seen: resamples = 1 confirmed). At most 100,000 so no setting makes a run endless.
    resamples: int = field(default=2000, metadata=key(integer(200, 100_000)))
    seed: int = field(default=20240217, metadata=key(integer(0, 2**32 - 1)))  # numpy seeds: non-negative, < 2**32
    # family-wise error rate within each claim's family; above 0.5 a "sure" verdict is less likely right than wrong
    alpha: float = field(default=0.05, metadata=key(number(0, 0.5, open_low=True)))
    correction: str = field(default="holm", metadata=key(choice(CORRECTIONS)))
    # of the reported interval (not adjusted for the family); at most 0.5 it would not be an interval of confidence
    confidence: float = field(default=0.95, metadata=key(number(0.5, 1, open_low=True, open_high=True)))
    # an effect this close to the margin is float rounding, never decisive; above 0.01 it would hide real effects
    tolerance: float = field(default=1e-6, metadata=key(number(0, 0.01)))
    # random WordNet word pairs for D1 and D2: at least 100 for a mean worth testing, at most 100,000 (time)
    random_pairs: int = field(default=1000, metadata=key(integer(100, 100_000)))
    # where the claims' datasets are read: the session's resolver (set by the plugin, not in claims.toml); its repr
    # holds the content digest of the user's dataset files, so a cached result is keyed by what it read
    data: Resolver = field(default_factory=Resolver)
