"""The resume policy: which planned runs a sweep keeps from an earlier call and which it runs (again)."""

from __future__ import annotations

from pathlib import Path

from harness import adapters
from harness.result import RunResult
from harness.sweep.layout import SweepDir
from harness.sweep.outcome import PlannedRun
from harness.sweep.progress import Reporter

KEEP_STATUSES = ("ok", "unsupported", "mismatch")  # final: never rerun unless rerun=True
RETRY_STATUSES = ("oom", "crashed", "timeout", "failed")  # rerun with retry_failed=True
# "cancelled" is always rerun.


def should_run(existing: RunResult | None, *, retry_failed: bool, rerun: bool) -> bool:
    if existing is None or rerun:
        return True
    if existing.status in KEEP_STATUSES:
        return False
    if existing.status in RETRY_STATUSES:
        return retry_failed
    return True  # cancelled


def adapter_missing(run: PlannedRun, existing: RunResult | None, root: Path) -> bool:
    """A finished run asked for its adapter (--save-adapters) and has none: only running it again makes one."""
    ok = existing is not None and existing.status == "ok"
    return ok and run.request.save_adapter and not adapters.present(root, existing.adapter)  # type: ignore[union-attr]


def split_planned(
    planned: list[PlannedRun],
    layout: SweepDir,
    reporter: Reporter,
    warnings: list[str],
    *,
    retry_failed: bool,
    rerun: bool,
) -> tuple[list[RunResult], list[PlannedRun]]:
    """(results kept, runs to run), in plan order. A corrupt or foreign result file is set aside and its run redone."""
    kept: list[RunResult] = []
    to_run: list[PlannedRun] = []
    for run in planned:
        existing, problem = layout.existing(run.stem, run.key)
        if problem:
            aside = layout.set_aside(run.stem)
            note = f"{problem}; redoing the run" + (f" (old file kept as {aside.name})" if aside else "")
            warnings.append(note)
            reporter.message(f"warning: {note}")
        if should_run(existing, retry_failed=retry_failed, rerun=rerun):
            to_run.append(run)
        elif adapter_missing(run, existing, layout.root):
            reporter.message(f"{run.label}: finished without its adapter; running it again to save one")
            to_run.append(run)
        else:
            assert existing is not None
            kept.append(existing)
    return kept, to_run
