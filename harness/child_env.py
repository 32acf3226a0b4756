"""How a run child is started, for both sides: its command line and its environment.

Floor 1: the sweep starts children with it, and `model_spec` probes a model folder in a child with the
same environment. No harness imports but `project` and the backend registry (each backend's child variables).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.backends import CHILD_ENV as BACKEND_CHILD_ENV
from harness.project import project_root

# No HF_HUB_OFFLINE here: the preflight fetched the weights into the cache, and the user's own setting
# (HF_HUB_OFFLINE=1 for cache only) passes through with the rest of the environment.
CHILD_ENV = {**BACKEND_CHILD_ENV, "PYTHONUNBUFFERED": "1"}
# Passed on to Ray workers, whose environment is not the driver's.
PASS_ENV = ("HARNESS_TEST_HOOKS", "HARNESS_FAULTS")


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
