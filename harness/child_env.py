"""How a run child is started, for both sides: its command line and its environment.

Floor 1: the sweep starts children with it, and `model_spec` probes a model folder in a child with the
same environment. No harness imports but `project` and the backend registry (each backend's child variables).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.backends import CHILD_ENV as BACKEND_CHILD_ENV
from harness.errors import UserError
from harness.project import project_root

# No HF_HUB_OFFLINE here: the preflight fetched the weights into the cache, and the user's own setting
# (HF_HUB_OFFLINE=1 for cache only) passes through with the rest of the environment.
CHILD_ENV = {**BACKEND_CHILD_ENV, "PYTHONUNBUFFERED": "1"}
# Passed on to Ray workers, whose environment is not the driver's.
PASS_ENV = ("HARNESS_TEST_HOOKS", "HARNESS_FAULTS")
SAMPLER_MS_ENV = "HARNESS_SAMPLER_MS"  # recorded in the run's environment when set (child/env.py)
SAMPLER_MS_RANGE = (1.0, 100.0)  # the sampler's periods one may ask for, here or from the monitor's caller


def sampler_interval_from_env() -> float | None:
    """$HARNESS_SAMPLER_MS in seconds, or None where unset: the sampler's period, 1 to 100 ms (an A/B of the sampler's
    own cost; 5 ms to catch one-off spikes shorter than the default 50 ms, at a cost: reports/sampler-ab-h200/).
    The run records the variable, so its times and peaks can be read as such.
    Read by the run child's monitor; the preflight calls it too, so that a bad value stops a sweep before its
    first run (one line, exit 2) instead of failing every run."""
    text = os.environ.get(SAMPLER_MS_ENV, "").strip()
    if not text:
        return None
    try:
        ms = float(text)
    except ValueError:
        ms = float("nan")
    if not SAMPLER_MS_RANGE[0] <= ms <= SAMPLER_MS_RANGE[1]:  # also false for nan
        raise UserError(
            f"{SAMPLER_MS_ENV}={text}: give the sampler's period in milliseconds, 1 to 100 (default 50 on a GPU, 10 on the CPU)"
        )
    return ms / 1e3


def child_command(module: str, request: Path, result: Path, key: str) -> list[str]:
    return [sys.executable, "-m", module, "--request", str(request), "--result", str(result), "--key", key]


def child_env(gpu: int | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CHILD_ENV)
    root = str(project_root())
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    if gpu is not None:
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # CUDA index == NVML index
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    env.update(extra or {})
    return env
