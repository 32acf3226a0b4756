"""Progress of a sweep: a rich progress bar on a terminal, one plain line per event otherwise (CI, logs)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.result import RunResult
from harness.sweep.outcome import PlannedRun

STATUS_STYLE = {
    "ok": "green",
    "unsupported": "yellow",
    "mismatch": "yellow",
    "oom": "red",
    "crashed": "red",
    "timeout": "red",
    "failed": "red",
    "cancelled": "magenta",
}


def fmt_s(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 10:
        return f"{s:.1f}s"
    s = round(s)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


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
        self._progress.update(self._task, completed=self.done, description=desc, eta=f"eta {fmt_s(eta)}")

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
            self.done += 1
            self.walls.append(parent_wall)
            reason = f" - {result.reason}" if result.reason and result.status != "ok" else ""
            line = (
                f"[{run.index}/{run.total}] {result.status:<7} {run.label}  {fmt_s(result.wall_s)}{reason}"
                f"  (done {self.done}/{self.total}, eta {fmt_s(self.eta_s())})"
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
        if self.mode == "quiet":
            return
        t = Table(title=f"sweep {self.name}", show_lines=False)
        longest = max((len(r.label) for r in results), default=10)
        room = max(12, min(70, self.console.width - longest - 9 - 6 - 4 - 16))  # 16: borders and padding
        t.add_column("run", no_wrap=True)
        t.add_column("status", no_wrap=True, min_width=9)
        t.add_column("reason", no_wrap=True)
        t.add_column("wall s", justify="right", no_wrap=True, min_width=6)
        t.add_column("", no_wrap=True, min_width=4)
        for r in results:
            reason = r.reason.splitlines()[0] if r.reason else ""
            reason = reason if len(reason) <= room else reason[: room - 1] + "…"
            wall = f"{r.wall_s:.1f}" if r.wall_s is not None else "-"
            t.add_row(r.label, r.status, reason, wall, "" if r.key in ran else "kept", style=STATUS_STYLE.get(r.status))
        with self.lock:
            self.console.print(t)


class Timer:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
