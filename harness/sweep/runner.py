"""run_sweep: plan the runs, skip the finished ones, run the rest each in a fresh child, record every end.

The parent schedules, watches and records only: it never imports torch,
transformers or the run module.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import adapters
from harness import nvml as gpu_mod
from harness.atomic import atomic_write_text
from harness.backends import get as get_backend
from harness.caches import shared_cache_env
from harness.config import RunRequest, SweepSpec
from harness.errors import UserError
from harness.fmt import duration as fmt_s
from harness.keys import data_sha256, figure_packages, key_inputs_env, key_of, result_stem
from harness.result import KeyInputs, RunResult
from harness.sweep import warmth
from harness.sweep.child import ChildProcess, child_command, child_env, now_iso
from harness.sweep.forkserver import FOLDER_PREFIX, ForkServer, clean_stale
from harness.sweep.layout import MANIFEST_VERSION, SweepDir, sweep_dir_for
from harness.sweep.outcome import (
    PlannedRun,
    SweepInterrupted,
    SweepOutcome,
    parent_result,
    result_from_child,
)
from harness.sweep.progress import Reporter

EXECUTORS = ("local", "ray")
KEEP_STATUSES = ("ok", "unsupported", "mismatch")  # final: never rerun unless rerun=True
RETRY_STATUSES = ("oom", "crashed", "timeout", "failed")  # rerun with retry_failed=True
# "cancelled" is always rerun.
KILL_GRACE_S = 10.0
MAX_INVOCATIONS = 50


def should_run(existing: RunResult | None, *, retry_failed: bool, rerun: bool) -> bool:
    if existing is None or rerun:
        return True
    if existing.status in KEEP_STATUSES:
        return False
    if existing.status in RETRY_STATUSES:
        return retry_failed
    return True  # cancelled


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Recorder:
    """Writes each finished run's result (atomically), its log footer, and tells the reporter."""

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


class LocalExecutor:
    """One worker thread per GPU slot (or one unpinned slot) pulling runs from a shared queue."""

    def __init__(
        self,
        layout: SweepDir,
        reporter: Reporter,
        recorder: Recorder,
        *,
        gpus: list[int] | None,
        child_module: str,
        kill_grace_s: float,
        busy_mib: float,
        busy_wait_s: float,
        busy_poll_s: float | None = None,
        forkserver: ForkServer | None = None,
    ) -> None:
        self.layout, self.reporter, self.recorder = layout, reporter, recorder
        self.forkserver = forkserver
        self.slots: list[int | None] = list(gpus) if gpus else [None]
        self.child_module = child_module
        self.kill_grace_s = kill_grace_s
        self.busy_mib, self.busy_wait_s, self.busy_poll_s = busy_mib, busy_wait_s, busy_poll_s
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
            _wait_all(done)
            return False
        except KeyboardInterrupt:
            self.stop.set()
            self.reporter.message("interrupted: stopping the running run(s); Ctrl-C again to kill them at once")
            while True:
                try:
                    _wait_all(done)
                    break
                except KeyboardInterrupt:
                    self.hard.set()
            return True

    def _next(self) -> PlannedRun | None:
        with self.qlock:
            return self.queue.popleft() if self.queue else None

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


@contextlib.contextmanager
def _forkserver(reporter: Reporter, warnings: list[str]) -> Iterator[ForkServer | None]:
    """The sweep's fork server, stopped at the end; None (fresh interpreters) when it cannot start."""
    for note in clean_stale(Path(tempfile.gettempdir())):  # what killed sweeps left
        warnings.append(note)
        reporter.message(f"warning: {note}")
    # short: a Unix socket path has ~100 characters
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    server = ForkServer(folder, child_env(None))
    try:
        try:
            server.start()
        except OSError as e:
            note = f"{e}; every run starts a fresh interpreter"
            warnings.append(note)
            reporter.message(f"warning: {note}")
            yield None
            return
        reporter.message(f"fork server ready in {server.start_s:.1f} s (imports paid once, not per run)")
        yield server
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            folder.rmdir()


def _wait_all(done: list[threading.Event]) -> None:
    """Wait for the workers with plain sleeps: a Thread.join interrupted by Ctrl-C can wrongly report the
    thread as finished (CPython), and the main thread must stay interruptible."""
    while not all(ev.is_set() for ev in done):
        time.sleep(0.05)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (docker stop, a job scheduler) is handled like Ctrl-C: cancel, record, exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _validate_gpus(gpus: list[int] | None) -> list[int] | None:
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


def plan_runs(
    requests: list[RunRequest],
    gpu_name: str | None,
    timeout_s: int,
) -> tuple[list[PlannedRun], list[str]]:
    """Keys and stems for every request, in order; identical requests are run once."""
    shas: dict[str, str] = {}
    package_sets: dict[tuple[str, str], dict[str, str | None]] = {}
    planned: list[PlannedRun] = []
    seen: set[str] = set()
    warnings = []
    for req in requests:
        path = req.data.path
        if path not in shas:
            shas[path] = data_sha256(path)
        if (req.backend, req.quant) not in package_sets:  # read package metadata once per backend and quant
            package_sets[(req.backend, req.quant)] = figure_packages(req)
        packages = package_sets[(req.backend, req.quant)]
        inputs = KeyInputs(data_sha256=shas[path], packages=packages, gpu=None if req.device == "cpu" else gpu_name)
        key = key_of(req, inputs)
        if key in seen:
            warnings.append(f"{req.label}: the same run is listed twice; it runs once")
            continue
        seen.add(key)
        # the planned run holds its own deep copy: nothing done later to the caller's request can change it
        planned.append(PlannedRun(0, 0, req.model_copy(deep=True), key, result_stem(req, key), timeout_s, inputs))
    for i, p in enumerate(planned, 1):
        p.index, p.total = i, len(planned)
    return planned, warnings


WARMUP_STEPS = 10  # enough for CUDA context, cuBLAS handles, autotuning and disk caches to settle


def warmup_run(first: PlannedRun, timeout_s: int) -> PlannedRun:
    """A short unreported run of the first cell: the machine's first-run costs land on it, not on a candidate.

    It runs whenever the sweep has runs to do (a fresh machine pays those costs again), and its result
    file is kept for the record (the report leaves warm-up runs out).
    """
    fields = first.request.model_dump(mode="json")
    fields["warmup"] = True
    fields["save_adapter"] = False
    fields["train"]["max_steps"] = WARMUP_STEPS
    fields["generation"]["base_answers"] = False
    fields["data"]["eval_rows"] = min(fields["data"]["eval_rows"], 2)
    fields["data"]["grade_rows"] = 0
    req = RunRequest.model_validate(fields)
    key = "warmup-" + first.key
    return PlannedRun(0, first.total, req, key, result_stem(req, key), timeout_s)


def run_sweep(
    spec: SweepSpec,
    requests: list[RunRequest],
    results_dir: Path,
    *,
    gpus: list[int] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    retry_failed: bool = False,
    rerun: bool = False,
    timeout_s: int | None = None,
    command: list[str] | str | None = None,
    busy_mib: float = 1024,
    busy_wait_s: float = 60,
    child_module: str = "harness.child.run",
    kill_grace_s: float = KILL_GRACE_S,
    progress: str = "auto",
    start: str = "fork",
    add: bool = False,
) -> SweepOutcome:
    """Run a sweep into results_dir/<spec.name>/ (or results_dir itself when it is named spec.name).

    Runs whose result is already there with the same key are kept (see `should_run`).
    `add`: the requests add to the folder's plan instead of replacing it (the runs of the earlier plan
    stay in the manifest, so in the report): repeats of a few deciding configurations, narrowed from
    the command line, join the study they belong to.
    `start`: "fork" forks each run from a server that has imported the libraries already (a fresh
    process all the same; see harness/sweep/forkserver.py), "fresh" starts a new interpreter per run.
    Ctrl-C or SIGTERM cancels the running runs, records them as `cancelled`, writes
    the manifest and raises SweepInterrupted (a SystemExit with code 130).
    """
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor '{executor}': use one of {', '.join(EXECUTORS)}")
    if progress not in ("auto", "rich", "plain", "quiet"):
        raise UserError(f"unknown progress mode '{progress}': use auto, rich, plain or quiet")
    timer_t0 = time.monotonic()
    started_at = now_iso()
    # argv, or a Python call as one string (harness.bench records `harness.bench(model=...)`)
    if not isinstance(command, str):
        command = list(command) if command is not None else list(getattr(sys, "orig_argv", sys.argv))
    again = command if isinstance(command, str) else shlex.join(command)
    ray_session = None
    if executor == "ray":
        from harness.sweep import ray_executor

        ray_session = ray_executor.RaySession(ray_address)  # UserError when ray is missing
        if gpus is not None:
            raise UserError("gpus and executor 'ray' do not mix: Ray places runs on the cluster's GPUs")
    else:
        gpus = _validate_gpus(gpus)
    run_timeout = int(timeout_s if timeout_s is not None else spec.timeout_s)
    if run_timeout <= 0:
        raise UserError(f"timeout must be > 0 seconds, got {run_timeout}")
    # everything that can refuse the sweep comes before its folder's first write: Ray connects here
    early = contextlib.ExitStack()
    if ray_session is not None:
        early.enter_context(ray_session)  # no cluster: one line, and no results folder
    layout = SweepDir(sweep_dir_for(results_dir, spec.name))
    try:
        layout.ensure()
    except BaseException:
        early.close()
        raise

    with early, layout.lock(), _sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        warnings: list[str] = []
        interrupted = False
        try:
            if ray_session is not None:
                key_gpu = ray_session.gpu_name()
                where = f"ray {ray_session.address_text}"
                workers = max(1, ray_session.slots())
            else:
                key_gpu = gpu_mod.key_gpu_name(gpus if gpus is not None else _default_gpu_list())
                where = "gpus " + ",".join(map(str, gpus)) if gpus else "local"
                workers = len(gpus) if gpus else 1
            packages = figure_packages()  # every backend's, for the manifest
            planned, plan_warnings = plan_runs(requests, key_gpu, run_timeout)
            if ray_session is not None and any(p.request.save_adapter for p in planned):
                # the task's folder on the worker is removed with the task (ray_executor.py)
                plan_warnings.append("the Ray executor keeps no adapters (--save-adapters): use the local one")
            warnings += plan_warnings
            reporter = Reporter(spec.name, len(planned), workers, progress)
            for w in plan_warnings:
                reporter.message(f"warning: {w}")
            for note in layout.kill_orphans(min(kill_grace_s, 3.0)):
                warnings.append(note)
                reporter.message(f"warning: {note}")
            stale = layout.clean_stale_tmp()
            if stale:
                note = f"removed {len(stale)} temp file(s) left by a killed writer: {', '.join(stale[:5])}"
                warnings.append(note)
                reporter.message(note)

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
                elif _adapter_missing(run, existing, layout.root):
                    reporter.message(f"{run.label}: finished without its adapter; running it again to save one")
                    to_run.append(run)
                else:
                    assert existing is not None
                    kept.append(existing)

            # the machine's first-run costs, once per boot and GPU (warmth.py); Ray's machines are not known here
            warm_id = f"{key_gpu} {where}" if ray_session is None and key_gpu is not None else None
            warmup = "off"
            if to_run and spec.warmup and key_gpu is not None and to_run[0].request.device != "cpu":
                if warm_id is not None and warmth.is_warm(warm_id):
                    warmup = "skipped: a run on this GPU ended ok since the machine booted"
                    reporter.message(f"no warm-up run ({warmup.removeprefix('skipped: ')})")
                else:
                    to_run.insert(0, warmup_run(to_run[0], run_timeout))
                    warmup = "ran"

            manifest = _manifest(
                layout, spec, command, planned, gpus, executor, ray_address, where, started_at, packages, add=add
            )
            layout.write_manifest(manifest)

            recorder = Recorder(layout, reporter)
            reporter.begin(len(to_run), kept, where)
            try:
                if ray_session is not None:
                    interrupted = ray_session.run(
                        to_run, layout, reporter, recorder, child_module=child_module,
                        kill_grace_s=kill_grace_s, busy_mib=busy_mib, busy_wait_s=busy_wait_s,
                    )  # fmt: skip
                else:
                    forkserver = None
                    if (
                        start == "fork"
                        and child_module == "harness.child.run"
                        and any(get_backend(r.request.backend).forkable for r in to_run)
                    ):
                        forkserver = stack.enter_context(_forkserver(reporter, warnings))
                    local = LocalExecutor(
                        layout, reporter, recorder, gpus=gpus, child_module=child_module,
                        kill_grace_s=kill_grace_s, busy_mib=busy_mib, busy_wait_s=busy_wait_s,
                        forkserver=forkserver,
                    )  # fmt: skip
                    interrupted = local.run(to_run)
                    warnings += local.errors
            finally:
                reporter.end()
        except KeyboardInterrupt:
            # Ctrl-C before any run started: nothing is running, nothing to record.
            raise SweepInterrupted(
                SweepOutcome(layout.root, [], {}, interrupted=True),
                f"sweep {spec.name} interrupted before any run started; rerun: {again}",
            ) from None

        wall = time.monotonic() - timer_t0
        if warm_id is not None and any(
            r.status == "ok" and r.request.device != "cpu" for r in recorder.results.values()
        ):
            warmth.mark_warm(warm_id)
        by_key = {r.key: r for r in kept} | recorder.results
        results = [by_key[p.key] for p in planned if p.key in by_key]
        ran = [p.key for p in to_run if p.key in recorder.results]
        children = sum(recorder.results[k].wall_s or 0.0 for k in ran)
        warmup_s = sum(recorder.results[k].wall_s or 0.0 for k in ran if recorder.results[k].request.warmup)
        overhead = wall - children / workers
        outcome = SweepOutcome(
            results_dir=layout.root,
            results=results,
            counts=dict(Counter(r.status for r in results)),
            ran=ran,
            kept=[r.key for r in kept],
            wall_s=wall,
            children_wall_s=children,
            workers=workers,
            overhead_s=overhead,
            overhead_per_run_s=overhead * workers / len(ran) if ran else None,
            run_overhead_s={k: round(recorder.parent_walls[k] - (recorder.results[k].wall_s or 0.0), 3) for k in ran},
            interrupted=interrupted,
            warnings=warnings,
        )
        invocation = manifest["invocations"][-1]
        invocation.update(
            finished_at=now_iso(),
            interrupted=interrupted,
            ran=len(ran),
            kept=len(kept),
            counts=outcome.counts,
            wall_s=round(wall, 3),
            overhead_s=round(overhead, 3),
            warmup=warmup,  # "ran", "off", or why it was skipped
            warmup_s=round(warmup_s, 3),  # the warm-up run's own time (its result is not in the report)
            workers=workers,
        )
        manifest["updated_at"] = invocation["finished_at"]
        layout.write_manifest(manifest)
        reporter.table(results, set(ran))

    if interrupted:
        cancelled = sum(1 for k in ran if recorder.results[k].status == "cancelled")
        not_started = len(to_run) - len(ran)
        message = (
            f"sweep {spec.name} interrupted: {len(ran) - cancelled} run(s) finished, {cancelled} cancelled, "
            f"{not_started} not started; results in {layout.root}; resume with: {again}"
        )
        print(message, file=sys.stderr, flush=True)
        raise SweepInterrupted(outcome, message)
    return outcome


def _adapter_missing(run: PlannedRun, existing: RunResult | None, root: Path) -> bool:
    """A finished run asked for its adapter (--save-adapters) and has none: only running it again makes one."""
    ok = existing is not None and existing.status == "ok"
    return ok and run.request.save_adapter and not adapters.present(root, existing.adapter)  # type: ignore[union-attr]


def _default_gpu_list() -> list[int] | None:
    idx = gpu_mod.default_index()
    return None if idx is None else [idx]


def _manifest(
    layout: SweepDir,
    spec: SweepSpec,
    command: list[str] | str,
    planned: list[PlannedRun],
    gpus: list[int] | None,
    executor: str,
    ray_address: str | None,
    where: str,
    started_at: str,
    packages: dict[str, str | None],
    *,
    add: bool = False,
) -> dict[str, Any]:
    old = layout.read_manifest() or {}
    runs = [{"key": p.key, "stem": p.stem, "label": p.label} for p in planned]
    if add and isinstance(old.get("runs"), list):
        # earlier runs first, in their order; the plan's spec stays the study's (name, job, ranking)
        before = [r for r in old["runs"] if isinstance(r, dict) and "key" in r]
        known = {r["key"] for r in before}
        runs = before + [r for r in runs if r["key"] not in known]
        spec_raw = old.get("spec") if isinstance(old.get("spec"), dict) else spec.model_dump(mode="json")
    else:
        spec_raw = spec.model_dump(mode="json")
    invocations = [i for i in old.get("invocations", []) if isinstance(i, dict)][-(MAX_INVOCATIONS - 1) :]
    invocations.append({"started_at": started_at, "finished_at": None, "command": command, "where": where})
    base = _default_gpu_list() if gpus is None and executor == "local" else gpus
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": spec.name,
        "spec": spec_raw,
        "command": old["command"] if add and old.get("command") else command,  # adding keeps the study's
        "created_at": old.get("created_at") or started_at,
        "updated_at": started_at,
        "executor": executor,
        "ray_address": ray_address,
        "gpus": gpus,
        "gpu_baseline": gpu_mod.baseline(base) if executor == "local" else None,
        "packages": packages,
        "runs": runs,
        "invocations": invocations,
    }
