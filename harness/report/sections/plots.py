"""Plots of the configurations: memory and time against rank, quality against cost, step times."""

from __future__ import annotations

from harness.report import plots
from harness.report.load import SHAPE_BANNER
from harness.report.render import Section
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("plots", "Plots")
    cells = [c for c in ctx.analysis.cells if c.ok and c.rank is not None]
    if not cells:
        s.p("No ok runs: nothing to plot.", "note")
        return s
    several = len({(c.backend, c.quant, c.weights_mode) for c in cells}) > 1
    mem: dict[str, list[tuple[int, float]]] = {}
    time: dict[str, list[tuple[int, float]]] = {}
    measures = set()
    for c in cells:
        name = c.candidate + (f" · {c.backend} {c.quant}" if several else "") + c.first.settings_text
        if c.peak.mib is not None:
            mem.setdefault(name, []).append((c.rank, c.peak.mib / 1024))  # type: ignore[arg-type]
            measures.add(c.peak.measure)
        if c.job_time.mean is not None:
            time.setdefault(name, []).append((c.rank, c.job_time.mean))  # type: ignore[arg-type]
    shape = any(c.shape for c in cells)
    banner = SHAPE_BANNER if shape else None
    if mem:
        measure = " / ".join(sorted(x for x in measures if x))
        s.add(
            ctx.figure(
                "memory_vs_rank", "User-work peak memory vs rank", plots.memory_vs_rank(mem, measure, banner), shape
            )
        )
    if time:
        s.add(ctx.figure("time_vs_rank", "Projected fine-tune time vs rank", plots.time_vs_rank(time, banner), shape))
    quality_vs_cost(ctx, s)
    steps = {
        r.label: (
            r.result.steps.times_s[r.result.steps.burn_in_steps :],
            r.result.steps.times_s[: r.result.steps.burn_in_steps],
        )
        for r in ctx.ok_runs
        if r.result.steps and r.result.steps.times_s
    }
    if steps:
        s.add(ctx.figure("step_times", "Step-time distribution per run", plots.step_times(steps, banner), shape))
    return s


def quality_vs_cost(ctx: Context, s: Section) -> None:
    """The Pareto of quality against cost, from runs with meaningful quality only (never shape mode)."""
    pts = []
    cells = [c for c in ctx.analysis.cells if c.ok and not c.shape and c.quality.mean is not None]
    use_money = bool(cells) and all(c.job_cost.mean is not None for c in cells)
    for c in cells:
        x = c.job_cost.mean if use_money else c.job_time.mean
        if x is not None:
            pts.append((c.label, x, c.quality.mean))
    if not pts:
        return
    xlabel = f"projected job cost, {ctx.currency}" if use_money else "projected job time, s (no price for every run)"
    s.add(
        ctx.figure(
            "quality_vs_cost",
            "Quality vs cost",
            plots.quality_vs_cost(pts, xlabel),
            False,
            "Circled and joined: the Pareto front (no other configuration is both cheaper and better).",
        )
    )
