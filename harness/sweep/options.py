"""SweepOptions: how one sweep runs (where its results go, which executor, retries, timeouts, progress),
built in one place from the parsed flags (`lora-harness sweep/bench/run`, `python -m harness.sweep`)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

EXECUTORS = ("local", "ray")
PROGRESS_MODES = ("auto", "rich", "plain", "quiet")
KILL_GRACE_S = 10.0

# option field -> the parsed flag's name, for the options a command line can give
FLAGS = {
    "gpus": "gpus",
    "executor": "executor",
    "ray_address": "ray_address",
    "retry_failed": "retry_failed",
    "rerun": "rerun",
    "timeout_s": "timeout",
    "command": "command",
    "child_module": "child_module",
    "kill_grace_s": "kill_grace",
    "progress": "progress",
    "start": "start",
    "time_budget_s": "time_budget",
    "started": "started",
}


@dataclass
class SweepOptions:
    """Everything `run_sweep` takes besides the spec and its requests.

    results_dir: the sweep writes into results_dir/<spec.name>/ (or results_dir itself when it is so named).
    gpus: one run per listed GPU at once (local executor); None: the default GPU, or the CPU.
    executor: "local" (child processes on this machine) or "ray" (tasks on a Ray cluster at `ray_address`).
    retry_failed / rerun: what resume redoes (`harness.sweep.resume.should_run`).
    timeout_s: seconds per run; None: the spec's.
    command: argv, or a Python call as one string (harness.bench records `harness.bench(model=...)`);
    None: this process's own argv.
    busy_mib, busy_wait_s: a GPU another process uses more than busy_mib of is waited for that long, then refused.
    child_module: the run child's module (tests use harness.faults). kill_grace_s: SIGTERM to SIGKILL.
    progress: auto, rich, plain or quiet. start: "fork" (from the fork server) or "fresh" (a new interpreter).
    add: the requests add to the folder's plan instead of replacing it (harness.sweep.manifest).
    time_budget_s: start no run not expected to end within this many seconds of `started` (time.monotonic() when
    the command began, set by the CLI; None: when the sweep starts its runs) (sweep/time_budget.py).
    """

    results_dir: Path
    gpus: list[int] | None = None
    executor: str = "local"
    ray_address: str | None = None
    retry_failed: bool = False
    rerun: bool = False
    timeout_s: int | None = None
    command: list[str] | str | None = None
    busy_mib: float = 1024
    busy_wait_s: float = 60
    child_module: str = "harness.child.run"
    kill_grace_s: float = KILL_GRACE_S
    progress: str = "auto"
    start: str = "fork"
    add: bool = False
    time_budget_s: float | None = None
    started: float | None = None

    def __post_init__(self) -> None:
        self.results_dir = Path(self.results_dir)

    @classmethod
    def from_args(cls, args: argparse.Namespace, results_dir: Path, **given: Any) -> SweepOptions:
        """The options from parsed flags: each option its flag gives (FLAGS), when the namespace holds it;
        `given` (what the caller has worked out itself, e.g. --gpus 0,1 parsed and checked) wins."""
        fields = {name: getattr(args, flag) for name, flag in FLAGS.items() if hasattr(args, flag)}
        fields.update(given)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise TypeError(f"SweepOptions has no option {', '.join(unknown)}")
        return cls(Path(results_dir), **fields)

    def check(self) -> None:
        """Refuse what no executor can run (before anything is written)."""
        if self.executor not in EXECUTORS:
            raise UserError(f"unknown executor '{self.executor}': use one of {', '.join(EXECUTORS)}")
        if self.progress not in PROGRESS_MODES:
            raise UserError(f"unknown progress mode '{self.progress}': use auto, rich, plain or quiet")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise UserError(f"--time-budget {self.time_budget_s:g}: give the seconds the sweep may take, above 0")
        if self.time_budget_s is not None and self.executor != "local":
            raise UserError("--time-budget works with the local executor only; leave it out with --executor ray")

    def command_line(self) -> list[str] | str:
        """The command that ran the sweep (and resumes it): as given, else this process's argv."""
        if isinstance(self.command, str):
            return self.command
        return list(self.command) if self.command is not None else list(getattr(sys, "orig_argv", sys.argv))
