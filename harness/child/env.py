"""The environment a run happened in: machine, GPU, driver, package versions, git state, command."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.backends import RECORDED_ENV as BACKEND_RECORDED_ENV
from harness.config import REPO_ROOT
from harness.keys import package_names
from harness.result import Environment
from harness.versions import MEASUREMENT_VERSION, installed_versions

# Recorded beside the packages in the run key (versions move memory by a third, per the device notes).
RECORDED_TOO = ("tokenizers", "safetensors", "nvidia-ml-py", "sacrebleu", "lora-harness")

# Environment variables that change what a backend does; recorded when set.
# (Their order is the order of a result's `env_vars`: each backend's own come after the allocator's.)
RECORDED_ENV = (
    "CUDA_VISIBLE_DEVICES", "PYTORCH_CUDA_ALLOC_CONF", *BACKEND_RECORDED_ENV, "HF_HUB_OFFLINE", "OMP_NUM_THREADS",
    "TOKENIZERS_PARALLELISM", "HARNESS_START",
    "HARNESS_SAMPLER_MS",  # the sampler's period, where not the default (child/monitor.py)
    "HARNESS_TEST_HOOKS", "HARNESS_FAULTS",  # injected faults: a run under them is marked (RunResult.injected)
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    """Every backend's packages (absent ones read None) and the recorded extras."""
    return installed_versions((*package_names(), *RECORDED_TOO))


def git_state() -> tuple[str | None, bool | None]:
    """The checkout's commit, or $HARNESS_GIT_SHA where it is set: a copy of the tree (the GPU machine) may
    carry no .git, or a stale one (seen: the session's first commit), so the caller's word wins."""
    if os.environ.get("HARNESS_GIT_SHA"):
        return os.environ["HARNESS_GIT_SHA"], None
    if not (REPO_ROOT / ".git").exists():
        return None, None
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, None


def gpu_facts(gpu_index: int | None) -> dict[str, Any]:
    """GPU name, compute capability, memory, driver and CUDA, via torch and NVML (torch is already loaded here)."""
    facts: dict[str, Any] = {}
    if gpu_index is None:
        return facts
    import torch

    if not torch.cuda.is_available():
        return facts
    props = torch.cuda.get_device_properties(gpu_index)
    facts.update(
        gpu_name=props.name,
        gpu_index=gpu_index,
        compute_capability=f"{props.major}.{props.minor}",
        gpu_total_mib=props.total_memory / 2**20,
        cuda=torch.version.cuda,
    )
    from harness.nvml import gpu_info, nvml_index

    info = gpu_info(nvml_index(gpu_index))
    if info is not None:
        facts.update(driver=info["driver"], gpu_uuid=info["uuid"])
    return facts


def cpu_threads() -> dict[str, int]:
    """Usable CPUs and torch's intra-op threads (torch is loaded in a run; not imported here if it is not)."""
    out: dict[str, int] = {}
    if hasattr(os, "sched_getaffinity"):
        out["usable_cpus"] = len(os.sched_getaffinity(0))
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_threads"] = torch.get_num_threads()  # not the inter-op count: asking for it starts its pool
    return out


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID) -> str | None:
    """This machine boot's id (Linux), None where there is none."""
    try:
        return path.read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def capture(gpu_index: int | None, command: list[str] | None = None) -> Environment:
    sha, dirty = git_state()
    return Environment(
        host=socket.gethostname(),
        boot_id=boot_id(),
        platform=platform.platform(),
        python=platform.python_version(),
        packages=package_versions(),
        git_sha=sha,
        git_dirty=dirty,
        command=command if command is not None else list(sys.argv),
        device="cuda" if gpu_index is not None else "cpu",
        cpu_count=os.cpu_count(),
        cpu_threads=cpu_threads(),
        env_vars={k: os.environ[k] for k in RECORDED_ENV if k in os.environ},
        measurement_version=MEASUREMENT_VERSION,
        **gpu_facts(gpu_index),
    )
