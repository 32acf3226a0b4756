"""Per-answer scores, stage summaries with bootstrap intervals, and the composite score.

Layout written into `RunResult.quality` by `score_run` (the run child)::

    quality["base"|"tuned"][metric] = {"mean", "lo", "hi", "n"}     # 95% bootstrap over prompts
    quality["meaningful"] = bool                                     # False: shape-mode weights

Metrics per answer (`Answer.scores`): chrf (0..100), contains, hangul_ratio, empty, repetition,
distinct2, truncated (booleans as 0.0/1.0) and bits_per_char (reference answers, when the run
measured the loss). Stage summaries add chrf_corpus (corpus-level chrF++).

The composite (0..100) is not stored: the report computes it from the per-answer scores with the
weights it is given (`composite_block`), so reweighting needs no rerun.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.quality import metrics as m
from harness.quality.bootstrap import ci_dict, paired_bootstrap
from harness.quality_weights import COMPOSITE_FORMULA, DEFAULT_WEIGHTS, resolve_weights

STAGES = ("base", "tuned")
METRICS = ("chrf", "contains", "hangul_ratio", "empty", "repetition", "distinct2", "truncated")
REFERENCE_METRICS = ("chrf", "contains")

# ---------------------------------------------------------------- per answer


def _f(x: bool | float | None) -> float | None:
    return None if x is None else float(x)


def score_answer(answer: str, reference: str | None, key_phrase: str | None, hit_eos: bool) -> dict[str, float | None]:
    """Scores of one answer. A blank reference counts as none: reference-based metrics are then None."""
    has_ref = reference is not None and reference.strip() != ""
    return {
        "chrf": m.chrf_sentence(answer, reference) if has_ref else None,  # type: ignore[arg-type]
        "contains": _f(m.contains_match(answer, reference, key_phrase)) if has_ref else None,  # type: ignore[arg-type]
        "hangul_ratio": m.hangul_ratio(answer),
        "empty": _f(m.is_empty(answer)),
        "repetition": m.repetition(answer),
        "distinct2": m.distinct2(answer),
        "truncated": _f(m.truncated(hit_eos)),
    }


# ---------------------------------------------------------------- composite


def _value(scores: Mapping[str, Any], metric: str) -> float | None:
    v = scores.get(metric)
    if isinstance(v, Mapping):  # a stage summary: {mean, lo, hi, n}
        v = v.get("mean")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def _terms(scores: Mapping[str, Any]) -> dict[str, float | None]:
    chrf, rep, bpc = _value(scores, "chrf"), _value(scores, "repetition"), _value(scores, "bits_per_char")
    trunc = _value(scores, "truncated")
    return {
        "chrf": None if chrf is None else chrf / 100.0,
        "contains": _value(scores, "contains"),
        "hangul": _value(scores, "hangul_ratio"),
        "clean": None if rep is None else 1.0 - rep,
        "complete": None if trunc is None else 1.0 - trunc,
        "distinct": _value(scores, "distinct2"),
        "likelihood": None if bpc is None else 2.0 ** (-bpc),
    }


def composite(summary: Mapping[str, Any], weights: Mapping[str, Any] | None = None) -> float | None:
    """COMPOSITE_FORMULA (0..100) applied to one answer's scores or to a stage summary's means.

    On a summary it is a point estimate close to, not equal to, the mean of the per-answer
    composites (which the report computes, with its interval, in `composite_block`). None when a reference-based term with
    a positive weight is missing (no reference) or no weighted term is defined.
    """
    w = resolve_weights(weights)
    terms = _terms(summary)
    if any(terms[k] is None and w[k] > 0 for k in REFERENCE_METRICS):
        return None
    used = {k: t for k, t in terms.items() if t is not None and w[k] > 0}
    total = sum(w[k] for k in used)
    if total <= 0:
        return None
    empty = _value(summary, "empty") or 0.0
    score = 100.0 * (1.0 - empty) * sum(w[k] * t for k, t in used.items()) / total
    return min(100.0, max(0.0, score))


# ---------------------------------------------------------------- summaries


def _chrf_corpus_ci(hyps: Sequence[str], refs: Sequence[str], resamples: int, seed: int, level: float) -> dict:
    n = len(hyps)
    if n == 0:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    mean = m.chrf_corpus(hyps, refs)
    stats = m.chrf_corpus_stats(hyps, refs) if n > 1 else None
    if stats is None:
        lo = hi = mean if n == 1 else None
        return {"mean": mean, "lo": lo, "hi": hi, "n": n}
    arr = np.asarray(stats, dtype=float)  # (n, k) statistics per pair
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    sums = arr[idx].sum(axis=1)  # (resamples, k)
    boot = np.asarray([m.chrf_from_stats(s) for s in sums])
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return {"mean": mean, "lo": min(float(lo), mean), "hi": max(float(hi), mean), "n": n}


def summarize(
    per_answer: Sequence[Mapping[str, float | None]],
    bpc: Sequence[float | None] | None,
    seed: int = 0,
    resamples: int = 1000,
    hyps: Sequence[str] | None = None,
    refs: Sequence[str] | None = None,
    level: float = 0.95,
) -> dict[str, dict]:
    """{metric: {mean, lo, hi, n}} over one stage's answers (None values skipped), for every metric in
    the per-answer dicts; plus "bits_per_char" from `bpc` (one per reference answer) when given and
    "chrf_corpus" (corpus-level chrF++, prompts resampled as pairs) when `hyps` and `refs` are given."""
    keys: list[str] = [k for k in METRICS if any(k in s for s in per_answer)]
    keys += sorted({k for s in per_answer for k in s} - set(keys))
    out: dict[str, dict] = {}
    for k in keys:
        out[k] = ci_dict((s.get(k) for s in per_answer), resamples=resamples, seed=seed, level=level)
    if bpc is not None:
        out["bits_per_char"] = ci_dict(bpc, resamples=resamples, seed=seed, level=level)
    if hyps is not None and refs is not None:
        if len(hyps) != len(refs):
            raise ValueError(f"summarize: {len(hyps)} hyps but {len(refs)} refs")
        pairs = [(h, r) for h, r in zip(hyps, refs, strict=True) if r is not None and r.strip()]
        out["chrf_corpus"] = _chrf_corpus_ci([h for h, _ in pairs], [r for _, r in pairs], resamples, seed, level)
    return out


# ---------------------------------------------------------------- one run


def _field(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _role(answer: Any) -> str:
    """The answer's role: "eval" (scored) or "grade" (graded by hand); answers written before roles are scored."""
    return str(_field(answer, "role") or "eval")


def _stage_bpc(stage: str, answers: list[Any], bpc: Sequence[float | None] | None) -> list[float | None]:
    """bpc per scored answer of the stage: the list is aligned with the stage's reference answers, or with
    all of its scored answers."""
    if bpc is None:
        return [None] * len(answers)
    with_ref = [i for i, a in enumerate(answers) if (_field(a, "reference") or "").strip()]
    out: list[float | None] = [None] * len(answers)
    if len(bpc) == len(with_ref):
        for i, v in zip(with_ref, bpc, strict=True):
            out[i] = v
    elif len(bpc) == len(answers):
        out = list(bpc)
    else:
        raise ValueError(
            f"bits_per_char for stage {stage}: {len(bpc)} values for {len(with_ref)} reference answers"
            f" ({len(answers)} answers)"
        )
    return [None if v is None else float(v) for v in out]


def score_run(
    answers: Iterable[Any],
    bpc_by_stage: Mapping[str, Sequence[float | None]] | None,
    meaningful: bool,
    seed: int = 0,
    resamples: int = 1000,
) -> tuple[list[dict[str, float | None]], dict[str, Any]]:
    """Score every answer (`Answer` objects or their dicts; an optional `key_phrase` field is used by
    contains-match) and summarise each stage. Returns (per-answer scores aligned with `answers`,
    the `RunResult.quality` layout: {"meaningful", "base", "tuned"}). Stages without scored answers are left out.

    Only scored answers (role "eval") are held against their references, carry bits per character (`bpc_by_stage`
    lists one per scored reference answer of the stage) and make the stage's summary. A grade answer (role
    "grade", answered for grading by hand) gets the metrics that need no reference, and nothing else, whatever
    reference its row had.

    No composite is stored: it depends on weights, which the report applies (`composite_block`)."""
    answers = list(answers)
    bpc_by_stage = bpc_by_stage or {}
    unknown = sorted(set(bpc_by_stage) - set(STAGES))
    if unknown:
        raise ValueError(f"bits_per_char for unknown stage(s) {unknown}: stages are {', '.join(STAGES)}")
    per_answer: list[dict[str, float | None]] = [{} for _ in answers]
    quality: dict[str, Any] = {"meaningful": bool(meaningful)}
    for stage in STAGES:
        for i, a in enumerate(answers):
            if _field(a, "stage") == stage and _role(a) == "grade":
                per_answer[i] = score_answer(str(_field(a, "answer", "")), None, None, bool(_field(a, "hit_eos")))
        idx = [i for i, a in enumerate(answers) if _field(a, "stage") == stage and _role(a) != "grade"]
        if not idx:
            if bpc_by_stage.get(stage):
                raise ValueError(
                    f"bits_per_char for stage {stage}: {len(bpc_by_stage[stage])} values, no scored answers"
                )
            continue
        stage_answers = [answers[i] for i in idx]
        bpcs = _stage_bpc(stage, stage_answers, bpc_by_stage.get(stage))
        for i, a, b in zip(idx, stage_answers, bpcs, strict=True):
            scores = score_answer(
                str(_field(a, "answer", "")),
                _field(a, "reference"),
                _field(a, "key_phrase"),
                bool(_field(a, "hit_eos")),
            )
            if b is not None:
                scores["bits_per_char"] = b
            per_answer[i] = scores
        quality[stage] = summarize(
            [per_answer[i] for i in idx],
            None,
            seed=seed,
            resamples=resamples,
            hyps=[str(_field(a, "answer", "")) for a in stage_answers],
            refs=[_field(a, "reference") for a in stage_answers],
        )
    return per_answer, quality


# ---------------------------------------------------------------- composites at report time


def answer_composites(answers: Iterable[Any], weights: Mapping[str, Any] | None) -> list[float | None]:
    """COMPOSITE_FORMULA per answer, from the per-answer scores a run stored (`Answer.scores`).

    Computed when a report is built, with the weights the report is given: reweighting needs no rerun.
    A composite a result file stored (schema 1) is ignored: the formula reads the metrics only."""
    w = resolve_weights(weights)
    return [composite(_field(a, "scores") or {}, w) for a in answers]


def composite_block(
    answers: Iterable[Any], weights: Mapping[str, Any] | None, seed: int = 0, resamples: int = 1000
) -> dict[str, Any]:
    """{"formula", "weights", "base", "tuned", "tuned_vs_base"} of one run, from its answers' stored scores.

    base/tuned: mean composite over the stage's prompts with its 95% bootstrap interval ({mean, lo, hi, n});
    tuned_vs_base: paired bootstrap over the prompts both stages answered. A stage without answers is left out."""
    answers = list(answers)
    w = resolve_weights(weights)
    values = answer_composites(answers, w)
    block: dict[str, Any] = {"formula": COMPOSITE_FORMULA, "weights": w}
    for stage in STAGES:
        vals = [v for a, v in zip(answers, values, strict=True) if _field(a, "stage") == stage]
        if vals:
            block[stage] = ci_dict(vals, resamples=resamples, seed=seed)
    if "base" in block and "tuned" in block:
        block["tuned_vs_base"] = _tuned_vs_base(answers, [{"composite": v} for v in values], resamples, seed)
    return block


def _tuned_vs_base(answers: list[Any], per_answer: list[dict], resamples: int, seed: int) -> dict[str, Any]:
    """Paired bootstrap of the per-answer composite, tuned (A) minus base (B), over the prompts both answered."""
    by_stage: dict[str, dict[str, float]] = {"base": {}, "tuned": {}}
    for a, s in zip(answers, per_answer, strict=True):
        v = s.get("composite")
        if v is not None:
            by_stage[str(_field(a, "stage"))][str(_field(a, "id"))] = v
    ids = [i for i in by_stage["tuned"] if i in by_stage["base"]]
    return paired_bootstrap(
        [by_stage["tuned"][i] for i in ids], [by_stage["base"][i] for i in ids], resamples=resamples, seed=seed
    )


__all__ = [
    "COMPOSITE_FORMULA",
    "DEFAULT_WEIGHTS",
    "METRICS",
    "STAGES",
    "answer_composites",
    "composite",
    "composite_block",
    "resolve_weights",
    "score_answer",
    "score_run",
    "summarize",
]
