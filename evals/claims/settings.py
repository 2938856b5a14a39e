"""Session-wide settings of the claims engine, read from [settings] in claims.toml."""

from dataclasses import dataclass, field

from fixtures import Resolver


@dataclass(frozen=True)
class Settings:
    resamples: int = 2000  # paired bootstrap resamples per comparison
    seed: int = 20240217
    alpha: float = 0.05  # family-wise error rate within each claim's family
    correction: str = "holm"
    confidence: float = 0.95  # of the reported interval (not adjusted for the family)
    tolerance: float = 1e-6  # an effect this close to the margin is float rounding, never decisive
    random_pairs: int = 1000  # random WordNet word pairs for D1 and D2
    # where the claims' datasets are read: the session's resolver (set by the plugin, not in claims.toml); its repr
    # holds the content digest of the user's dataset files, so a cached result is keyed by what it read
    data: Resolver = field(default_factory=Resolver)
