"""Bootstrap helpers for the report's own figures (the quality package owns the per-prompt statistics).

Percentile intervals of resampled means, seeded, so a report is reproducible from its result files.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Est:
    """A point figure with its 95% interval (lo/hi None: no interval, e.g. a single sample)."""

    mean: float | None
    lo: float | None = None
    hi: float | None = None
    n: int = 0  # samples behind it

    @property
    def known(self) -> bool:
        return self.mean is not None

    def overlaps(self, other: Est) -> bool:
        """Intervals overlap (a point without an interval is its own interval)."""
        if self.mean is None or other.mean is None:
            return False
        a_lo, a_hi = _ends(self)
        b_lo, b_hi = _ends(other)
        return a_lo <= b_hi and b_lo <= a_hi

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n}


def _ends(e: Est) -> tuple[float, float]:
    assert e.mean is not None
    return (e.lo if e.lo is not None else e.mean, e.hi if e.hi is not None else e.mean)


NONE = Est(None)


def rng(seed: int = SEED) -> np.random.Generator:
    return np.random.default_rng(seed)


def _resample(
    values: Sequence[float], resamples: int, gen: np.random.Generator, stat: Callable[..., Any]
) -> np.ndarray:
    """`stat` over each of `resamples` resamples (with replacement, same size) of `values`."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return np.full(resamples, np.nan)
    if arr.size == 1:
        return np.full(resamples, float(arr[0]))
    idx = gen.integers(0, arr.size, size=(resamples, arr.size))
    return stat(arr[idx], axis=1)


def resample_means(values: Sequence[float], resamples: int, gen: np.random.Generator) -> np.ndarray:
    """Means of `resamples` resamples (with replacement, same size) of `values`."""
    return _resample(values, resamples, gen, np.mean)


def resample_medians(values: Sequence[float], resamples: int, gen: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` resamples (with replacement, same size) of `values`."""
    return _resample(values, resamples, gen, np.median)


def estimate(point: float | None, samples: np.ndarray | None, n: int, level: float = LEVEL) -> Est:
    """The point figure with the percentile interval of its bootstrap samples (none when n < 2)."""
    if point is None:
        return NONE
    if samples is None or n < 2 or not np.isfinite(samples).all():
        return Est(point, None, None, n)
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return Est(point, min(float(lo), point), max(float(hi), point), n)
