"""Cost and energy of each run's measured work (the projected job cost is in the ranking)."""

from __future__ import annotations

from harness.fmt import money
from harness.report.render import Section, Table
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("cost", "Cost and energy")
    p = ctx.prices
    s.p(p.describe())
    s.p(
        "Hours = the run's measured user work (fine-tune and answers; load and the scoring pass left out); GPU-hours on"
        " GPU runs, CPU-hours (machine hours, priced by the cpu entry) on CPU-only runs. The ranking's job cost is"
        " the projected time of the team's job at the same price. Energy covers the whole GPU (every process on"
        " it), summed over the run's phases."
    )
    rows = []
    for r in ctx.runs:
        if r.billed_hours is None:
            continue
        c = p.cost(r.billed_hours, r.device, r.gpu_name)
        e = r.energy_j
        rows.append(
            [
                r.label,
                r.status_text,
                "CPU" if r.device == "cpu" else r.gpu_name,
                f"{c.hours:.4f} {c.kind}-h" if c.hours is not None else None,
                c.price_name or ("no price entry matched" if r.device else None),
                money(c.per_hour, p.currency),
                money(c.money, p.currency),
                f"{e / 3600:.2f} Wh ({e / 1000:.1f} kJ)" if e is not None else None,
            ]
        )
    s.add(
        Table(
            ["run", "status", "device", "hours", "price entry", "per hour", "cost", "energy (whole GPU)"],
            rows,
            shape=ctx.any_shape,
            empty="No run has timed train or answer phases.",
        )
    )
    return s
