"""Progress of a sweep: a rich progress bar on a terminal, one plain line per event otherwise (CI, logs)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harness.fmt import duration
from harness.report.summary import STATUS_STYLE, footnotes, run_table
from harness.result import RunResult
from harness.sweep.outcome import PlannedRun

TABLE_WIDTH = 180  # the end-of-sweep table in a log (not a terminal)


class Reporter:
    """Thread-safe; `mode` is "rich", "plain", "quiet" or "auto" (rich when the stream is a terminal)."""

    def __init__(self, name: str, total: int, workers: int, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        if mode == "auto":
            mode = "rich" if self.stream.isatty() else "plain"
        self.mode = mode
        self.name, self.total, self.workers = name, total, max(1, workers)
        self.lock = threading.RLock()
        self.done = 0
        self.walls: list[float] = []  # parent-measured wall of runs finished by this call
        self.prior_walls: list[float] = []  # wall_s of kept results, for an ETA before the first run ends
        self.current: dict[str, str] = {}  # stem -> "name r16 · phase"
        tty = self.stream.isatty()
        self.console = Console(file=self.stream, highlight=False, soft_wrap=False, width=None if tty else 120)
        self._progress: Progress | None = None
        self._task: Any = None

    # ------------------------------------------------------------ helpers

    def eta_s(self) -> float | None:
        walls = self.walls or self.prior_walls
        if not walls:
            return None
        return sum(walls) / len(walls) * max(0, self.total - self.done) / self.workers

    def _plain(self, text: str) -> None:
        if self.mode == "quiet":
            return
        if self.mode == "rich" and self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def _refresh(self) -> None:
        if self._progress is None:
            return
        desc = " | ".join(self.current.values()) or ("done" if self.done >= self.total else "waiting")
        eta = self.eta_s()
        self._progress.update(self._task, completed=self.done, description=desc, eta=f"eta {duration(eta)}")

    # ------------------------------------------------------------ events

    def begin(self, to_run: int, kept: list[RunResult], where: str) -> None:
        with self.lock:
            self.done = len(kept)
            self.prior_walls = [r.wall_s for r in kept if r.wall_s]
            head = f"sweep {self.name}: {self.total} runs, {len(kept)} kept from earlier, {to_run} to run ({where})"
            if self.mode == "rich":
                self.console.print(head, markup=False)
                self._progress = Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[eta]}"),
                    TimeElapsedColumn(),
                    console=self.console,
                    transient=False,
                )
                self._task = self._progress.add_task("starting", total=self.total, completed=self.done, eta="eta ?")
                self._progress.start()
            else:
                self._plain(head)

    def message(self, text: str) -> None:
        with self.lock:
            self._plain(text)

    def started(self, run: PlannedRun, where: str) -> None:
        with self.lock:
            self.current[run.stem] = f"[{run.index}/{run.total}] {run.short}"
            if self.mode == "plain":
                self._plain(f"[{run.index}/{run.total}] start   {run.label}" + (f"  ({where})" if where else ""))
            self._refresh()

    def phase(self, run: PlannedRun, name: str) -> None:
        with self.lock:
            self.current[run.stem] = f"[{run.index}/{run.total}] {run.short} · {name}"
            if self.mode == "plain":
                self._plain(f"[{run.index}/{run.total}] phase   {run.label}: {name}")
            self._refresh()

    def finished(self, run: PlannedRun, result: RunResult, parent_wall: float) -> None:
        with self.lock:
            self.current.pop(run.stem, None)
            if not run.request.warmup:  # the warm-up is not one of the sweep's runs: "done 4/3" otherwise
                self.done += 1
                self.walls.append(parent_wall)
            reason = f" - {result.reason}" if result.reason and result.status != "ok" else ""
            line = (
                f"[{run.index}/{run.total}] {result.status:<7} {run.label}  {duration(result.wall_s)}{reason}"
                f"  (done {self.done}/{self.total}, eta {duration(self.eta_s())})"
            )
            if self.mode == "rich":
                style = STATUS_STYLE.get(result.status, "")
                if self._progress is not None:
                    self._progress.console.print(line, style=style, markup=False, highlight=False)
            else:
                self._plain(line)
            self._refresh()

    def end(self) -> None:
        with self.lock:
            if self._progress is not None:
                self._refresh()
                self._progress.stop()
                self._progress = None

    def table(self, results: list[RunResult], ran: set[str]) -> None:
        """The one end-of-sweep table (harness.report.summary): a line per run, kept ones marked."""
        if self.mode == "quiet":
            return
        console = self.console
        if not self.stream.isatty():  # a log file: room for every column rather than wrapped cells
            console = Console(file=self.stream, highlight=False, soft_wrap=False, width=TABLE_WIDTH)
        room = max(12, min(60, console.width - 125))
        with self.lock:
            console.print(run_table(results, ran, f"sweep {self.name}", reason_width=room))
            for note in footnotes(results):
                console.print(note, markup=False, highlight=False)


class Timer:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
