"""Session-wide settings of the claims engine, read from [settings] in claims.toml."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    resamples: int = 2000  # paired bootstrap resamples per comparison
    seed: int = 20240217
    alpha: float = 0.05  # family-wise error rate within each claim's family
    correction: str = "holm"
    confidence: float = 0.95  # of the reported interval (not adjusted for the family)
    tolerance: float = 1e-6  # an effect this close to the margin is float rounding, never decisive
    random_pairs: int = 1000  # random WordNet word pairs for D1 and D2
    # the user's --dataset NAME=PATH pairs (set by the plugin, not in claims.toml): where the claims' datasets are read
    datasets: tuple[tuple[str, Path], ...] = ()
