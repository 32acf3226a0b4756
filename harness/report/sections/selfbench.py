"""Can the harness's figures be trusted? selfbench.json (when the folder has one), the sweep's overhead from
the manifest, whether the latency burn-in was enough, and generation against the memory-bandwidth floor."""

from __future__ import annotations

from typing import Any

from harness.fmt import fnum, ratio
from harness.phases import USER_WORK
from harness.report.analysis.bandwidth import bandwidth_gb_s, floor, selfbench_data
from harness.report.render import Section, Table
from harness.report.sections.base import Context
from harness.report.selfbench_checks import summary_rows
from harness.result import CorruptResult, RunResult


def build(ctx: Context) -> Section | None:
    sb = selfbench_data(ctx.rs.folder)
    invocations = [i for i in ctx.rs.manifest.get("invocations") or [] if isinstance(i, dict)]
    burn = burn_in_rows(ctx)
    if sb is None and not invocations and not burn:
        return None
    s = Section("selfbench", "The harness measuring itself")
    if sb is not None:
        s.add(Table(["check", "figure", "goal", "met"], summary_rows(sb)))
    overhead = overhead_rows(ctx, invocations)
    if overhead:
        s.p("Sweep overhead: each invocation's wall time against the work the team measured (fine-tune and"
            " answers: the user-work phases of the runs that ended ok; goal: wall at most 1.3 x work), and where"
            " the rest went. Warm-up: the unreported first run on the GPU. Burn-ins: the untimed first"
            " generate() before each timed answer stage. Other phases: load, adapters, trainer setup, the"
            " harness's scoring. Child start-up: each run's time outside its phases and burn-ins (imports not"
            " preloaded, CUDA context, data, weight builds). Between runs: the parent's own time (fork server,"
            " process starts, writing results). Not ok: runs that failed or were cancelled. The columns add up"
            " to the wall time.")  # fmt: skip
        s.add(Table(["invocation started", "runs", "sweep wall s", "work s", "wall / work", "warm-up s",
                     "burn-ins s", "other phases s", "child start-up s", "between runs s", "not ok s"],
                    overhead))  # fmt: skip
    if burn:
        s.p("Was the latency burn-in enough? Each run answers its latency prompts one at a time after one untimed"
            " answer; the first timed answer slower than the others (ratio well above 1) means first-call costs"
            " stayed in the timed figure. Prompts differ in length, so a ratio near 1 is what a sufficient"
            " burn-in gives.")  # fmt: skip
        s.add(Table(["run", "stage", "burn-in s", "first answer s", "the others s (mean)", "first / others"], burn,
                    shape=ctx.any_shape))  # fmt: skip
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
    total: dict[str, float] = {}  # the whole study: every invocation whose parts add up
    counted = 0
    tries = [r.result for r in [*ctx.rs.runs, *ctx.rs.attempts]]  # a redone run's earlier try ran in its invocation
    for inv in invocations:
        wall, start, end = inv.get("wall_s"), inv.get("started_at"), inv.get("finished_at") or "~"
        ran = [r for r in tries if r.started_at and start and start <= r.started_at <= end]
        if not ran or wall is None or (inv.get("workers") or 1) > 1:
            rows.append([start, f"{len(ran)}", fnum(wall, 1), None, None, None, None, None, None, None, None])
            continue  # several runs at once: the parts overlap and do not add up
        warmup_s = inv.get("warmup_s")
        if warmup_s is None:  # manifests before it was recorded: the warm-up's own file, when still there
            warmup_s = _warmup_file_s(ctx, start, end)
        b = overhead_parts(ran, float(wall), warmup_s)
        if all(v is not None for v in b.values()):
            counted += 1
            total["wall"] = total.get("wall", 0.0) + float(wall)
            total["runs"] = total.get("runs", 0.0) + len(ran)
            for k, v in b.items():
                total[k] = total.get(k, 0.0) + float(v or 0.0)
        rows.append([start, f"{len(ran)}", fnum(wall, 1), fnum(b["work"], 1), ratio(wall, b["work"]),
                     fnum(b["warmup"], 1), fnum(b["burn_ins"], 1), fnum(b["other"], 1), fnum(b["startup"], 1),
                     fnum(b["between"], 1), fnum(b["not_ok"], 1)])  # fmt: skip
    if counted > 1:
        t = total
        rows.append([f"all {counted} invocations", f"{t['runs']:.0f}", fnum(t["wall"], 1), fnum(t["work"], 1),
                     ratio(t["wall"], t["work"]), fnum(t["warmup"], 1), fnum(t["burn_ins"], 1), fnum(t["other"], 1),
                     fnum(t["startup"], 1), fnum(t["between"], 1), fnum(t["not_ok"], 1)])  # fmt: skip
    return rows


def burn_in_rows(ctx: Context) -> list[list[Any]]:
    rows = []
    for r in ctx.ok_runs:
        for g in r.result.generation:
            each = g.latency_answer_s
            if len(each) < 2:
                continue
            rest = sum(each[1:]) / (len(each) - 1)
            burn = r.result.one_time.get(f"latency_{g.stage}_burn_in_s")
            rows.append([r.label, g.stage, fnum(burn, 2), fnum(each[0], 2), fnum(rest, 2), ratio(each[0], rest)])
    return rows


def _warmup_file_s(ctx: Context, start: str, end: str) -> float | None:
    for f in sorted((ctx.rs.folder / "runs").glob("*-warmup-*.json")):
        try:
            r = RunResult.read(f)
        except CorruptResult:
            continue
        if r.started_at and start <= r.started_at <= end:
            return r.wall_s
    return None


def overhead_parts(ran: list[RunResult], wall: float, warmup_s: float | None) -> dict[str, float | None]:
    """One invocation's wall time cut into the team's work and the harness's parts (see the section's text)."""
    ok = [r for r in ran if r.status == "ok"]
    phase_s = {id(r): sum(p.wall_s for p in r.phases.values()) for r in ok}
    burn = {id(r): sum(v for k, v in r.one_time.items() if k.endswith("_burn_in_s")) for r in ok}
    work = sum(p.wall_s for r in ok for k, p in r.phases.items() if k in USER_WORK)
    not_ok = sum(r.wall_s or 0.0 for r in ran if r.status != "ok")
    children = sum(r.wall_s or 0.0 for r in ran)
    return {
        "work": work,
        "warmup": warmup_s,
        "burn_ins": sum(burn.values()),
        "other": sum(phase_s.values()) - work,
        "startup": sum((r.wall_s or 0.0) - phase_s[id(r)] - burn[id(r)] for r in ok),
        "between": None if warmup_s is None else wall - children - warmup_s,
        "not_ok": not_ok,
    }
