"""The decision: which model, and which configuration of it (rank, backend, quantisation).

Terms (weights from the sweep spec's `ranking`): leaderboard average and tuned quality (higher is
better), the team's job's projected fine-tune time and the user-work peak memory (lower is better).
Each term is a ratio to the best configuration on it (best = 1; a configuration twice as slow scores
0.5 on time), so small differences stay small; the score is the weighted mean of the ratios.

Noise: every figure carries bootstrap draws (steps, repeats, prompts; see cells.py). The same score is
computed in every resample; a configuration's "first in" share is how often it comes first. The model
chosen is the one whose best configuration scores highest, and its confidence is the share of resamples
in which one of its configurations is first. Two figures tie on a term when their 95% intervals overlap;
a term on which the best ties with another is "no clear winner on" that term.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from harness.fmt import human_time, join_and
from harness.report.analysis.cells import Cell
from harness.report.analysis.machines import machines
from harness.report.analysis.stats import Est

TERMS = ("leaderboard", "quality", "time", "memory")
HIGH_IS_GOOD = {"leaderboard": True, "quality": True, "time": False, "memory": False}
WHAT = {
    "leaderboard": "Open Ko-LLM leaderboard average (published; from the candidate stored in the runs)",
    "quality": "tuned composite quality (weights applied when the report is built)",
    "time": "projected fine-tune time of the job (one-time cost + steps x steady step)",
    "memory": "peak memory of the user's work (fine-tune and answers; the scoring pass left out)",
}
CLEAR = 0.95  # first in at least this share of resamples: a clear choice
LIKELY = 0.75  # below this: no clear winner
CONFIG_SHARE = 0.10  # `deciding` also repeats a configuration first among its model's this often (one run each)


@dataclass
class Term:
    value: Est
    ratio: float  # to the best configuration on the term, 0..1 (0: no value)


@dataclass
class Row:
    cell: Cell
    terms: dict[str, Term] = field(default_factory=dict)
    score: float | None = None
    first_share: float = 0.0  # resamples in which this configuration is first of all
    config_share: float = 0.0  # resamples in which it is first among its model's configurations
    config_ties: dict[str, bool] = field(default_factory=dict)  # term -> ties with its model's best configuration
    config_best: set[str] = field(default_factory=set)  # terms on which it is its model's best configuration

    @property
    def model(self) -> str:
        return self.cell.candidate


@dataclass
class ModelRow:
    name: str
    rows: list[Row]  # its ranked configurations, best first
    first_share: float = 0.0  # resamples in which one of its configurations is first
    ties: dict[str, bool] = field(default_factory=dict)  # term -> ties with the best model on it
    best_on: set[str] = field(default_factory=set)  # terms on which it is the best model

    @property
    def best(self) -> Row:
        return self.rows[0]


@dataclass
class Decision:
    rows: list[Row]  # ranked configurations, score descending
    unranked: list[Cell]  # configurations without an ok run
    models: list[ModelRow]  # models, best first
    weights: dict[str, float]  # as the spec gave them
    used: dict[str, float]  # renormalised weights of the terms used
    left_out: dict[str, str]  # term -> why
    resamples: int
    unclear: list[str] = field(default_factory=list)  # terms with no clear winner among models
    config_unclear: list[str] = field(default_factory=list)  # ... among the chosen model's configurations
    changes: list[str] = field(default_factory=list)  # what would change the choice
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> Row | None:
        return self.models[0].best if self.models else None

    @property
    def confidence(self) -> float | None:
        return self.models[0].first_share if self.models else None

    @property
    def config_confidence(self) -> float | None:
        return self.first.config_share if self.first is not None else None

    @property
    def single_model(self) -> bool:
        return len(self.models) == 1


def verdict(share: float | None) -> str:
    if share is None:
        return "unknown"
    return "clear" if share >= CLEAR else "likely" if share >= LIKELY else "no clear winner"


def _point(cell: Cell, term: str) -> Est:
    if term == "leaderboard":
        v = cell.info.get("ko_llm_avg")
        return Est(float(v), None, None, 1) if isinstance(v, (int, float)) and not isinstance(v, bool) else Est(None)
    if term == "quality":
        return cell.quality if not cell.shape else Est(None)
    if term == "time":
        return cell.job_time
    if term == "memory":
        return cell.memory if cell.memory.mean is not None else Est(cell.peak.mib, None, None, 1)
    raise ValueError(term)


def _draws(cell: Cell, term: str, point: Est, resamples: int) -> np.ndarray:
    key = {"time": "job_time", "memory": "memory", "quality": "quality"}.get(term)
    if key and key in cell.boot and point.mean is not None:
        return cell.boot[key]
    return np.full(resamples, np.nan if point.mean is None else point.mean)


def _ratios(values: np.ndarray, high_is_good: bool) -> np.ndarray:
    """Ratio to the best in each column (rows: configurations); a missing value scores 0."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a term no configuration has (all NaN)
        if high_is_good:
            best = np.nanmax(values, axis=0, keepdims=True)
            r = np.where(best > 0, values / best, 1.0)
        else:
            best = np.nanmin(values, axis=0, keepdims=True)
            r = np.where(values > 0, best / values, 1.0)
    return np.nan_to_num(r, nan=0.0)


def _left_out(cells: list[Cell], points: dict[str, list[Est]], weights: dict[str, float]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in TERMS:
        vals = [e.mean for e in points[t]]
        if weights[t] <= 0:
            out[t] = "weight 0"
        elif t == "quality" and any(v is None for v in vals):
            out[t] = (
                "shape-mode runs (random weights: quality is not meaningful)"
                if any(c.shape for c in cells)
                else "some configurations have no quality score"
            )
        elif all(v is None for v in vals):
            out[t] = "no configuration has a value"
    return out


def decide(cells: list[Cell], weights: dict[str, float], resamples: int) -> Decision:
    ranked = [c for c in cells if c.ok]
    unranked = [c for c in cells if not c.ok]
    points = {t: [_point(c, t) for c in ranked] for t in TERMS}
    left_out = _left_out(ranked, points, weights)
    raw = {t: weights[t] for t in TERMS if t not in left_out}
    total = sum(raw.values())
    used = {t: w / total for t, w in raw.items()} if total > 0 else {}
    drawn = [len(v) for c in ranked for v in c.boot.values()]
    resamples = drawn[0] if drawn else resamples  # the cells' draws set the count
    d = Decision([], unranked, [], dict(weights), used, left_out, resamples)
    if not ranked:
        return d
    rows = [Row(c) for c in ranked]
    score_b = np.zeros((len(ranked), resamples))
    for t in TERMS:
        pts = points[t]
        vals = np.asarray([np.nan if e.mean is None else e.mean for e in pts], dtype=float)
        ratio_pt = _ratios(vals[:, None], HIGH_IS_GOOD[t])[:, 0]
        for i, row in enumerate(rows):
            row.terms[t] = Term(pts[i], float(ratio_pt[i]))
        if t in used:
            missing = [rows[i].cell.label for i in range(len(rows)) if pts[i].mean is None]
            if missing:
                d.notes.append(f"{t}: no value for {join_and(missing)}; counted as 0 in the score")
            draws = np.stack([_draws(c, t, pts[i], resamples) for i, c in enumerate(ranked)])
            score_b += used[t] * _ratios(draws, HIGH_IS_GOOD[t])
    if not used:
        d.notes.append("No ranking term has a weight above 0 and a value: the configurations are listed, not ranked.")
    for row in rows:
        row.score = sum(used[t] * row.terms[t].ratio for t in used) if used else 0.0
    order = sorted(range(len(rows)), key=lambda i: (-(rows[i].score or 0.0), rows[i].cell.label))
    rows = [rows[i] for i in order]
    score_b = score_b[order]
    credit = _first_credit(score_b)
    for i, row in enumerate(rows):
        row.first_share = float(credit[i].mean())
    # models: their configurations, best first; a model's share is its configurations' shares
    by_model: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_model.setdefault(row.model, []).append(i)
    for idx in by_model.values():
        local = _first_credit(score_b[idx])
        for j, i in enumerate(idx):
            rows[i].config_share = float(local[j].mean())
    d.rows = rows
    d.models = [
        ModelRow(m, [rows[i] for i in idx], float(sum(rows[i].first_share for i in idx))) for m, idx in by_model.items()
    ]
    d.models.sort(key=lambda m: (-(m.best.score or 0.0), m.name))
    used_terms = [t for t in TERMS if t in used]
    d.unclear = _ties([m.best for m in d.models], used_terms, [m.ties for m in d.models], [m.best_on for m in d.models])
    config_terms = [t for t in used_terms if t != "leaderboard"]  # one model's configurations share its average
    for m in d.models:
        unclear = _ties(m.rows, config_terms, [r.config_ties for r in m.rows], [r.config_best for r in m.rows])
        if m is d.models[0]:
            d.config_unclear = unclear
    d.changes = _changes(d)
    return d


def _first_credit(scores: np.ndarray) -> np.ndarray:
    """Per resample (column), 1 for the row that comes first; rows level on the score share the place."""
    top = scores.max(axis=0, keepdims=True)
    level = np.isclose(scores, top, rtol=0.0, atol=1e-12)
    return level / level.sum(axis=0, keepdims=True)


def _ties(rows: list[Row], terms: list[str], ties: list[dict[str, bool]], best_on: list[set[str]]) -> list[str]:
    """Among `rows`, on each term: which row is best, which tie with it (95% intervals overlap).
    Returns the terms on which the best ties with another ("no clear winner on")."""
    unclear: list[str] = []
    for t in terms:
        known = [i for i, r in enumerate(rows) if r.terms[t].value.mean is not None]
        if not known:
            continue
        sign = 1.0 if HIGH_IS_GOOD[t] else -1.0
        b = max(known, key=lambda i: sign * rows[i].terms[t].value.mean)  # type: ignore[operator]
        best_on[b].add(t)
        tied = [i for i in known if i != b and rows[i].terms[t].value.overlaps(rows[b].terms[t].value)]
        for i in range(len(rows)):
            ties[i][t] = i in tied
        if tied:
            unclear.append(t)
    return unclear


def _changes(d: Decision) -> list[str]:
    """What would change the choice: the weight at which the runner-up overtakes, the job length at which
    the time order flips, the terms not in the score, the variation not measured."""
    out: list[str] = []
    first = d.models[0].best
    if len(d.models) > 1:
        second = d.models[1].best
        gap = (first.score or 0.0) - (second.score or 0.0)
        for t in d.used:
            diff = first.terms[t].ratio - second.terms[t].ratio
            if diff < 0 and gap >= 0:
                w = d.weights[t]
                total = sum(d.weights[u] for u in d.used)
                need = w + total * gap / -diff
                if need <= 10 * total:
                    out.append(f"{second.model} comes first with the {t} weight above {need:.2f} (now {w:.2f})")
        flip = _time_flip(first.cell, second.cell)
        if flip:
            out.append(flip)
    for t, why in d.left_out.items():
        if t == "quality" and why.startswith("shape"):
            out.append("quality is not in the score (shape mode: random weights); real weights could reorder it")
    if d.unranked:
        out.append(
            "configurations without an ok run are not in the choice: "
            + join_and(f"{c.label} ({c.status_text})" for c in d.unranked)
        )
    out += _unmeasured_spread(d)
    if all(c.cell.repeats <= 1 for c in d.rows):
        out.append(
            "one run per configuration: run-to-run variation (another machine, a cold cache) is not in these"
            " intervals; repeats of the deciding configurations would measure it (`lora-harness deciding FOLDER >"
            " cells.txt`, then `lora-harness bench --spec SPEC --cells cells.txt --repeats 3`)"
        )
    return out


def _unmeasured_spread(d: Decision) -> list[str]:
    """Where the two leading models' best configurations leave spread out: one of them ran once while repeats
    elsewhere in the folder show how far runs of one configuration lie apart, or the two ran on different
    machine boots (their difference then holds the machines' too)."""
    if len(d.models) < 2:
        return []
    top = [d.models[0].best.cell, d.models[1].best.cell]
    out: list[str] = []
    ratios = [r for c in d.rows if (sp := c.cell.spread) is not None and (r := sp.ratio) is not None]
    once = [c for c in top if c.repeats <= 1]
    if once and ratios:
        one = len(once) == 1
        out.append(
            f"{join_and(c.label for c in once)} ran once: {'its' if one else 'their'} interval holds no run-to-run"
            f" spread, while repeats of one configuration here lie up to {max(ratios):.2f}x apart; repeat"
            f" {'it' if one else 'them'} (`lora-harness deciding FOLDER > cells.txt`, then `lora-harness bench --spec"
            " SPEC --cells cells.txt --repeats 3`: interleaved, on one machine)"
        )
    both = machines([*top[0].ok_runs, *top[1].ok_runs])
    if both.differ is True:
        out.append(
            f"{top[0].label} and {top[1].label} ran on {both.text}: part of their difference may be the machines',"
            " which can differ more than repeats on one machine; run both on one machine, interleaved"
        )
    return out


def _time_flip(a: Cell, b: Cell) -> str | None:
    """The job length (steps) at which b's projected fine-tune becomes faster than a's, if there is one."""
    pa, pb = a.projection, b.projection
    if None in (a.one_time.mean, b.one_time.mean, a.steady.mean, b.steady.mean) or pa is None or pb is None:
        return None
    sa, sb = a.steady.mean * pa.scale, b.steady.mean * pb.scale  # type: ignore[operator]
    oa, ob = a.one_time.mean, b.one_time.mean
    if sa == sb:
        return None
    n = (ob - oa) / (sa - sb)  # type: ignore[operator]
    if n <= 0:
        return None
    longer = sb < sa  # b's steps are faster: it wins on long jobs
    now = pa.steps
    if longer and n > now:
        return (
            f"{b.candidate} fine-tunes faster for jobs longer than about {n:,.0f} steps (its steady step is"
            f" shorter; its one-time cost {human_time(ob)} against {human_time(oa)})"
        )
    if not longer and n < now:
        return f"{b.candidate} fine-tunes faster for jobs shorter than about {n:,.0f} steps (smaller one-time cost)"
    return None


def deciding(d: Decision, top: int = 3, share: float = 0.05, config_share: float = CONFIG_SHARE) -> list[Row]:
    """The configurations worth repeating: each contender's configurations that may be its best.

    A contender is one of the two best models, or any model first in at least `share` of the resamples;
    at most `top` models. Of each, its best configuration and every other one first among its model's in
    at least `config_share` of the resamples: a single run's interval holds no run-to-run spread, so a
    runner-up that close may lead once both are repeated (the seed study on an H200, 2026-12-03: FinguAI-Chat-v1
    r32, first among its model's in 29% with one run, led it after r16 alone was repeated). Repeating just
    these measures the run-to-run noise where it can change the choice. Listed model by model, best first.
    """
    contenders = [m for i, m in enumerate(d.models) if i < 2 or m.first_share >= share][: max(top, 0)]
    return [r for m in contenders for r in m.rows if r is m.best or r.config_share >= config_share]
