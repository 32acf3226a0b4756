"""Percentile bootstrap over prompts: intervals for one mean, and paired differences.

Seeded (numpy's default_rng), so a result file's intervals are reproducible. The interval is
the (1-level)/2 and (1+level)/2 quantiles of the resampled means; the point estimate is the plain
mean of the values. With few prompts (< ~20) percentile intervals are somewhat too narrow: read
them as a guide, not a test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

_MAX_CELLS = 4_000_000  # resample in chunks of at most this many drawn indices (memory)


def _values(values: Iterable[float | None], what: str = "values") -> np.ndarray:
    arr = np.asarray([float(v) for v in values if v is not None], dtype=float)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite numbers")
    return arr


def _check(resamples: int, level: float) -> None:
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")


def resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` bootstrap resamples (with replacement, same size) of `values`."""
    n = values.size
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS // max(n, 1))
    out = np.empty(resamples, dtype=float)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def _interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_ci(
    values: Iterable[float | None], resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float] | None:
    """(mean, lo, hi) of the values (None entries skipped). None for no values; lo = hi = mean for one."""
    _check(resamples, level)
    arr = _values(values)
    if arr.size == 0:
        return None
    mean = float(arr.mean())
    if arr.size == 1:
        return mean, mean, mean
    lo, hi = _interval(resampled_means(arr, resamples, seed), level)
    # float rounding can put a constant sample's quantiles a hair off its mean
    return mean, min(lo, mean), max(hi, mean)


def ci_dict(values: Iterable[float | None], resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """{mean, lo, hi, n}: the layout of every interval in a result file (None figures when n = 0)."""
    arr = _values(values)
    ci = bootstrap_ci(arr, resamples=resamples, seed=seed, level=level)
    if ci is None:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    return {"mean": ci[0], "lo": ci[1], "hi": ci[2], "n": int(arr.size)}


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """Compare A and B on the SAME prompts: a[i] and b[i] are one prompt's scores (see `align_by_id`).

    Returns {diff_mean, lo, hi, p_a_gt_b, n, verdict}: the mean of a - b with its percentile
    bootstrap interval (prompts resampled as pairs), the share of resamples in which A's mean is
    above B's (ties count half; a bootstrap share, not a test's p-value), and a verdict that names a
    winner only when the interval excludes 0 ("A better", "B better", else "no clear difference";
    with `higher_is_better=False`, e.g. bits per character, a lower mean is better). Fewer than two
    pairs never give a verdict.
    """
    _check(resamples, level)
    if len(a) != len(b):
        raise ValueError(f"paired_bootstrap needs aligned scores: {len(a)} vs {len(b)}")
    if any(x is None for x in a) or any(x is None for x in b):
        raise ValueError("paired_bootstrap got None scores: align them with align_by_id first")
    d = _values(a, "a") - _values(b, "b")
    n = int(d.size)
    if n == 0:
        return {"diff_mean": None, "lo": None, "hi": None, "p_a_gt_b": None, "n": 0, "verdict": "no clear difference"}
    mean = float(d.mean())
    if n == 1:
        p = 1.0 if mean > 0 else 0.0 if mean < 0 else 0.5
        return {"diff_mean": mean, "lo": mean, "hi": mean, "p_a_gt_b": p, "n": 1, "verdict": "no clear difference"}
    boot = resampled_means(d, resamples, seed)
    lo, hi = _interval(boot, level)
    lo, hi = min(lo, mean), max(hi, mean)
    p_a_gt_b = float(np.mean(boot > 0) + 0.5 * np.mean(boot == 0))
    if not higher_is_better:
        p_a_gt_b = 1.0 - p_a_gt_b  # share of resamples in which A is better
    verdict = "no clear difference"
    if lo > 0 or hi < 0:
        a_higher = lo > 0
        verdict = "A better" if a_higher == higher_is_better else "B better"
    return {"diff_mean": mean, "lo": lo, "hi": hi, "p_a_gt_b": p_a_gt_b, "n": n, "verdict": verdict}


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def align_by_id(
    answers_a: Iterable[Any], answers_b: Iterable[Any], metric: str, stage: str | None = None
) -> tuple[list[float], list[float]]:
    """Scores of `metric` (from each answer's `scores`) for the prompt ids both sides have, with a
    value on both sides, in A's order: ready for `paired_bootstrap`. Answers are `Answer` objects or
    their dicts; `stage` keeps only that stage's answers (needed when a list holds both stages)."""

    def by_id(answers: Iterable[Any], side: str) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for ans in answers:
            if stage is not None and _field(ans, "stage") != stage:
                continue
            aid = str(_field(ans, "id"))
            if aid in out:
                raise ValueError(f"answers {side}: id {aid!r} appears twice; pass stage= to pick one stage")
            value = (_field(ans, "scores") or {}).get(metric)
            out[aid] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        return out

    a, b = by_id(answers_a, "A"), by_id(answers_b, "B")
    ids = [i for i in a if i in b and a[i] is not None and b[i] is not None]
    return [a[i] for i in ids], [b[i] for i in ids]  # type: ignore[misc]
