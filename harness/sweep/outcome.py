"""From a child's end to a RunResult, and the sweep's own outcome.

A child that wrote a valid result keeps it, whatever its status. Otherwise the
parent writes one: `timeout`, `cancelled`, or `crashed` with the exit code or
the signal and the last lines of the child's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import RunRequest
from harness.labels import run_label
from harness.result import CorruptResult, KeyInputs, RunResult
from harness.sweep.child import ChildOutcome, now_iso


@dataclass
class PlannedRun:
    index: int  # 1-based position in the sweep
    total: int
    request: RunRequest
    key: str
    stem: str
    timeout_s: int
    key_inputs: KeyInputs | None = None  # what `key` hashes besides the request (the child records it)

    @property
    def label(self) -> str:
        return self.request.label

    @property
    def cpu_only(self) -> bool:
        return self.request.device == "cpu"

    @property
    def short(self) -> str:
        r = self.request
        return run_label(r.candidate.name, r.lora.rank, r.backend, r.quant)


def parse_result_text(text: str, where: str = "result") -> RunResult:
    """RunResult.read for text in hand; raises CorruptResult."""
    return RunResult.from_json_text(text, where)


def parent_result(
    run: PlannedRun,
    status: str,
    reason: str,
    *,
    started_at: str | None = None,
    finished_at: str | None = None,
    wall_s: float | None = None,
    tail: list[str] | None = None,
) -> RunResult:
    now = now_iso()
    return RunResult(
        key=run.key,
        label=run.label,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        request=run.request,
        key_inputs=run.key_inputs,
        started_at=started_at or now,
        finished_at=finished_at or now,
        wall_s=wall_s,
        stderr_tail="\n".join(tail) if tail else None,
    )


def _last_line(tail: list[str]) -> str | None:
    for line in reversed(tail):
        if line.strip() and not line.startswith("HARNESS_PHASE"):
            return line.strip()[:200]
    return None


# What a partial result (written by the child after each phase) holds that the parent's result keeps.
MEASURED = ("weights", "one_time", "baseline", "phases", "steps", "loss_curve", "effective", "generation", "answers",
            "environment")  # fmt: skip


def _keep_measured(result: RunResult, partial: RunResult | None, injected: str | None) -> RunResult:
    """The parent's result, with every phase (and figure) the child finished before it ended."""
    if partial is not None:
        for name in MEASURED:
            setattr(result, name, getattr(partial, name))
        if partial.phases:
            result.reason = f"{result.reason}; the {len(partial.phases)} phases it finished are kept"
    result.injected = injected or (partial.injected if partial is not None else None)
    return result


def result_from_child(
    run: PlannedRun, outcome: ChildOutcome, result_text: str | None
) -> tuple[RunResult, bool, str | None]:
    """(result, written_by_child, problem). A valid final result of the right key wins over how the process ended;
    a partial one (the child died, timed out or was cancelled after writing it) gives its phases to the parent's."""
    problem = None
    partial = None
    if result_text is not None:
        try:
            result = parse_result_text(result_text, f"result of {run.stem}")
        except CorruptResult as e:
            problem = str(e)
        else:
            if result.key != run.key:
                problem = f"the child wrote a result for key {result.key[:12]}, expected {run.key[:12]}"
            elif result.partial:
                partial = result
            else:
                result.injected = result.injected or outcome.injected
                return result, True, None
    phase = f" (last phase: {outcome.last_phase})" if outcome.last_phase else ""
    times = {"started_at": outcome.started_at, "finished_at": outcome.finished_at, "wall_s": outcome.wall_s}
    if outcome.timed_out:
        reason = f"no result after {run.timeout_s} s{phase}; its process group was killed"
        res = parent_result(run, "timeout", reason, tail=outcome.tail, **times)
        return _keep_measured(res, partial, outcome.injected), False, problem
    if outcome.cancelled:
        reason = f"cancelled (Ctrl-C) while running{phase}; rerun on resume"
        res = parent_result(run, "cancelled", reason, tail=outcome.tail, **times)
        return _keep_measured(res, partial, outcome.injected), False, problem
    how = f"killed by {outcome.signal}" if outcome.signal else f"exited with code {outcome.returncode}"
    if problem:
        how += f" and {problem}"
    elif result_text is None or partial is not None:
        how += " without writing a result"
    last = _last_line(outcome.tail)
    reason = f"{how}{phase}" + (f": {last}" if last and not outcome.signal else "")
    res = parent_result(run, "crashed", reason, tail=outcome.tail, **times)
    return _keep_measured(res, partial, outcome.injected), False, problem


@dataclass
class SweepOutcome:
    results_dir: Path  # the sweep's folder: results/<name>
    results: list[RunResult]  # one per planned run that has a result, in sweep order
    counts: dict[str, int]  # status -> runs, over `results`
    ran: list[str] = field(default_factory=list)  # keys run by this call
    kept: list[str] = field(default_factory=list)  # keys whose earlier result was kept
    wall_s: float = 0.0  # this call, start to end
    children_wall_s: float = 0.0  # sum of wall_s of the results of the runs run by this call
    workers: int = 1
    overhead_s: float = 0.0  # wall_s - children_wall_s / workers: scheduling, checks, process starts, writes
    overhead_per_run_s: float | None = None  # overhead_s * workers / len(ran)
    run_overhead_s: dict[str, float] = field(default_factory=dict)  # key -> parent's wall for it minus child wall_s
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.counts.items() if s not in ("ok", "unsupported", "mismatch"))

    def summary(self) -> dict[str, Any]:
        return {
            "results_dir": str(self.results_dir),
            "counts": self.counts,
            "ran": len(self.ran),
            "kept": len(self.kept),
            "wall_s": round(self.wall_s, 3),
            "overhead_s": round(self.overhead_s, 3),
            "overhead_per_run_s": None if self.overhead_per_run_s is None else round(self.overhead_per_run_s, 3),
            "interrupted": self.interrupted,
        }


class SweepInterrupted(SystemExit):
    """Ctrl-C (or SIGTERM): in-flight runs were cancelled and recorded; exit code 130."""

    def __init__(self, outcome: SweepOutcome, message: str) -> None:
        super().__init__(130)
        self.outcome = outcome
        self.message = message
