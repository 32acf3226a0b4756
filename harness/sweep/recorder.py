"""Recorder: writes each finished run's result (atomically), its log footer, and tells the reporter."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from harness import adapters
from harness.atomic import atomic_write_text
from harness.fmt import duration as fmt_s
from harness.result import RunResult
from harness.sweep.child import now_iso
from harness.sweep.layout import SweepDir
from harness.sweep.outcome import PlannedRun
from harness.sweep.progress import Reporter


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Recorder:
    """Every executor records each run's end here (thread-safe): the result file, the log's last line, the
    adapter kept or discarded, the parent's wall time for the run."""

    def __init__(self, layout: SweepDir, reporter: Reporter) -> None:
        self.layout, self.reporter = layout, reporter
        self.lock = threading.Lock()
        self.results: dict[str, RunResult] = {}
        self.parent_walls: dict[str, float] = {}

    def finish(
        self,
        run: PlannedRun,
        result: RunResult,
        parent_wall: float,
        *,
        child_file: Path | None = None,
        child_text: str | None = None,
        note: str | None = None,
    ) -> None:
        dest = self.layout.run_path(run.stem)
        scratch = self.layout.scratch_dir(run.stem)
        kept = None
        if result.status == "ok" and not run.request.warmup:
            kept = adapters.keep(scratch, self.layout.root, run.stem)
        if kept is not None:
            result.adapter = kept  # the result names its adapter's folder: written anew, not moved
            child_file = child_text = None
        else:
            adapters.discard(scratch)
        if child_file is not None:
            os.replace(child_file, dest)  # the child wrote it atomically in the same file system
            _fsync_dir(dest.parent)
        elif child_text is not None:
            atomic_write_text(dest, child_text)
        else:
            result.write(dest)
        footer = f"\n[harness.sweep] {now_iso()} status {result.status}"
        footer += f": {result.reason}" if result.reason else ""
        footer += f" (child wall {fmt_s(result.wall_s)}, parent wall {fmt_s(parent_wall)})"
        if note:
            footer += f"\n[harness.sweep] {note}"
        with contextlib.suppress(OSError), self.layout.log_path(run.stem).open("a", encoding="utf-8") as f:
            f.write(footer + "\n")
        with self.lock:
            self.results[run.key] = result
            self.parent_walls[run.key] = parent_wall
        self.reporter.finished(run, result, parent_wall)
