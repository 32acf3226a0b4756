"""`--time-budget SECONDS`: start no run that is not expected to end within SECONDS of the command's start.

For a sweep that must stop by a known time (a lent GPU's call limit, a Colab session): rather than cancel the
run in flight at the limit (its seconds lost, redone on resume), the sweep stops taking runs when the next one
would not fit, and the rest wait for a resume. A run's expected wall is the longest wall of the finished runs of
its model and backend in this folder (this call's, and earlier calls' result files), else the longest of any
finished run here; a run with nothing to go by starts. Cancelled runs do not count (they were cut short).
The budget counts from the command's start (`SweepOptions.started`, set by the CLI), so the preflight (weights,
tokenizers) and the fork server's start are in it, as they are in the caller's own time limit.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from harness.config import RunRequest
from harness.results_folder import scan_runs


def _kind(request: RunRequest) -> tuple[str, str]:
    return request.candidate.name, request.backend


class TimeBudget:
    def __init__(self, budget_s: float, t0: float | None = None) -> None:
        self.budget_s = budget_s
        self.t0 = time.monotonic() if t0 is None else t0
        self.walls: dict[tuple[str, str], float] = {}  # (model, backend) -> the longest wall seen
        self.lock = threading.Lock()

    @classmethod
    def from_folder(cls, budget_s: float, runs_dir: Path, t0: float | None = None) -> TimeBudget:
        """A budget counted from `t0` (time.monotonic(); None: now), knowing the walls of the folder's runs."""
        budget = cls(budget_s, t0)
        for f in scan_runs(runs_dir):
            if f.result is not None and f.kind in ("run", "warmup", "stale"):
                budget.record(f.result.request, f.result.wall_s, f.result.status)
        return budget

    def record(self, request: RunRequest, wall_s: float | None, status: str) -> None:
        if wall_s is None or status == "cancelled":
            return
        with self.lock:
            k = _kind(request)
            self.walls[k] = max(self.walls.get(k, 0.0), wall_s)

    def expected_s(self, request: RunRequest) -> float | None:
        with self.lock:
            own = self.walls.get(_kind(request))
            return own if own is not None else max(self.walls.values(), default=None)

    def refuses(self, request: RunRequest) -> str | None:
        """Why the run must not start now (one line), or None."""
        expected = self.expected_s(request)
        if expected is None:
            return None
        left = self.budget_s - (time.monotonic() - self.t0)
        if expected <= left:
            return None
        return (
            f"time budget: {max(left, 0):.0f} s of {self.budget_s:.0f} s left, the next run is expected to take"
            f" {expected:.0f} s; not starting it (resume to run the rest)"
        )
