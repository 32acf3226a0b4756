"""Can the harness's figures be trusted? selfbench.json (when the folder has one), the sweep's overhead from
the manifest, and generation against the memory-bandwidth floor."""

from __future__ import annotations

from typing import Any

from harness.fmt import fnum, ratio
from harness.report.analysis.bandwidth import bandwidth_gb_s, floor, selfbench_data
from harness.report.render import Section, Table
from harness.report.sections.base import Context
from harness.selfbench import summary_rows


def build(ctx: Context) -> Section | None:
    sb = selfbench_data(ctx.rs.folder)
    invocations = [i for i in ctx.rs.manifest.get("invocations") or [] if isinstance(i, dict)]
    if sb is None and not invocations:
        return None
    s = Section("selfbench", "The harness measuring itself")
    if sb is not None:
        s.add(Table(["check", "figure", "goal", "met"], summary_rows(sb)))
    overhead = overhead_rows(ctx, invocations)
    if overhead:
        s.p("Sweep overhead: the sweep's wall time over the sum of its runs' own times (goal at most 1.2), and over"
            " the sum of their measured phases (the difference is each child's start-up: interpreter, imports,"
            " one-time weight builds).")  # fmt: skip
        s.add(Table(["invocation started", "runs", "sweep wall s", "parent overhead s", "wall / runs' wall",
                     "wall / runs' phases"], overhead))  # fmt: skip
    bw = bandwidth_gb_s(sb)
    if bw:
        rows = [[f.run.label, fnum(f.params / 1e9, 2), f"{f.bytes_per_param:.2f}", fnum(f.floor_s * 1e3, 2),
                 fnum(f.measured_s * 1e3, 1), fnum(f.ratio, 1)]
                for r in ctx.ok_runs if (f := floor(r, bw)) is not None]  # fmt: skip
        if rows:
            s.p(f"Generation against the memory-bandwidth floor: one token needs every weight read once, weight"
                f" bytes / {bw:,.0f} GB/s (the measured device copy, read + write). Bytes per parameter: 2 for"
                " 16-bit weights, about 0.56 for nf4 (4 bits and one fp32 scale per 64), a lower bound. Ratio ="
                " measured one-at-a-time ms per token / floor; far above 1 means launch-bound, not"
                " bandwidth-bound.")  # fmt: skip
            s.add(Table(["run", "params B", "bytes/param", "floor ms/token", "measured ms/token", "ratio"], rows,
                        shape=ctx.any_shape))  # fmt: skip
    return s


def overhead_rows(ctx: Context, invocations: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for inv in invocations:
        wall, start, end = inv.get("wall_s"), inv.get("started_at"), inv.get("finished_at") or "~"
        ran = [r for r in ctx.rs.runs if r.result.started_at and start and start <= r.result.started_at <= end]
        child = sum(r.result.wall_s or 0 for r in ran)
        phases = sum(sum(p.wall_s for p in r.result.phases.values()) for r in ran)
        rows.append([start, f"{len(ran)}", fnum(wall, 1), fnum(inv.get("overhead_s"), 1),
                     ratio(wall, child) if ran else None, ratio(wall, phases) if ran else None])  # fmt: skip
    return rows
