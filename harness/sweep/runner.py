"""run_sweep: plan the runs, keep the finished ones, run the rest through an executor, record every end.

The parent schedules, watches and records only: it never imports torch, transformers or the run module.
Its parts: the plan and the warm-up run (plan.py), the resume policy (resume.py), the executors (executor.py:
local_executor.py, ray_executor.py), the recorder (recorder.py), the manifest (manifest.py), Ctrl-C and
SIGTERM (interrupts.py).
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import time
from collections import Counter

from harness.config import RunRequest, SweepSpec
from harness.errors import UserError
from harness.keys import figure_packages
from harness.result import RunResult
from harness.sweep import warmth
from harness.sweep.child import now_iso
from harness.sweep.executor import Executor
from harness.sweep.interrupts import sigterm_as_interrupt
from harness.sweep.layout import SweepDir, sweep_dir_for
from harness.sweep.manifest import finish_invocation, new_manifest
from harness.sweep.options import SweepOptions
from harness.sweep.outcome import PlannedRun, SweepInterrupted, SweepOutcome
from harness.sweep.plan import add_warmup, plan_runs
from harness.sweep.progress import Reporter
from harness.sweep.recorder import Recorder
from harness.sweep.resume import split_planned


def run_sweep(spec: SweepSpec, requests: list[RunRequest], options: SweepOptions) -> SweepOutcome:
    """Run a sweep into options.results_dir/<spec.name>/ (or results_dir itself when it is named spec.name).

    Runs whose result is already there with the same key are kept (see `resume.should_run`).
    `options.add`: the requests add to the folder's plan instead of replacing it (the runs of the earlier plan
    stay in the manifest, so in the report): repeats of a few deciding configurations, narrowed from
    the command line, join the study they belong to.
    `options.start`: "fork" forks each run from a server that has imported the libraries already (a fresh
    process all the same; see harness/sweep/forkserver.py), "fresh" starts a new interpreter per run.
    Ctrl-C or SIGTERM cancels the running runs, records them as `cancelled`, writes
    the manifest and raises SweepInterrupted (a SystemExit with code 130).
    """
    options.check()
    timer_t0 = time.monotonic()
    started_at = now_iso()
    command = options.command_line()
    again = command if isinstance(command, str) else shlex.join(command)
    executor = make_executor(options)
    run_timeout = int(options.timeout_s if options.timeout_s is not None else spec.timeout_s)
    if run_timeout <= 0:
        raise UserError(f"timeout must be > 0 seconds, got {run_timeout}")
    # everything that can refuse the sweep comes before its folder's first write: Ray connects here
    early = contextlib.ExitStack()
    early.enter_context(executor.connect())  # no cluster: one line, and no results folder
    layout = SweepDir(sweep_dir_for(options.results_dir, spec.name))
    try:
        layout.ensure()
    except BaseException:
        early.close()
        raise

    with early, layout.lock(), sigterm_as_interrupt():
        warnings: list[str] = []
        interrupted = False
        try:
            place = executor.placement()
            packages = figure_packages()  # every backend's, for the manifest
            planned, plan_warnings = plan_runs(requests, place.key_gpu, run_timeout)
            plan_warnings += executor.plan_warnings(planned)
            warnings += plan_warnings
            reporter = Reporter(spec.name, len(planned), place.workers, options.progress)
            for w in plan_warnings:
                reporter.message(f"warning: {w}")
            _clean_leftovers(layout, reporter, warnings, options.kill_grace_s)
            kept, to_run = split_planned(
                planned, layout, reporter, warnings, retry_failed=options.retry_failed, rerun=options.rerun
            )
            warmup = add_warmup(to_run, spec.warmup, place.key_gpu, place.warm_id, run_timeout, reporter)
            manifest = new_manifest(
                layout, spec, command, planned, executor.manifest_fields(), place.where, started_at, packages,
                add=options.add,
            )  # fmt: skip
            layout.write_manifest(manifest)

            recorder = Recorder(layout, reporter)
            reporter.begin(len(to_run), kept, place.where)
            try:
                interrupted = executor.run(to_run, layout, reporter, recorder, warnings)
            finally:
                reporter.end()
        except KeyboardInterrupt:
            # Ctrl-C before any run started: nothing is running, nothing to record.
            raise SweepInterrupted(
                SweepOutcome(layout.root, [], {}, interrupted=True),
                f"sweep {spec.name} interrupted before any run started; rerun: {again}",
            ) from None

        outcome = _outcome(layout, planned, kept, to_run, recorder, place.workers, timer_t0, interrupted, warnings)
        if place.warm_id is not None and any(
            r.status == "ok" and r.request.device != "cpu" for r in recorder.results.values()
        ):
            warmth.mark_warm(place.warm_id)
        warmup_s = sum(recorder.results[k].wall_s or 0.0 for k in outcome.ran if recorder.results[k].request.warmup)
        finish_invocation(
            manifest,
            now_iso(),
            interrupted=interrupted,
            ran=len(outcome.ran),
            kept=len(kept),
            counts=outcome.counts,
            wall_s=round(outcome.wall_s, 3),
            overhead_s=round(outcome.overhead_s, 3),
            warmup=warmup,  # "ran", "off", or why it was skipped
            warmup_s=round(warmup_s, 3),  # the warm-up run's own time (its result is not in the report)
            workers=place.workers,
        )
        layout.write_manifest(manifest)
        reporter.table(outcome.results, set(outcome.ran))

    if interrupted:
        ran = outcome.ran
        cancelled = sum(1 for k in ran if recorder.results[k].status == "cancelled")
        not_started = len(to_run) - len(ran)
        message = (
            f"sweep {spec.name} interrupted: {len(ran) - cancelled} run(s) finished, {cancelled} cancelled, "
            f"{not_started} not started; results in {layout.root}; resume with: {again}"
        )
        print(message, file=sys.stderr, flush=True)
        raise SweepInterrupted(outcome, message)
    return outcome


def make_executor(options: SweepOptions) -> Executor:
    """The executor the options name; a UserError for what it refuses (gpus with Ray, ray not installed, ...)."""
    if options.executor == "ray":
        from harness.sweep.ray_executor import RayExecutor  # ray is an optional extra

        return RayExecutor(options)
    from harness.sweep.local_executor import LocalExecutor

    return LocalExecutor(options)


def _clean_leftovers(layout: SweepDir, reporter: Reporter, warnings: list[str], kill_grace_s: float) -> None:
    """What a killed sweep left in the folder: its children still running, its writers' temp files."""
    for note in layout.kill_orphans(min(kill_grace_s, 3.0)):
        warnings.append(note)
        reporter.message(f"warning: {note}")
    stale = layout.clean_stale_tmp()
    if stale:
        note = f"removed {len(stale)} temp file(s) left by a killed writer: {', '.join(stale[:5])}"
        warnings.append(note)
        reporter.message(note)


def _outcome(
    layout: SweepDir,
    planned: list[PlannedRun],
    kept: list[RunResult],
    to_run: list[PlannedRun],
    recorder: Recorder,
    workers: int,
    timer_t0: float,
    interrupted: bool,
    warnings: list[str],
) -> SweepOutcome:
    """The call's account: every planned run's result in plan order, what ran, and the sweep's own overhead."""
    wall = time.monotonic() - timer_t0
    by_key = {r.key: r for r in kept} | recorder.results
    results = [by_key[p.key] for p in planned if p.key in by_key]
    ran = [p.key for p in to_run if p.key in recorder.results]
    children = sum(recorder.results[k].wall_s or 0.0 for k in ran)
    overhead = wall - children / workers
    return SweepOutcome(
        results_dir=layout.root,
        results=results,
        counts=dict(Counter(r.status for r in results)),
        ran=ran,
        kept=[r.key for r in kept],
        wall_s=wall,
        children_wall_s=children,
        workers=workers,
        overhead_s=overhead,
        overhead_per_run_s=overhead * workers / len(ran) if ran else None,
        run_overhead_s={k: round(recorder.parent_walls[k] - (recorder.results[k].wall_s or 0.0), 3) for k in ran},
        interrupted=interrupted,
        warnings=warnings,
    )
