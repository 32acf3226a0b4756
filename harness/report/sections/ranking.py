"""The ranking: models at their best configuration, every configuration, and the score's weights."""

from __future__ import annotations

from typing import Any

from harness.fmt import fnum, gib, money, pct, secs
from harness.report.analysis.cells import Cell
from harness.report.analysis.decision import HIGH_IS_GOOD, TERMS, WHAT, Row, verdict
from harness.report.analysis.memory import smallest_fit
from harness.report.render import Section, Table
from harness.report.sections.base import Context, est


def build(ctx: Context) -> Section:
    s = Section("ranking", "Ranking")
    d = ctx.analysis.decision
    if not d.rows:
        s.p("No ok runs: nothing to rank.", "warn")
    else:
        s.add(models_table(ctx))
        if d.unclear:
            s.p(
                f"No clear winner among the models on {', '.join(d.unclear)}: the best one's 95% interval overlaps"
                " another's (marked tie).",
                "note",
            )
        s.add(configurations_table(ctx))
    if "quality" in d.left_out and d.weights["quality"] > 0:
        s.p(
            f"The quality term is left out of the score ({d.left_out['quality']}); the other weights are"
            " renormalised to sum to 1.",
            "warn",
        )
    s.add(weights_table(ctx))
    s.p(how_text(ctx))
    for n in [*d.notes, *ctx.analysis.timing_notes]:
        s.p(n, "note")
    return s


def how_text(ctx: Context) -> str:
    a = ctx.analysis
    job = (
        f"The team's job ({a.job.text}, {a.job_from})"
        if a.job is not None
        else "No `job:` block in the spec: time is each configuration's own measured fine-tune"
    )
    return (
        "Each term is a ratio to the best configuration on it (best = 1.00; twice as slow = 0.50), and the score"
        " is the weighted mean of the ratios, so small differences stay small. "
        f"{job}; projected time = one-time cost (everything from the command to the first steady step: start-up,"
        " load, setup, the burn-in's excess, each new token shape's first step once, compilation) + steps x"
        " steady step time (the median of steps whose token shape was met before), with a 95% bootstrap"
        " interval over the steady steps (and over repeats, when"
        f" a configuration ran more than once). 'first in' = share of {a.decision.resamples:,} bootstrap resamples"
        " (steps, repeats, prompts) in which that row comes first; a figure marked tie has a 95% interval that"
        " overlaps the best one's. Memory is the peak of the user's work (fine-tune, answers): the harness's"
        " scoring pass is shown apart (Fits on)."
    )


def _mark(text: str | None, row_ties: dict[str, bool], best_on: set[str], term: str, several: bool) -> str | None:
    if text is None or not several:
        return text
    if term in best_on:
        return f"{text} (best)"
    return f"{text} (tie)" if row_ties.get(term) else text


def term_cells(ctx: Context, row: Row, ties: dict[str, bool], best_on: set[str], several: bool) -> list[Any]:
    c = row.cell
    q = row.terms["quality"].value
    lb = row.terms["leaderboard"].value.mean
    return [
        _mark(fnum(lb), ties, best_on, "leaderboard", several),
        "not meaningful (shape)" if c.shape else _mark(est(q), ties, best_on, "quality", several),
        _mark(est(c.job_time, 1, "s"), ties, best_on, "time", several),
        secs(c.one_time.mean) if c.one_time.mean is not None else None,
        est(c.steady, 3),
        _mark(gib(c.peak.mib) if c.peak.mib is not None else None, ties, best_on, "memory", several),
        _smallest(ctx, c),
        _cost(ctx, c),
    ]


def _smallest(ctx: Context, c: Cell) -> str | None:
    """The team's smallest GPU the configuration fits on."""
    if c.fit is None or c.fit.needed_mib is None:
        return "n/a (CPU)" if c.fit is not None and not c.fit.applicable else None
    small = smallest_fit(c.fit, ctx.prices)
    return small.name if small else "none listed"


def _cost(ctx: Context, c: Cell) -> str | None:
    jc = c.job_cost
    if jc.mean is None:
        return None
    return money(jc.mean, ctx.currency) + (
        f" [{money(jc.lo, ctx.currency)}, {money(jc.hi, ctx.currency)}]" if jc.lo is not None else ""
    )


TERM_COLUMNS = [
    "Ko-LLM avg",
    "quality [95% CI]",
    "job time s [95% CI]",
    "one-time",
    "steady s/step [95% CI]",
    "user-work peak",
    "smallest team GPU",
    "job cost",
]


def models_table(ctx: Context) -> Table:
    d = ctx.analysis.decision
    several = len(d.models) > 1
    rows, classes = [], []
    for i, m in enumerate(d.models):
        b = m.best
        rows.append(
            [
                i + 1,
                m.name,
                b.cell.config,
                fnum(b.score, 2),
                pct(m.first_share),
                fnum(b.cell.info.get("params_b"), 2),
                *term_cells(ctx, b, m.ties, m.best_on, several),
            ]
        )
        classes.append("first" if i == 0 else "second" if i == 1 else "ranked")
    v = verdict(d.confidence)
    return Table(
        ["#", "model", "best configuration", "score", "first in", "params (B)", *TERM_COLUMNS],
        rows,
        title="Models at their best configuration" + ("" if not several else f" ({v})"),
        caption=_caption(ctx),
        shape=any(m.best.cell.shape for m in d.models),
        html_id="ranking",
        row_classes=classes,
    )


def _caption(ctx: Context) -> str:
    if ctx.all_cpu:
        mem = "CPU-only runs: memory is the host RSS peak (no GPU was used)."
    else:
        mem = "Memory: NVML per-process peak (includes the CUDA context), * = torch max reserved where NVML had none."
    return f"{mem} Job cost = projected job hours x the price per hour of the GPU measured on. — = not measured."


def configurations_table(ctx: Context) -> Table:
    d = ctx.analysis.decision
    rows, classes = [], []
    for m in d.models:
        several = len(m.rows) > 1
        for r in m.rows:
            rows.append(
                [
                    m.name,
                    r.cell.config,
                    r.cell.repeats,
                    fnum(r.score, 2),
                    pct(r.config_share),
                    *term_cells(ctx, r, r.config_ties, r.config_best, several),
                    "ok",
                ]
            )
            classes.append("first" if r is d.first else "ranked")
    for c in d.unranked:
        rows.append([c.candidate, c.config, 0, None, None, *([None] * len(TERM_COLUMNS)), c.status_text])
        classes.append("unranked")
    return Table(
        ["model", "configuration", "ok runs", "score", "first among its model's", *TERM_COLUMNS, "status"],
        rows,
        title="Every configuration (marks compare the configurations of one model)",
        shape=any(c.shape for c in ctx.analysis.cells),
        html_id="configurations",
        row_classes=classes,
    )


def weights_table(ctx: Context) -> Table:
    d = ctx.analysis.decision
    rows = []
    for t in TERMS:
        used = d.used.get(t)
        rows.append(
            [
                t,
                WHAT[t],
                "higher is better" if HIGH_IS_GOOD[t] else "lower is better",
                f"{d.weights[t]:.2f}",
                f"{used:.2f}" if used is not None else f"left out: {d.left_out.get(t, '')}",
            ]
        )
    return Table(
        ["term", "what", "direction", "weight (spec)", "weight used"],
        rows,
        title="Score weights (from the sweep spec's ranking)",
    )
