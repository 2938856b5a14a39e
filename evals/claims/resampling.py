"""What a claim's bootstrap draws: the independent units its items are built from.

Items are not always independent. Lee50's 1,225 sentence pairs are every pair of 50 documents; Google analogy's
19,544 questions are every ordered pair of 550 (a, b) word pairs within their sections. Drawing items as if
independent then gives intervals too narrow. So each item names the unit(s) it is built from (one unit: the item
is its own unit; two units: a pair of units), units may be grouped in strata that keep their size, and a resample
draws units with replacement; an item's weight is the product of its units' draw counts (every pair among the
drawn documents, each as often as both its documents were drawn; a pair of a document with itself does not exist
and is never made).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Draws:
    weights: np.ndarray  # resamples x items
    units: int  # units that could be drawn (those with at least one usable item)
    strata: int
    smallest: int  # units in the smallest stratum: with one, that stratum never varies


@dataclass(frozen=True, eq=False)
class Resampling:
    """``units[i]`` holds the unit ids item i is built from (1 or 2 of them); ``strata[u]`` the stratum of unit u."""

    unit: str  # what is drawn, in words: recorded with every comparison
    units: np.ndarray  # items x k, k = 1 or 2; unit ids 0..U-1
    strata: np.ndarray  # per unit id

    @classmethod
    def items(cls, count: int, unit: str = "items") -> Resampling:
        """Independent items, each its own unit, one stratum."""
        return cls(unit, np.arange(count)[:, None], np.zeros(count, dtype=int))

    @classmethod
    def stratified(cls, strata: np.ndarray, unit: str) -> Resampling:
        """Independent items drawn within their strata (each stratum keeps its size)."""
        codes = np.unique(np.asarray(strata), return_inverse=True)[1]
        return cls(unit, np.arange(len(codes))[:, None], codes)

    @classmethod
    def pairs_of(cls, left: list, right: list, unit: str, stratum_of: dict | None = None) -> Resampling:
        """Items built from two units each (hashable keys); ``stratum_of`` maps a unit key to its stratum."""
        keys = list(dict.fromkeys([*left, *right]))
        index = {key: i for i, key in enumerate(keys)}
        units = np.array([[index[a], index[b]] for a, b in zip(left, right, strict=True)], dtype=int).reshape(-1, 2)
        labels = [stratum_of[key] if stratum_of else 0 for key in keys]
        strata = np.unique(np.array(labels, dtype=object).astype(str), return_inverse=True)[1] if keys else np.zeros(0)
        return cls(unit, units, np.asarray(strata, dtype=int))

    def __len__(self) -> int:
        return len(self.units)

    def same_as(self, other: Resampling) -> bool:
        return (
            self.unit == other.unit
            and np.array_equal(self.units, other.units)
            and np.array_equal(self.strata, other.strata)
        )

    def draw(self, keep: np.ndarray, rng: np.random.Generator, count: int) -> Draws:
        """``count`` resamples as item weights; items not kept weigh 0. Units appearing in no kept item are not
        drawn, so a stratum's usable units keep their number in every resample."""
        active = np.zeros(len(self.strata), dtype=bool)
        active[self.units[keep].ravel()] = True
        unit_weights = np.zeros((count, len(self.strata)))
        strata = np.unique(self.strata[active])
        for stratum in strata:
            members = np.flatnonzero(active & (self.strata == stratum))
            size = len(members)
            picks = rng.integers(0, size, (count, size)) + size * np.arange(count)[:, None]
            unit_weights[:, members] = np.bincount(picks.ravel(), minlength=count * size).reshape(count, size)
        weights = np.prod(unit_weights[:, self.units], axis=2)
        weights[:, ~keep] = 0.0
        smallest = min((int((active & (self.strata == h)).sum()) for h in strata), default=0)
        return Draws(weights, int(active.sum()), len(strata), smallest)
