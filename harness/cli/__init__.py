"""Command line: `lora-harness` (installed) or `python -m harness` (a source tree); the usage is `parser.USAGE`.

Modules: `parser` (every command and flag), `spec` (from flags to spec), `sweeping` (what bench, sweep and run
share: the preflight, the sweep, the report, the exit code), `runs` (bench, sweep, run), `results` (report,
deciding, grades), `info` (list, selfbench). `fits` is harness.memory.cli's.
"""

from __future__ import annotations

import sys
import time

from harness.cli import runs
from harness.cli.info import cmd_list, cmd_selfbench
from harness.cli.parser import _add_run_options, build_parser, version
from harness.cli.results import _quality_weights, _results_folder, cmd_deciding, cmd_grades, cmd_report
from harness.cli.runs import cmd_bench, cmd_run, cmd_sweep
from harness.cli.spec import DEFAULT_SPEC, STUDY_SPEC, _apply, _axes, _overrides, _spec_path, _weights_path
from harness.cli.sweeping import EXIT_NOT_OK, RESULTS_ROOT, _exit_code, _gpus, _made, _preflight, _sweep, invocation
from harness.config import load_sweep_spec
from harness.errors import EXIT_USER_ERROR, UserError


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.started = time.monotonic()  # --time-budget counts from here (harness/sweep/time_budget.py)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        for line in getattr(e, "lines", None) or [str(e)]:  # one line per problem (PreflightError: per model)
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume (finished runs are kept)", file=sys.stderr)
        return 130


__all__ = [
    "DEFAULT_SPEC", "EXIT_NOT_OK", "RESULTS_ROOT", "STUDY_SPEC", "_add_run_options", "_apply", "_axes", "_exit_code",
    "_gpus", "_made", "_overrides", "_preflight", "_quality_weights", "_results_folder", "_spec_path", "_sweep",
    "_weights_path", "build_parser", "cmd_bench", "cmd_deciding", "cmd_grades", "cmd_list", "cmd_report", "cmd_run",
    "cmd_selfbench", "cmd_sweep", "invocation", "load_sweep_spec", "main", "runs", "version",
]  # fmt: skip
