"""Sweeps that survive: run keys, one fresh child per run, timeouts, resume, progress, GPU hygiene, several GPUs, Ray.

    from harness.sweep import SweepOptions, run_sweep, collect_results
    outcome = run_sweep(spec, requests, SweepOptions(Path("results")))   # -> results/<spec.name>/
    table = collect_results(outcome.results_dir)                          # list of RunResult; .warnings

The parent never imports torch, transformers or the run module: it schedules,
watches and records. See layout.py for the folder, runner.py for the parts of a sweep, resume.py for resume rules.
"""

from harness.keys import figure_packages, result_stem, run_key
from harness.sweep.layout import CollectedResults, collect_results
from harness.sweep.options import SweepOptions
from harness.sweep.outcome import SweepInterrupted, SweepOutcome
from harness.sweep.resume import KEEP_STATUSES, RETRY_STATUSES, should_run
from harness.sweep.runner import run_sweep

__all__ = [
    "KEEP_STATUSES",
    "RETRY_STATUSES",
    "CollectedResults",
    "SweepInterrupted",
    "SweepOptions",
    "SweepOutcome",
    "collect_results",
    "figure_packages",
    "result_stem",
    "run_key",
    "run_sweep",
    "should_run",
]
