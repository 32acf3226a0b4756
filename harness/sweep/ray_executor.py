"""Executor "ray": each run is a Ray task (num_gpus=1; 0 for device cpu) on an existing cluster or a local instance.

On a cluster without GPUs, device auto runs get num_gpus=0 (they run on CPU, as
they would locally) and device cuda runs fail at once instead of waiting forever.

The task runs the same child command in a subprocess on its worker (a fresh
interpreter, its own session, a temp folder as CWD, the same timeout and
kill), and returns the child's result JSON text, how the process ended and
its output; the driver writes everything into the usual results folder.

Ray is an optional extra (`pip install 'lora-harness[ray]'`). Workers need the
harness installed (same version) and the run's data and weights where the
request says. The GPU name in run keys is the cluster's `accelerator_type:*`
resources (e.g. "H100"), so keys differ from the local executor's.

`RayExecutor` is the sweep's Executor (harness/sweep/executor.py); `RaySession` holds the connection and
submits the tasks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.atomic import atomic_write_text
from harness.errors import UserError
from harness.keys import key_inputs_env
from harness.sweep.child import PASS_ENV, ChildOutcome, ChildProcess, child_command, child_env
from harness.sweep.executor import Placement
from harness.sweep.layout import SweepDir
from harness.sweep.options import SweepOptions
from harness.sweep.outcome import PlannedRun, parent_result, result_from_child
from harness.sweep.progress import Reporter
from harness.sweep.recorder import Recorder

LOG_CAP_BYTES = 4 << 20  # the last 4 MiB of a child's output come back to the driver


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("ray is not installed: pip install 'lora-harness[ray]'") from None
    return ray


def ray_task(payload: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Ray worker: one child process, start to end. Nothing of it is left behind."""
    import ray

    from harness import nvml as gpu_mod

    tmp = Path(tempfile.mkdtemp(prefix=f"harness-{payload['stem']}-"))
    try:
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        if gpu_ids and not payload["cpu_only"] and gpu_ids[0].isdigit():
            refusal = gpu_mod.wait_until_idle(int(gpu_ids[0]), payload["busy_mib"], payload["busy_wait_s"])
            if refusal:
                return {"refusal": refusal, "node": socket.gethostname()}
        req = tmp / "request.json"
        res = tmp / "result.json"
        req.write_text(payload["request_json"], encoding="utf-8")
        log = tmp / "child.log"
        child = ChildProcess(
            child_command(payload["child_module"], req, res, payload["key"]),
            cwd=tmp,
            env=child_env(None, payload["env"]),
            log_path=log,
        )
        child.start()
        outcome = child.wait(payload["timeout_s"], payload["kill_grace_s"])
        result_text = res.read_text(encoding="utf-8") if res.exists() else None
        with log.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - LOG_CAP_BYTES))
            log_text = f.read().decode("utf-8", errors="replace")
        return {
            "outcome": outcome.to_dict(),
            "result_text": result_text,
            "log": log_text,
            "node": socket.gethostname(),
            "gpu_ids": gpu_ids,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class RayExecutor:
    """The Executor of a Ray cluster: `ray` imported at once (a UserError when it is not installed), and
    connected by `connect()`, before the results folder is first written."""

    name = "ray"

    def __init__(self, options: SweepOptions) -> None:
        self.options = options
        self.session = RaySession(options.ray_address)  # UserError when ray is missing
        if options.gpus is not None:
            raise UserError("gpus and executor 'ray' do not mix: Ray places runs on the cluster's GPUs")

    def connect(self) -> RaySession:
        return self.session  # no cluster: one line, and no results folder

    def placement(self) -> Placement:
        where = f"ray {self.session.address_text}"
        return Placement(self.session.gpu_name(), where, max(1, self.session.slots()), None)

    def plan_warnings(self, planned: list[PlannedRun]) -> list[str]:
        if any(p.request.save_adapter for p in planned):  # the task's folder on the worker goes with the task
            return ["the Ray executor keeps no adapters (--save-adapters): use the local one"]
        return []

    def manifest_fields(self) -> dict[str, Any]:
        return {"executor": self.name, "ray_address": self.options.ray_address, "gpus": None, "gpu_baseline": None}

    def run(
        self, to_run: list[PlannedRun], layout: SweepDir, reporter: Reporter, recorder: Recorder, warnings: list[str]
    ) -> bool:
        o = self.options
        return self.session.run(
            to_run, layout, reporter, recorder, child_module=o.child_module,
            kill_grace_s=o.kill_grace_s, busy_mib=o.busy_mib, busy_wait_s=o.busy_wait_s,
        )  # fmt: skip


class RaySession:
    """ray.init on enter (unless already connected), ray.shutdown on exit when it connected."""

    def __init__(self, address: str | None) -> None:
        self.ray = import_ray()
        self.address = address or "auto"
        self.address_text = self.address
        self._owns = False

    def __enter__(self) -> RaySession:
        ray = self.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False}
            if self.address == "local":
                kwargs["include_dashboard"] = False
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
                raise UserError(
                    f"cannot reach a Ray cluster at '{self.address}' ({first}); "
                    "start one with `ray start --head`, or use the address 'local' for a local instance"
                ) from None
            self._owns = True
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._owns:
            with contextlib.suppress(Exception):
                self.ray.shutdown()

    def gpu_name(self) -> str | None:
        kinds = sorted(k.split(":", 1)[1] for k in self.ray.cluster_resources() if k.startswith("accelerator_type:"))
        return "+".join(kinds) or None

    def slots(self) -> int:
        res = self.ray.cluster_resources()
        return int(res.get("GPU", 0)) or int(res.get("CPU", 1))

    def run(
        self,
        to_run: list[PlannedRun],
        layout: SweepDir,
        reporter: Reporter,
        recorder: Recorder,
        *,
        child_module: str,
        kill_grace_s: float,
        busy_mib: float,
        busy_wait_s: float,
    ) -> bool:
        """Submit every run, record each as it returns; returns True when interrupted."""
        ray = self.ray
        if not to_run:
            return False
        remote = ray.remote(ray_task)
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        cluster_gpus = self.ray.cluster_resources().get("GPU", 0)
        pending: dict[Any, tuple[PlannedRun, float]] = {}
        for run in to_run:
            layout.keep_attempt(run.stem)  # an earlier try of this run (cancelled, failed) stays on record
            if run.request.device == "cuda" and not cluster_gpus:
                reason = "device cuda, but the Ray cluster has no GPU (use device auto or cpu, or add GPU nodes)"
                recorder.finish(run, parent_result(run, "failed", reason, wall_s=0.0), 0.0)
                continue
            # device auto on a cluster without GPUs runs on CPU, as it would locally
            num_gpus = 1 if (run.request.device != "cpu" and cluster_gpus) else 0
            payload = {
                "stem": run.stem,
                "key": run.key,
                "request_json": run.request.model_dump_json(indent=1),
                "child_module": child_module,
                "timeout_s": run.timeout_s,
                "kill_grace_s": kill_grace_s,
                "busy_mib": busy_mib,
                "busy_wait_s": busy_wait_s,
                "cpu_only": num_gpus == 0,
                "env": {**env, **key_inputs_env(run.key_inputs)},
            }
            opts = {"num_gpus": num_gpus, "num_cpus": 1, "max_retries": 0}
            pending[remote.options(**opts).remote(payload)] = (run, time.monotonic())
        if pending:
            reporter.message(f"submitted {len(pending)} run(s) to Ray ({self.address_text})")

        def collect(timeout: float, cancelled: bool = False) -> None:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout)
            for ref in ready:
                run, t0 = pending.pop(ref)
                self._record(ref, run, t0, layout, recorder, cancelled)

        try:
            while pending:
                collect(0.5)
            return False
        except KeyboardInterrupt:
            reporter.message("interrupted: cancelling the Ray tasks; Ctrl-C again to force")
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=False)
            deadline = time.monotonic() + kill_grace_s + 5
            try:
                while pending and time.monotonic() < deadline:
                    collect(0.5, cancelled=True)
            except KeyboardInterrupt:
                pass
            for ref, (run, t0) in list(pending.items()):
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
                result = parent_result(run, "cancelled", "cancelled (Ctrl-C) as a Ray task; rerun on resume")
                recorder.finish(run, result, time.monotonic() - t0)
            pending.clear()
            return True

    def _record(
        self, ref: Any, run: PlannedRun, t0: float, layout: SweepDir, recorder: Recorder, cancelled: bool
    ) -> None:
        ray = self.ray
        try:
            data = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            result = parent_result(run, "cancelled", "cancelled (Ctrl-C) as a Ray task; rerun on resume")
            recorder.finish(run, result, time.monotonic() - t0)
            return
        except ray.exceptions.RayError as e:
            status = "cancelled" if cancelled else "crashed"
            first = next((ln for ln in str(e).splitlines() if ln.strip()), e.__class__.__name__)
            result = parent_result(run, status, f"Ray task failed: {first[:300]}")
            recorder.finish(run, result, time.monotonic() - t0)
            return
        if "refusal" in data:
            result = parent_result(run, "failed", f"{data['refusal']} on {data['node']}", wall_s=0.0)
            recorder.finish(run, result, time.monotonic() - t0)
            return
        atomic_write_text(layout.log_path(run.stem), data["log"])
        outcome = ChildOutcome.from_dict(data["outcome"])
        result, by_child, problem = result_from_child(run, outcome, data["result_text"])
        note = f"ran on {data['node']} (gpu ids {data['gpu_ids'] or 'none'})" + (f"; {problem}" if problem else "")
        recorder.finish(
            run,
            result,
            time.monotonic() - t0,
            child_text=data["result_text"] if by_child else None,
            note=note,
        )
