"""The local executor: one worker thread per GPU slot (or one unpinned slot), each run a child process of this
machine, started fresh or forked from the sweep's fork server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from harness import nvml as gpu_mod
from harness.atomic import atomic_write_text
from harness.backends import get as get_backend
from harness.caches import shared_cache_env
from harness.errors import UserError
from harness.keys import key_inputs_env
from harness.sweep.child import ChildProcess, child_command, child_env
from harness.sweep.executor import Placement
from harness.sweep.forkserver import ForkServer
from harness.sweep.forkserver_session import sweep_forkserver
from harness.sweep.interrupts import wait_all
from harness.sweep.layout import SweepDir
from harness.sweep.options import SweepOptions
from harness.sweep.outcome import PlannedRun, parent_result, result_from_child
from harness.sweep.progress import Reporter
from harness.sweep.recorder import Recorder
from harness.sweep.time_budget import TimeBudget


def validate_gpus(gpus: list[int] | None) -> list[int] | None:
    if gpus is None:
        return None
    if not gpus:
        raise UserError("gpus is an empty list; give GPU indices (e.g. 0 1) or leave it out")
    if any((not isinstance(g, int)) or g < 0 for g in gpus) or len(set(gpus)) != len(gpus):
        raise UserError(f"gpus must be distinct GPU indices >= 0, got {gpus}")
    n = gpu_mod.gpu_count()
    if not n:  # None: NVML cannot be read (no driver, no NVIDIA GPU); the runs would fall back to the CPU
        raise UserError(f"gpus {gpus}: {gpu_mod.no_gpu_reason(n)}; leave gpus out to run on the CPU")
    if max(gpus) >= n:
        raise UserError(f"gpus {gpus}: this machine has {n} GPU(s) (indices 0..{n - 1})")
    return list(gpus)


def default_gpu_list() -> list[int] | None:
    idx = gpu_mod.default_index()
    return None if idx is None else [idx]


class LocalExecutor:
    """The Executor of this machine: `gpus` checked at once (a UserError before anything is written)."""

    name = "local"

    def __init__(self, options: SweepOptions) -> None:
        self.options = options
        self.gpus = validate_gpus(options.gpus)

    def connect(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def placement(self) -> Placement:
        gpus = self.gpus
        key_gpu = gpu_mod.key_gpu_name(gpus if gpus is not None else default_gpu_list())
        where = "gpus " + ",".join(map(str, gpus)) if gpus else "local"
        warm_id = f"{key_gpu} {where}" if key_gpu is not None else None
        return Placement(key_gpu, where, len(gpus) if gpus else 1, warm_id)

    def plan_warnings(self, planned: list[PlannedRun]) -> list[str]:
        return []

    def manifest_fields(self) -> dict[str, Any]:
        base = default_gpu_list() if self.gpus is None else self.gpus
        return {"executor": self.name, "ray_address": self.options.ray_address, "gpus": self.gpus,
                "gpu_baseline": gpu_mod.baseline(base)}  # fmt: skip

    def run(
        self, to_run: list[PlannedRun], layout: SweepDir, reporter: Reporter, recorder: Recorder, warnings: list[str]
    ) -> bool:
        budget_s = self.options.time_budget_s
        budget = None if budget_s is None else TimeBudget.from_folder(budget_s, layout.runs, self.options.started)
        with self._forkserver(to_run, reporter, warnings) as forkserver:
            workers = SlotWorkers(layout, reporter, recorder, self.options, self.gpus, forkserver, budget=budget)
            interrupted = workers.run(to_run)
            warnings += workers.errors
            return interrupted

    @contextlib.contextmanager
    def _forkserver(
        self, to_run: list[PlannedRun], reporter: Reporter, warnings: list[str]
    ) -> Iterator[ForkServer | None]:
        """The fork server when a run can use it (the real run child, a forkable backend, --start fork)."""
        o = self.options
        if (
            o.start == "fork"
            and o.child_module == "harness.child.run"
            and any(get_backend(r.request.backend).forkable for r in to_run)
        ):
            with sweep_forkserver(reporter, warnings) as server:
                yield server
        else:
            yield None


class SlotWorkers:
    """One worker thread per GPU slot (or one unpinned slot) pulling runs from a shared queue."""

    def __init__(
        self,
        layout: SweepDir,
        reporter: Reporter,
        recorder: Recorder,
        options: SweepOptions,
        gpus: list[int] | None,
        forkserver: ForkServer | None = None,
        busy_poll_s: float | None = None,
        budget: TimeBudget | None = None,
    ) -> None:
        self.layout, self.reporter, self.recorder = layout, reporter, recorder
        self.forkserver = forkserver
        self.budget = budget  # --time-budget: runs that would not end within it are not started
        self.out_of_time = False
        self.slots: list[int | None] = list(gpus) if gpus else [None]
        self.child_module = options.child_module
        self.kill_grace_s = options.kill_grace_s
        self.busy_mib, self.busy_wait_s, self.busy_poll_s = options.busy_mib, options.busy_wait_s, busy_poll_s
        self.queue: deque[PlannedRun] = deque()
        self.qlock = threading.Lock()
        self.stop = threading.Event()  # Ctrl-C: stop taking runs, cancel running ones
        self.hard = threading.Event()  # second Ctrl-C: SIGKILL at once
        self.errors: list[str] = []

    @property
    def workers(self) -> int:
        return len(self.slots)

    def run(self, planned: list[PlannedRun]) -> bool:
        """Run everything; returns True when interrupted (Ctrl-C / SIGTERM)."""
        self.queue.extend(planned)
        done = [threading.Event() for _ in self.slots]
        threads = [
            threading.Thread(target=self._worker, args=(slot, ev), name=f"sweep-worker-{slot}", daemon=True)
            for slot, ev in zip(self.slots, done, strict=True)
        ]
        for t in threads:
            t.start()
        try:
            wait_all(done)
            return self.out_of_time  # runs left unstarted: the sweep ends as interrupted, to be resumed
        except KeyboardInterrupt:
            self.stop.set()
            self.reporter.message("interrupted: stopping the running run(s); Ctrl-C again to kill them at once")
            while True:
                try:
                    wait_all(done)
                    break
                except KeyboardInterrupt:
                    self.hard.set()
            return True

    def _next(self) -> PlannedRun | None:
        with self.qlock:
            if not self.queue or self.out_of_time:
                return None
            why = self.budget.refuses(self.queue[0].request) if self.budget is not None else None
            if why is not None:
                self.out_of_time = True
                self.reporter.message(why)
                return None
            return self.queue.popleft()

    def _worker(self, slot: int | None, done: threading.Event) -> None:
        try:
            self._work(slot)
        finally:
            done.set()

    def _work(self, slot: int | None) -> None:
        while not self.stop.is_set():
            run = self._next()
            if run is None:
                return
            t0 = time.monotonic()
            try:
                self._execute(run, slot, t0)
                if self.budget is not None and (done := self.recorder.results.get(run.key)) is not None:
                    self.budget.record(run.request, time.monotonic() - t0, done.status)
            except Exception as e:  # a bug or an OS error in the parent: record it, go on
                msg = f"the sweep could not run it: {e.__class__.__name__}: {e}"
                self.errors.append(f"{run.label}: {msg}")
                with contextlib.suppress(Exception):
                    result = parent_result(run, "failed", msg, wall_s=round(time.monotonic() - t0, 3))
                    self.recorder.finish(run, result, time.monotonic() - t0)

    def _execute(self, run: PlannedRun, slot: int | None, t0: float) -> None:
        check_index = slot if slot is not None else (None if run.cpu_only else gpu_mod.default_index())
        if not run.cpu_only and check_index is not None:
            refusal = gpu_mod.wait_until_idle(
                check_index,
                self.busy_mib,
                self.busy_wait_s,
                poll_s=self.busy_poll_s,
                stop=self.stop,
                on_wait=lambda m: self.reporter.message(f"[{run.index}/{run.total}] {m}"),
            )
            if self.stop.is_set():
                return
            if refusal:
                result = parent_result(run, "failed", refusal, wall_s=0.0)
                self.recorder.finish(run, result, time.monotonic() - t0)
                return
        self.layout.keep_attempt(run.stem)  # an earlier try of this run (cancelled, failed) stays on record
        scratch = self.layout.scratch_dir(run.stem)
        scratch.mkdir(parents=True, exist_ok=True)
        req_path = scratch / "request.json"
        res_path = scratch / "result.json"
        with contextlib.suppress(FileNotFoundError):
            res_path.unlink()
        atomic_write_text(req_path, run.request.model_dump_json(indent=1))
        child = ChildProcess(
            child_command(self.child_module, req_path, res_path, run.key),
            cwd=scratch,
            env=child_env(slot, {**shared_cache_env(self.layout.root / "cache"), **key_inputs_env(run.key_inputs)}),
            log_path=self.layout.log_path(run.stem),
            on_phase=lambda name: self.reporter.phase(run, name),
            forkserver=self.forkserver if get_backend(run.request.backend).forkable else None,
        )
        self.reporter.started(run, "cpu" if run.cpu_only and slot is None else ("" if slot is None else f"gpu {slot}"))
        child.start()
        assert child.pid is not None
        self.layout.write_pid(run.stem, child.pid, run.key)
        outcome = child.wait(run.timeout_s, self.kill_grace_s, self.stop, self.hard)
        self.layout.clear_pid(run.stem)
        text = None
        if res_path.exists():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = res_path.read_text(encoding="utf-8")
        result, by_child, problem = result_from_child(run, outcome, text)
        notes = [*outcome.notes, *([problem] if problem else [])]
        self.recorder.finish(
            run,
            result,
            time.monotonic() - t0,
            child_file=res_path if by_child else None,
            note="; ".join(notes) or None,
        )
