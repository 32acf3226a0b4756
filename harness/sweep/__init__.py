"""Sweeps that survive: run keys, one fresh child per run, timeouts, resume, progress, GPU hygiene, several GPUs, Ray.

    from harness.sweep import run_sweep, collect_results
    outcome = run_sweep(spec, requests, Path("results"))      # -> results/<spec.name>/
    table = collect_results(outcome.results_dir)               # list of RunResult; .warnings

The parent never imports torch, transformers or the run module: it schedules,
watches and records. See layout.py for the folder, runner.py for resume rules.
"""

from harness.keys import figure_packages, result_stem, run_key
from harness.sweep.layout import CollectedResults, collect_results
from harness.sweep.outcome import SweepInterrupted, SweepOutcome
from harness.sweep.runner import KEEP_STATUSES, RETRY_STATUSES, run_sweep, should_run

__all__ = [
    "KEEP_STATUSES",
    "RETRY_STATUSES",
    "CollectedResults",
    "SweepInterrupted",
    "SweepOutcome",
    "collect_results",
    "figure_packages",
    "result_stem",
    "run_key",
    "run_sweep",
    "should_run",
]
