"""The one NVML reader (package nvidia-ml-py): GPU identity, capability, hygiene; never through torch.

Used by the sweep parent (busy checks, GPU lists), the run child (environment, capability checks)
and the sampler process (memory, power, energy).

Every function returns None when NVML cannot be used (no package, no driver,
no GPU): the sweep then skips its GPU checks. Indices are NVML indices; the
sweep sets CUDA_DEVICE_ORDER=PCI_BUS_ID for children it pins to a GPU, so that
CUDA's index matches NVML's.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

BUSY_POLL_S = 2.0  # how often a busy GPU is read again while waiting
_lock = threading.Lock()
_state: dict[str, Any] = {}


def _nvml() -> Any | None:
    """The initialised pynvml module, or None."""
    with _lock:
        if "mod" not in _state:
            try:
                import pynvml

                pynvml.nvmlInit()
                _state["mod"] = pynvml
            except Exception:
                _state["mod"] = None
        return _state["mod"]


def nvml_index(visible_index: int) -> int:
    """Map a CUDA-visible index to the NVML index when CUDA_VISIBLE_DEVICES renumbers GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not visible:
        return visible_index
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    if visible_index < len(ids) and ids[visible_index].isdigit():
        return int(ids[visible_index])
    return visible_index


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def gpu_count() -> int | None:
    nv = _nvml()
    if nv is None:
        return None
    try:
        return int(nv.nvmlDeviceGetCount())
    except Exception:
        return None


def no_gpu_reason(count: int | None) -> str:
    """Why no GPU can be used, for an error line: NVML found none, or cannot be read."""
    if count == 0:
        return "NVML finds no GPU on this machine"
    return "no GPU on this machine (NVML cannot be read: no NVIDIA driver, or no NVIDIA GPU)"


def _memory(nv: Any, handle: Any) -> tuple[float, float]:
    """(used MiB, total MiB); v2 leaves the driver's reserved memory out of `used`."""
    try:
        m = nv.nvmlDeviceGetMemoryInfo(handle, version=nv.nvmlMemory_v2)
    except Exception:
        m = nv.nvmlDeviceGetMemoryInfo(handle)
    return m.used / 2**20, m.total / 2**20


def gpu_info(index: int) -> dict[str, Any] | None:
    """{index, name, uuid, driver, used_mib, total_mib} of one GPU, or None."""
    nv = _nvml()
    if nv is None:
        return None
    try:
        h = nv.nvmlDeviceGetHandleByIndex(index)
        used, total = _memory(nv, h)
        try:
            uuid = _text(nv.nvmlDeviceGetUUID(h))
        except Exception:
            uuid = None
        return {
            "index": index,
            "name": _text(nv.nvmlDeviceGetName(h)),
            "uuid": uuid,
            "driver": _text(nv.nvmlSystemGetDriverVersion()),
            "used_mib": round(used, 1),
            "total_mib": round(total, 1),
        }
    except Exception:
        return None


def compute_capability(index: int) -> tuple[int, int] | None:
    """(major, minor) of one GPU, or None."""
    nv = _nvml()
    if nv is None:
        return None
    try:
        major, minor = nv.nvmlDeviceGetCudaComputeCapability(nv.nvmlDeviceGetHandleByIndex(index))
        return int(major), int(minor)
    except Exception:
        return None


def gpu_names(indices: list[int] | None = None) -> list[str] | None:
    """Names of the given GPUs (all GPUs when None), or None without NVML."""
    n = gpu_count()
    if n is None:
        return None
    idx = list(range(n)) if indices is None else indices
    names = [info["name"] for i in idx if (info := gpu_info(i))]
    return names or None


def key_gpu_name(indices: list[int] | None) -> str | None:
    """The GPU name that goes into run keys: the one name of the GPUs used, or the sorted distinct names joined by '+'."""
    names = gpu_names(indices)
    if not names:
        return None
    return "+".join(sorted(set(names)))


def default_index() -> int | None:
    """The GPU an unpinned child would use: the first of CUDA_VISIBLE_DEVICES when it lists indices, else 0."""
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is None:
        return 0 if gpu_count() else None
    first = cvd.split(",")[0].strip()
    return int(first) if first.isdigit() else None


def used_by_others_mib(index: int) -> float | None:
    """GPU memory in use on this GPU right now. The sweep itself holds none, so all of it is other processes'."""
    nv = _nvml()
    if nv is None:
        return None
    try:
        used, _ = _memory(nv, nv.nvmlDeviceGetHandleByIndex(index))
        return used
    except Exception:
        return None


def baseline(indices: list[int] | None) -> list[dict[str, Any]] | None:
    """Idle figures of the GPUs a sweep will use, for the manifest."""
    n = gpu_count()
    if not n:
        return None
    idx = list(range(n)) if indices is None else indices
    out = [info for i in idx if (info := gpu_info(i))]
    return out or None


def wait_until_idle(
    index: int | None,
    busy_mib: float,
    busy_wait_s: float,
    *,
    poll_s: float | None = None,
    stop: threading.Event | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> str | None:
    """Wait up to busy_wait_s for the GPU's memory in use to drop to busy_mib or below.

    Returns None when the GPU is free (or cannot be checked), else the refusal reason.
    """
    if index is None:
        return None
    used = used_by_others_mib(index)
    if used is None or used <= busy_mib:
        return None
    if on_wait:
        on_wait(f"GPU {index} busy: {used:.0f} MiB in use by other processes; waiting up to {busy_wait_s:.0f} s")
    poll_s = BUSY_POLL_S if poll_s is None else poll_s
    deadline = time.monotonic() + busy_wait_s
    while time.monotonic() < deadline:
        if stop is not None and stop.is_set():
            return None
        time.sleep(max(0.01, min(poll_s, deadline - time.monotonic())))
        used = used_by_others_mib(index)
        if used is None or used <= busy_mib:
            return None
    return f"GPU {index} busy: {used:.0f} MiB used by other processes (threshold {busy_mib:.0f})"


class DeviceReader:
    """One GPU as the sampler process reads it (memory, power, energy); every read is None when NVML cannot answer."""

    def __init__(self, nvml_index: int | None, pid: int) -> None:
        self.pid = pid
        self.h = None
        self.n = None
        if nvml_index is None:
            return
        self.n = _nvml()
        if self.n is None:
            return
        try:
            self.h = self.n.nvmlDeviceGetHandleByIndex(nvml_index)
        except Exception:
            self.h = None

    def device_used(self) -> float | None:
        if self.h is None:
            return None
        return self.n.nvmlDeviceGetMemoryInfo(self.h).used / 2**20

    def process_used(self) -> float | None:
        """The measured process's GPU memory; None when NVML does not list it (no context yet, or
        another PID namespace): unknown, not 0."""
        if self.h is None:
            return None
        try:
            procs = self.n.nvmlDeviceGetComputeRunningProcesses(self.h)
        except Exception:
            return None
        for p in procs:
            if p.pid == self.pid and p.usedGpuMemory is not None:
                return p.usedGpuMemory / 2**20
        return None

    def power_w(self) -> float | None:
        if self.h is None:
            return None
        try:
            return self.n.nvmlDeviceGetPowerUsage(self.h) / 1000.0
        except Exception:
            return None

    def energy_mj(self) -> float | None:
        """The GPU's total-energy counter in mJ; None where NVML has none (before Volta, some vGPUs)."""
        if self.h is None:
            return None
        try:
            return float(self.n.nvmlDeviceGetTotalEnergyConsumption(self.h))
        except Exception:
            return None
