"""The ranking: one row per candidate (per backend/quant/weights when the sweep had several), a weighted score.

Each term is normalised to 0..1 across the ranked rows (leaderboard and quality:
high is good; fine-tune time and peak memory: low is good), then the score is
sum(weight * term) / sum(weights of the terms used). Time, memory and quality are
taken at one reference rank: the largest rank at which every ranked row has an
ok run (so a row is never flattered by having failed at the larger ranks); when
there is none, the rank most rows have, and the rows without it are named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.config import RankingWeights
from harness.report.load import ResultSet, Run
from harness.report.prices import PriceTable

TERMS = ("leaderboard", "quality", "time", "memory")
HIGH_IS_GOOD = {"leaderboard": True, "quality": True, "time": False, "memory": False}


@dataclass
class RankRow:
    variant: tuple[str, str, str, str]  # candidate, backend, quant, weights mode
    name: str  # what the table shows
    params_b: float | None
    params_note: str | None
    ko_llm_avg: float | None
    runs: list[Run]  # every run of the variant (any status)
    ref_rank: int | None = None
    raw: dict[str, float | None] = field(default_factory=dict)  # term -> raw value at ref_rank
    terms: dict[str, float | None] = field(default_factory=dict)  # term -> 0..1
    score: float | None = None

    @property
    def candidate(self) -> str:
        return self.variant[0]

    def ok_by_rank(self) -> dict[int, Run]:
        """The comparable (status ok) run at each rank; the latest when a rank ran twice."""
        out: dict[int, Run] = {}
        for r in sorted(self.runs, key=lambda r: r.result.finished_at or ""):
            if r.ok and r.rank is not None:
                out[r.rank] = r
        return out

    def status_by_rank(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for r in self.runs:
            if r.rank is not None and (r.rank not in out or r.ok):
                out[r.rank] = r.status
        return out

    @property
    def ref_run(self) -> Run | None:
        return self.ok_by_rank().get(self.ref_rank) if self.ref_rank is not None else None

    @property
    def ranked(self) -> bool:
        return self.score is not None


@dataclass
class Ranking:
    rows: list[RankRow]  # ranked first (score descending), then unranked
    weights: dict[str, float]  # as given in the spec
    used: dict[str, float]  # renormalised weights of the terms used
    left_out: dict[str, str]  # term -> why it was left out
    ref_rank: int | None
    common_rank: bool  # True: one reference rank for every row
    notes: list[str]

    @property
    def ranked(self) -> list[RankRow]:
        return [r for r in self.rows if r.ranked]


def _mem(run: Run) -> float | None:
    return run.train_mem.mib


def raw_terms(row: RankRow, run: Run) -> dict[str, float | None]:
    comp = run.composite("tuned")
    return {
        "leaderboard": row.ko_llm_avg,
        "quality": comp["mean"] if comp and run.quality_meaningful else None,
        "time": run.train_s,
        "memory": _mem(run),
    }


def _normalise(values: list[float | None], high_is_good: bool) -> list[float | None]:
    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    lo, hi = min(present), max(present)
    out: list[float | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif hi == lo:
            out.append(1.0)
        else:
            out.append((v - lo) / (hi - lo) if high_is_good else (hi - v) / (hi - lo))
    return out


def build_rows(rs: ResultSet) -> list[RankRow]:
    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for run in rs.runs:
        groups.setdefault(run.variant, []).append(run)
    several = {k[1:] for k in groups}
    rows = []
    for variant, runs in sorted(groups.items()):
        info = rs.candidate_info(runs[0])
        name = variant[0] if len(several) == 1 else f"{variant[0]} · {variant[1]} {variant[2]} {variant[3]}"
        rows.append(
            RankRow(
                variant=variant,
                name=name,
                params_b=info.get("params_b"),
                params_note=info.get("params_note"),
                ko_llm_avg=info.get("ko_llm_avg"),
                runs=runs,
            )
        )
    return rows


def rank(rs: ResultSet, weights: RankingWeights | None = None) -> Ranking:
    w = (weights or rs.ranking_weights).model_dump()
    rows = build_rows(rs)
    notes: list[str] = []
    candidates = [r for r in rows if r.ok_by_rank()]
    counts: dict[int, int] = {}
    for r in candidates:
        for k in r.ok_by_rank():
            counts[k] = counts.get(k, 0) + 1
    # the largest rank every row has; else the rank most rows have (larger on ties)
    ref = max(counts, key=lambda k: (counts[k], k)) if counts else None
    common = ref is not None and counts[ref] == len(candidates)
    if common:
        ref = max(k for k, n in counts.items() if n == len(candidates))
    others = []
    for r in candidates:
        oks = r.ok_by_rank()
        r.ref_rank = ref if ref in oks else max(oks)
        if r.ref_rank != ref:
            others.append(f"{r.name} (rank {r.ref_rank})")
        r.raw = raw_terms(r, oks[r.ref_rank])
    if others:
        notes.append(
            f"No rank has an ok run for every row: the reference rank is {ref}, the rank most rows have; "
            f"{', '.join(others)} had no ok run there and {'is' if len(others) == 1 else 'are'} compared at"
            " its own largest ok rank, which is not like for like."
        )
    left_out: dict[str, str] = {}
    for t in TERMS:
        vals = [r.raw.get(t) for r in candidates]
        if w[t] <= 0:
            left_out[t] = "weight 0"
        elif t == "quality" and candidates and any(v is None for v in vals):
            shape = any(r.ref_run is not None and r.ref_run.shape for r in candidates)
            left_out[t] = (
                "shape-mode runs (random weights: quality is not meaningful)"
                if shape
                else "some rows have no quality score at the reference rank"
            )
        elif candidates and all(v is None for v in vals):
            left_out[t] = "no row has a value"
    used_raw = {t: w[t] for t in TERMS if t not in left_out}
    total = sum(used_raw.values())
    used = {t: v / total for t, v in used_raw.items()} if total > 0 else {}
    for t in used:
        vals = [r.raw.get(t) for r in candidates]
        missing = [r.name for r, v in zip(candidates, vals, strict=True) if v is None]
        if missing:
            notes.append(f"{t}: no value for {', '.join(missing)}; counted as the worst (0) in the score")
        for r, n in zip(candidates, _normalise(vals, HIGH_IS_GOOD[t]), strict=True):
            r.terms[t] = n if n is not None else 0.0
    for r in candidates:
        r.score = sum(used[t] * (r.terms.get(t) or 0.0) for t in used) if used else None
    ranked = sorted((r for r in candidates if r.score is not None), key=lambda r: (-(r.score or 0), r.name))
    rest = [r for r in rows if r not in ranked]
    return Ranking(ranked + rest, w, used, left_out, ref, common, notes)


# ---------------------------------------------------------------- the reason sentences


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _place(row: RankRow, ranking: Ranking, term: str) -> tuple[int, int]:
    """(1 + how many ranked rows are strictly better on the term, how many have it): ties share a place."""
    mine = row.raw.get(term)
    vals = [v for r in ranking.ranked if (v := r.raw.get(term)) is not None]
    if mine is None:
        return 0, len(vals)
    better = sum(1 for v in vals if (v > mine if HIGH_IS_GOOD[term] else v < mine))
    return better + 1, len(vals)


def gib(mib: float | None) -> str:
    return "—" if mib is None else f"{mib / 1024:.1f} GiB"


def secs(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s:.1f} s" if s < 100 else f"{s:,.0f} s"


def term_phrase(row: RankRow, ranking: Ranking, term: str) -> str | None:
    v = row.raw.get(term)
    if v is None:
        return None
    place, n = _place(row, ranking, term)
    at = f" at rank {row.ref_rank}" if row.ref_rank is not None else ""
    best = place == 1
    if term == "leaderboard":
        return (
            f"highest leaderboard average ({v:.1f})"
            if best
            else f"leaderboard average {v:.1f} ({_ordinal(place)} of {n})"
        )
    if term == "quality":
        run = row.ref_run
        comp = run.composite("tuned") if run else None
        ci = (
            f" [{comp['lo']:.1f}, {comp['hi']:.1f}]"
            if comp and comp.get("lo") is not None and comp.get("hi") is not None
            else ""
        )
        return (
            f"best tuned quality{at} ({v:.1f}{ci})"
            if best
            else f"tuned quality {v:.1f}{ci}{at} ({_ordinal(place)} of {n})"
        )
    if term == "time":
        return (
            f"fastest fine-tune{at} ({secs(v)})"
            if best
            else f"fine-tune {secs(v)}{at} ({_ordinal(place)} fastest of {n})"
        )
    if term == "memory":
        what = "host RSS" if row.ref_run is not None and row.ref_run.device == "cpu" else "peak memory"
        return f"lowest {what}{at} ({gib(v)})" if best else f"{what} {gib(v)}{at} ({_ordinal(place)} lowest of {n})"
    return None


def fits_phrase(row: RankRow, prices: PriceTable) -> str | None:
    oks = row.ok_by_rank()
    if not oks:
        return None
    top = max(oks)
    run = oks[top]
    mem = run.peak_mem
    if run.device == "cpu":
        return None  # no GPU to fit: the memory phrase, when it is a reason, already gives the host RSS
    if mem.mib is None:
        return None
    fit = prices.fit(mem.mib, mem.measure, run.device)
    g = prices.first_fit(fit)
    if g is not None:
        return f"fits a {g.name} at rank {top} ({gib(mem.mib)} peak)"
    if prices.budget_gpus:
        return f"fits none of the listed GPUs at rank {top} ({gib(mem.mib)} peak)"
    return f"{gib(mem.mib)} peak at rank {top}"


def choice_sentence(label: str, row: RankRow, ranking: Ranking, prices: PriceTable) -> str:
    contrib = sorted(ranking.used, key=lambda t: -(ranking.used[t] * (row.terms.get(t) or 0.0)))
    # the strongest term always; a second one only where the row is in the better half
    picked = contrib[:1] + [t for t in contrib[1:2] if (row.terms.get(t) or 0.0) >= 0.5]
    phrases = [p for t in picked if (p := term_phrase(row, ranking, t))]
    fp = fits_phrase(row, prices)
    if fp:
        phrases.append(fp)
    body = (
        ", ".join(phrases[:-1]) + (" and " if len(phrases) > 1 else "") + phrases[-1]
        if phrases
        else "the only ranked row"
    )
    return f"{label}: {row.name} (score {row.score:.2f}) — {body}."


def summary(ranking: Ranking) -> dict[str, Any]:
    return {
        "weights": ranking.weights,
        "used": ranking.used,
        "left_out": ranking.left_out,
        "ref_rank": ranking.ref_rank,
        "order": [r.name for r in ranking.ranked],
    }
