"""Paired bootstrap and grade intervals: harness.quality's when it is installed, else a small local fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

try:  # the quality package owns the statistics; the report only reads
    from harness.quality.bootstrap import paired_bootstrap as _paired_bootstrap

    LOCAL_FALLBACK = False
except ImportError:  # pragma: no cover - exercised only without harness.quality
    _paired_bootstrap = None
    LOCAL_FALLBACK = True


def paired_diff(a: Sequence[float], b: Sequence[float], resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean of a - b over the same prompts with a 95% percentile bootstrap interval: {diff_mean, lo, hi, n, verdict}."""
    if _paired_bootstrap is not None:
        return dict(_paired_bootstrap(list(a), list(b), resamples=resamples, seed=seed))
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)  # pragma: no cover - fallback
    n = int(d.size)  # pragma: no cover
    if n == 0:  # pragma: no cover
        return {"diff_mean": None, "lo": None, "hi": None, "n": 0, "verdict": "no clear difference"}
    mean = float(d.mean())  # pragma: no cover
    if n == 1:  # pragma: no cover
        return {"diff_mean": mean, "lo": mean, "hi": mean, "n": 1, "verdict": "no clear difference"}
    rng = np.random.default_rng(seed)  # pragma: no cover
    boot = d[rng.integers(0, n, size=(resamples, n))].mean(axis=1)  # pragma: no cover
    lo, hi = (float(x) for x in np.quantile(boot, [0.025, 0.975]))  # pragma: no cover
    verdict = "A better" if lo > 0 else "B better" if hi < 0 else "no clear difference"  # pragma: no cover
    return {"diff_mean": mean, "lo": min(lo, mean), "hi": max(hi, mean), "n": n, "verdict": verdict}  # pragma: no cover


def mean_ci(values: Sequence[float], resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """{mean, lo, hi, n} of plain values (human grades)."""
    try:
        from harness.quality.bootstrap import ci_dict

        return dict(ci_dict(list(values), resamples=resamples, seed=seed))
    except ImportError:  # pragma: no cover - fallback
        arr = np.asarray(values, dtype=float)
        if arr.size == 0:
            return {"mean": None, "lo": None, "hi": None, "n": 0}
        rng = np.random.default_rng(seed)
        boot = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        return {"mean": float(arr.mean()), "lo": float(lo), "hi": float(hi), "n": int(arr.size)}
