"""Resource monitor: a background sampler plus per-phase timing and peaks.

    mon = Monitor(gpu_index=0)            # gpu_index=None on a machine without a GPU
    mon.start()
    baseline = mon.snapshot("baseline")   # idle figures before the model loads
    with mon.phase("train") as ph: ...    # ph.stats filled on exit
    mon.stop()

The sampler thread polls NVML (device memory used, this process's GPU memory,
power) and the host RSS every `interval_s` (5 ms by default, at most 10 ms).
NVML and psutil calls drop the GIL while in C, so the training thread is not
held up; the overhead is measured by the self-benchmark (`harness selfbench`).
Torch's own peaks (max allocated / max reserved) are reset at each phase start.
Before every clock read on a GPU, `torch.cuda.synchronize()` runs so that
queued kernels are counted in the phase that launched them.

On a machine without a GPU every GPU field is None, never 0.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import psutil

from harness.result import PhaseStats

MIB = 1024 * 1024


class NvmlProbe:
    """Reads one GPU through NVML; every method returns None when NVML is unavailable."""

    def __init__(self, gpu_index: int | None) -> None:
        self.handle: Any = None
        self.pid = os.getpid()
        self._nvml: Any = None
        if gpu_index is None:
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index(gpu_index))
        except Exception:
            self.handle = None

    @property
    def ok(self) -> bool:
        return self.handle is not None

    def device_used_mib(self) -> float | None:
        if not self.ok:
            return None
        return self._nvml.nvmlDeviceGetMemoryInfo(self.handle).used / MIB

    def process_used_mib(self) -> float | None:
        """This process's GPU memory per NVML; None if NVML cannot attribute memory per process."""
        if not self.ok:
            return None
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        except Exception:
            return None
        for p in procs:
            if p.pid == self.pid and p.usedGpuMemory is not None:
                return p.usedGpuMemory / MIB
        return 0.0  # NVML answered and this process holds no context yet

    def power_w(self) -> float | None:
        if not self.ok:
            return None
        try:
            return self._nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0
        except Exception:
            return None


def nvml_index(visible_index: int) -> int:
    """Map a CUDA-visible index to the NVML index when CUDA_VISIBLE_DEVICES renumbers GPUs."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if not visible:
        return visible_index
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    if visible_index < len(ids) and ids[visible_index].isdigit():
        return int(ids[visible_index])
    return visible_index


@dataclass
class _Peaks:
    device: float | None = None
    process: float | None = None
    rss: float | None = None
    energy_j: float | None = None
    samples: int = 0
    last_t: float | None = None
    last_power: float | None = None

    def update(self, device: float | None, process: float | None, rss: float, power: float | None, t: float) -> None:
        self.samples += 1
        if device is not None:
            self.device = device if self.device is None else max(self.device, device)
        if process is not None:
            self.process = process if self.process is None else max(self.process, process)
        self.rss = rss if self.rss is None else max(self.rss, rss)
        if power is not None:
            if self.last_t is not None and self.last_power is not None:
                self.energy_j = (self.energy_j or 0.0) + 0.5 * (power + self.last_power) * (t - self.last_t)
            self.last_t, self.last_power = t, power


@dataclass
class PhaseHandle:
    name: str
    stats: PhaseStats | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Monitor:
    def __init__(self, gpu_index: int | None = None, interval_s: float = 0.005, power: bool = True) -> None:
        if interval_s > 0.010:
            raise ValueError("the monitor samples every 10 ms or faster")
        self.gpu_index = gpu_index
        self.interval_s = interval_s
        self.nvml = NvmlProbe(gpu_index)
        self.power = power and self.nvml.ok
        self.proc = psutil.Process()
        self._lock = threading.Lock()
        self._peaks = _Peaks()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.phases: dict[str, PhaseStats] = {}
        self._torch: Any = None
        if gpu_index is not None:
            import torch

            if torch.cuda.is_available():
                self._torch = torch

    # ------------------------------------------------------------ sampler
    def _sample_once(self) -> None:
        t = time.perf_counter()
        device = self.nvml.device_used_mib()
        process = self.nvml.process_used_mib()
        power = self.nvml.power_w() if self.power else None
        rss = self.proc.memory_info().rss / MIB
        with self._lock:
            self._peaks.update(device, process, rss, power, t)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample_once()
            self._stop.wait(self.interval_s)

    def start(self) -> Monitor:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="harness-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=2)
            self._thread = None

    # ------------------------------------------------------------ phases
    def sync(self) -> None:
        if self._torch is not None:
            self._torch.cuda.synchronize()

    def _reset(self) -> None:
        with self._lock:
            self._peaks = _Peaks()
        if self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats()

    def _collect(self, wall_s: float) -> PhaseStats:
        self._sample_once()  # one reading at the phase's end, so short phases are never empty
        with self._lock:
            p = self._peaks
            stats = PhaseStats(
                wall_s=wall_s,
                nvml_device_used_peak_mib=p.device,
                nvml_process_peak_mib=p.process,
                host_rss_peak_mib=p.rss,
                energy_j=p.energy_j,
                samples=p.samples,
            )
        if self._torch is not None:
            stats.torch_max_allocated_mib = self._torch.cuda.max_memory_allocated() / MIB
            stats.torch_max_reserved_mib = self._torch.cuda.max_memory_reserved() / MIB
        return stats

    @contextmanager
    def phase(self, name: str, announce: bool = True) -> Iterator[PhaseHandle]:
        """Time a phase and record its peaks. Announces `HARNESS_PHASE name` on stdout for the sweep."""
        if announce:
            print(f"HARNESS_PHASE {name}", flush=True)
        handle = PhaseHandle(name)
        self.sync()
        self._reset()
        self._sample_once()
        t0 = time.perf_counter()
        try:
            yield handle
        finally:
            with suppress(Exception):  # a failed phase (e.g. OOM) still reports what it reached
                self.sync()
            handle.stats = self._collect(time.perf_counter() - t0)
            self.phases[name] = handle.stats

    def snapshot(self, name: str = "baseline", settle_s: float = 0.05) -> PhaseStats:
        """Idle figures: sample for `settle_s` with nothing running."""
        self._reset()
        t0 = time.perf_counter()
        deadline = t0 + settle_s
        while time.perf_counter() < deadline:
            self._sample_once()
            time.sleep(self.interval_s)
        return self._collect(time.perf_counter() - t0)

    def current_peak_mib(self) -> dict[str, float | None]:
        """Peaks reached so far in the running phase (for an OOM's reason)."""
        with self._lock:
            out = {"nvml_device_used_peak_mib": self._peaks.device, "nvml_process_peak_mib": self._peaks.process}
        if self._torch is not None:
            out["torch_max_allocated_mib"] = self._torch.cuda.max_memory_allocated() / MIB
            out["torch_max_reserved_mib"] = self._torch.cuda.max_memory_reserved() / MIB
        return out
