"""Every run: time in two parts (one-time cost, steady steps with their interval), memory, answers;
the run-to-run variation of repeated configurations; mismatched runs."""

from __future__ import annotations

from harness.fmt import fnum, gib, mem_cell, secs
from harness.report.analysis.stats import estimate, resample_means, resample_medians, rng
from harness.report.analysis.timing import RunTiming, run_timing
from harness.report.render import Section, Table
from harness.report.sections.base import Context, est

COLUMNS = [
    "run",
    "status",
    "load",
    "setup",
    "fine-tune",
    "one-time",
    "steady s/step [95% CI]",
    "step p50 s",
    "step p90 s",
    "new token shapes after burn-in (steps, cost)",
    "user-work peak",
    "scoring pass peak",
    "torch reserved (train)",
    "torch allocated (train)",
    "host RSS (train)",
    "gen s/answer",
    "tokens/s",
    "latency s (one at a time)",
]


def build(ctx: Context) -> Section:
    s = Section("runs", "All runs")
    gen = rng(1)
    rows = []
    for r in ctx.runs:
        t = run_timing(r.result)
        st = r.result.steps
        train = r.phase("train")
        g = r.gen_tuned
        up, sp = r.user_peak, r.scoring_peak
        steady = None
        if t is not None and t.steady_step is not None:
            draws = (resample_medians if t.median else resample_means)(t.steady, 2000, gen)
            steady = est(estimate(t.steady_step, draws, len(t.steady)), 3)
        setup = [x for n in ("lora", "train_setup") if (x := r.phase_s(n)) is not None]
        rows.append(
            [
                r.label,
                r.status_text,
                secs(r.phase_s("load")),
                secs(sum(setup)) if setup else None,
                secs(r.train_s),
                secs(t.one_time_s) if t else None,
                steady,
                fnum(st.steady_p50_s, 3) if st else None,
                fnum(st.steady_p90_s, 3) if st else None,
                _first_shapes(t),
                _peak(up.mib, up.measure, up.phase),
                _peak(sp.mib, sp.measure, sp.phase),
                gib(train.torch_max_reserved_mib) if train and train.torch_max_reserved_mib is not None else None,
                gib(train.torch_max_allocated_mib) if train and train.torch_max_allocated_mib is not None else None,
                gib(train.host_rss_peak_mib) if train and train.host_rss_peak_mib is not None else None,
                f"{g.s_per_answer:.2f}" if g else None,
                f"{g.tokens_per_s:.1f}" if g else None,
                fnum(g.latency_s_per_answer, 2) if g else None,
            ]
        )
    s.add(
        Table(
            COLUMNS,
            rows,
            title="Every run (details in results.csv)",
            shape=ctx.any_shape,
            empty="No result files.",
            caption="One-time = everything from the command to the first steady step: start-up before the load (the"
            " harness's own shape or conversion builds left out), load, setup (adapters, trainer), the burn-in steps"
            " beyond as many steady steps, each new token shape's first step beyond a steady step, train time"
            " outside the steps, compilation. Steady = median of the steps after the burn-in whose token shape was"
            " met before (older files without step shapes: the mean of every step after the burn-in), 95%"
            " bootstrap over its steps."
            " User-work peak: fine-tune and answers; the scoring pass (answer likelihoods) is the harness's own.",
        )
    )
    variation = repeats_table(ctx)
    if variation is not None:
        s.add(variation)
    mism = [r for r in ctx.runs if r.status == "mismatch"]
    if mism:
        s.p(
            "Runs with status mismatch ran with effective settings that differ from the request: they are listed"
            " here and in results.csv but left out of the ranking, the plots and every comparison.",
            "warn",
        )
        s.add(
            Table(
                ["run", "differences (request vs effective)"],
                [
                    [r.label, "; ".join(r.result.effective.mismatches) if r.result.effective else r.result.reason]
                    for r in mism
                ],
                title="Mismatched runs (shown, not compared)",
            )
        )
    return s


def _first_shapes(t: RunTiming | None) -> str | None:
    """'3 of 7 shapes: steps 6, 14, 20 (+1.8 s)'; 'not recorded' for older files."""
    if t is None:
        return None
    if not t.shapes_known:
        return "not recorded"
    if not t.median:
        return f"no shape met twice after the burn-in ({t.shapes_met} shapes): not told apart"
    if not t.first_shapes:
        return f"none ({t.shapes_met} shapes, all met in the burn-in)"
    steps = ", ".join(str(f.index) for f in t.first_shapes)
    return f"{len(t.first_shapes)} of {t.shapes_met} shapes: steps {steps} (+{secs(t.parts.get('new shapes', 0.0))})"


def _peak(mib: float | None, measure: str | None, phase: str | None) -> str | None:
    cell = mem_cell(mib, measure)
    return None if cell is None else cell + (f" ({phase})" if phase else "")


def repeats_table(ctx: Context) -> Table | None:
    """Run-to-run variation of configurations that ran more than once."""
    rows = []
    for c in ctx.analysis.cells:
        if len(c.timings) < 2:
            continue
        st, ot = c.repeat_steady, c.repeat_one_time
        spread = (max(st) - min(st)) / (sum(st) / len(st)) if st else None
        sp = c.spread
        rows.append(
            [
                c.label,
                len(c.timings),
                ", ".join(f"{x:.3f}" for x in st),
                f"{spread:.0%}" if spread is not None else None,
                f"{sp.low:.3f} / {sp.high:.3f} ({sp.ratio:.2f}x)" if sp is not None and sp.ratio is not None else None,
                c.machines.text,
                est(c.steady, 3),
                ", ".join(f"{x:.1f}" for x in ot),
                est(c.one_time, 1),
            ]
        )
    if not rows:
        return None
    return Table(
        [
            "configuration",
            "repeats",
            "steady s/step per repeat",
            "spread (max-min)/mean",
            "steady min / max (max/min)",
            "ran on",
            "pooled steady [95% CI]",
            "one-time s per repeat",
            "one-time mean [95% CI]",
        ],
        rows,
        title="Run-to-run variation (repeats of one configuration)",
        shape=ctx.any_shape,
        caption="Pooled steady: steps of every repeat; its interval resamples the repeats, then the steps inside each."
        " max/min: the slowest repeat's steady step over the fastest's, the run-to-run spread an interval over one"
        " run's steps does not show. Ran on: machine boots (boot ids) of the repeats; repeats on several boots"
        " hold machine-to-machine spread too.",
    )
