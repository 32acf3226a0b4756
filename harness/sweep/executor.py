"""The Executor protocol: what runs a sweep's child processes, on this machine (`local_executor.LocalExecutor`:
threads, child processes, the fork server) or on a Ray cluster (`ray_executor.RayExecutor`). `run_sweep` picks
one (`runner.make_executor`) and asks it the same questions, whichever it is."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from harness.sweep.layout import SweepDir
from harness.sweep.outcome import PlannedRun
from harness.sweep.progress import Reporter
from harness.sweep.recorder import Recorder


@dataclass
class Placement:
    """Where the sweep's runs go, as the keys, the manifest and the progress line name it."""

    key_gpu: str | None  # the GPU name in every run key (None: no GPU)
    where: str  # "local", "gpus 0,1", "ray ADDRESS"
    workers: int  # runs at once
    warm_id: str | None  # this machine's identity for the warm-up run (warmth.py); None: machines not known here


class Executor(Protocol):
    name: str  # "local" or "ray": the manifest's `executor`

    def connect(self) -> AbstractContextManager[Any]:
        """Held for the whole sweep; entered before the results folder is first written, so that a refusal
        (no Ray cluster) leaves no folder behind."""
        ...

    def placement(self) -> Placement: ...

    def plan_warnings(self, planned: list[PlannedRun]) -> list[str]:
        """What this executor cannot do for the plan (said once, before any run)."""
        ...

    def manifest_fields(self) -> dict[str, Any]:
        """The manifest's executor, ray_address, gpus and gpu_baseline, in that order."""
        ...

    def run(
        self, to_run: list[PlannedRun], layout: SweepDir, reporter: Reporter, recorder: Recorder, warnings: list[str]
    ) -> bool:
        """Run everything, recording each end with `recorder`; True when interrupted (Ctrl-C / SIGTERM)."""
        ...
