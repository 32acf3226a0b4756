"""Resource monitor: a background sampler plus per-phase timing and peaks.

    mon = Monitor(gpu_index=0)            # gpu_index=None on a machine without a GPU
    mon.start()
    baseline = mon.snapshot("baseline")   # idle figures before the model loads
    with mon.phase("train") as ph: ...    # ph.stats filled on exit
    mon.stop()

A sampler process (`harness.child.sampler`) polls NVML (device memory used, this
process's GPU memory, the GPU's energy counter) and this process's RSS every `interval_s`
(50 ms on a GPU, 10 ms on the CPU; 1 to 100 ms). Energy is the whole GPU's, from NVML's
total-energy counter read at the phase's edges (power integrated only where there is no counter). It is a process, not a thread, so it
never takes the GIL from the measured work; its overhead is measured by the
self-benchmark (`harness selfbench`).
Torch's own peaks (max allocated / max reserved) are reset at each phase start: they are exact, whatever
the period, so an allocation spike shorter than the period is in them even where NVML's sampled peaks miss it.
Before every clock read on a GPU, `torch.cuda.synchronize()` runs so that
queued kernels are counted in the phase that launched them.

On a machine without a GPU every GPU field is None, never 0.

A sampler that does not answer within `answer_timeout_s` (stopped, starved, dead) is never read
as if it had: the phase is marked `sampler_stale`, and when it missed the phase's start its peaks
(which would be an earlier phase's) are None.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from harness.child import sampler
from harness.child_env import SAMPLER_MS_RANGE, sampler_interval_from_env
from harness.nvml import nvml_index
from harness.result import PhaseStats

MIB = sampler.MIB


@dataclass
class PhaseHandle:
    name: str
    stats: PhaseStats | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# The sampler's period on a GPU. 5 and 10 ms slowed the measured run: llama1B r16's steps and one-at-a-time answers
# on an H200 took 14-16% longer at 5 ms and 22-23% longer at 10 ms than at 50 ms, while 50 and 100 ms did not differ (3 interleaved runs a side,
# reports/sampler-ab-h200/); its NVML calls keep the sampler busy at short periods. Peaks were the same at every
# period there (a training peak recurs every step). A one-off spike shorter than the period can be missed by
# NVML's figures, not by torch's exact ones; ask for a shorter period (interval_s, $HARNESS_SAMPLER_MS) to catch
# one there (the 50 ms spike check samples every 5 ms).
GPU_INTERVAL_S = 0.050
CPU_INTERVAL_S = 0.010  # on a 2-core CPU every sample costs; only RSS is read
SPIKE_CHECK_INTERVAL_S = 0.005  # catches a 50 ms allocation spike (tests/test_monitor.py and selfbench, on a GPU)


class Monitor:
    """Per-phase timing and peaks; the sampling itself runs in a separate process (harness.child.sampler)."""

    def __init__(
        self, gpu_index: int | None = None, interval_s: float | None = None, power: bool = True,
        answer_timeout_s: float = 2.0,
    ) -> None:  # fmt: skip
        if interval_s is None:
            # $HARNESS_SAMPLER_MS (an A/B of the sampler's own cost: gpu-session.sh `samplerab`), else the default
            interval_s = sampler_interval_from_env() or (GPU_INTERVAL_S if gpu_index is not None else CPU_INTERVAL_S)
        elif not SAMPLER_MS_RANGE[0] <= interval_s * 1e3 <= SAMPLER_MS_RANGE[1]:
            raise ValueError("the monitor samples every 1 to 100 ms")
        self.gpu_index = gpu_index
        self.interval_s = interval_s
        self.answer_timeout_s = answer_timeout_s
        self._reset_answered = True
        self.power = power
        self.phases: dict[str, PhaseStats] = {}
        self._torch: Any = None
        if gpu_index is not None:
            import torch

            if torch.cuda.is_available():
                self._torch = torch
        self._shm: shared_memory.SharedMemory | None = shared_memory.SharedMemory(create=True, size=sampler.SLOTS * 8)
        self._buf = np.ndarray((sampler.SLOTS,), dtype=np.float64, buffer=self._shm.buf)
        self._buf[:] = 0.0
        self._proc: subprocess.Popen | None = None

    @property
    def description(self) -> str:
        energy = ("; energy: the whole GPU's, NVML energy counter at phase edges (power integral where it has none;"
                  " each phase's energy_method)" if self.gpu_index is not None and self.power else "")  # fmt: skip
        return (f"separate sampler process every {self.interval_s * 1e3:g} ms (NVML {'on' if self.nvml_ok else 'off'})"
                + energy)  # fmt: skip

    @property
    def nvml_ok(self) -> bool:
        return bool(self._buf[sampler.NVML_OK])

    # ------------------------------------------------------------ sampler process
    def start(self) -> Monitor:
        if self._proc is not None:
            return self
        if self._shm is None:
            raise RuntimeError("a stopped monitor cannot start again; make a new one")
        cmd = [sys.executable, "-m", "harness.child.sampler", "--pid", str(os.getpid()), "--shm", self._shm.name,
               "--interval", str(self.interval_s)]  # fmt: skip
        if self.gpu_index is not None:
            cmd += ["--gpu", str(nvml_index(self.gpu_index))]
            if self.power:
                cmd.append("--power")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, bufsize=0)
        deadline = time.monotonic() + 30
        while self._buf[sampler.READY] == 0:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sampler process did not start (exit {self._proc.poll()})")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop the sampler and free the shared block; the last figures stay readable."""
        if self._proc is not None:
            self._buf[sampler.STOP] = 1.0
            with suppress(OSError):
                self._proc.stdin.close()  # type: ignore[union-attr]  (wakes it; EOF ends it)
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._shm is not None:
            self._buf = np.array(self._buf)  # a private copy, then the block goes
            self._shm.close()
            self._shm.unlink()
            self._shm = None

    def __del__(self) -> None:
        with suppress(Exception):
            self.stop()

    def _await(self, req_slot: int, ack_slot: int) -> bool:
        """Ask the sampler for a fresh sample (or a reset) and wait until it has answered; False if it did not."""
        self._buf[req_slot] += 1
        want = self._buf[req_slot]
        if self._proc is None:
            return False
        with suppress(OSError):
            self._proc.stdin.write(b"x")  # type: ignore[union-attr]
        deadline = time.monotonic() + self.answer_timeout_s
        while self._buf[ack_slot] < want and time.monotonic() < deadline and self._proc.poll() is None:
            time.sleep(0.0002)
        return bool(self._buf[ack_slot] >= want)

    def _value(self, slot: int) -> float | None:
        v = float(self._buf[slot])
        return None if math.isnan(v) else v

    # ------------------------------------------------------------ phases
    def sync(self) -> None:
        if self._torch is not None:
            self._torch.cuda.synchronize()

    def _reset(self) -> None:
        self._reset_answered = self._await(sampler.EPOCH_REQ, sampler.EPOCH_SEEN)
        if self._torch is not None:
            self._torch.cuda.reset_peak_memory_stats()

    @property
    def _last_method(self) -> float:
        return float(self._buf[sampler.ENERGY_METHOD])

    def _collect(self, wall_s: float) -> PhaseStats:
        answered = self._await(sampler.TICK_REQ, sampler.TICK_DONE)  # one reading at the phase's end
        own = self._reset_answered  # the sampler's figures are this phase's only if it saw the phase start
        method = {sampler.METHOD_COUNTER: "counter", sampler.METHOD_INTEGRAL: "power_integral"}.get(self._last_method)
        stats = PhaseStats(
            wall_s=wall_s,
            nvml_device_used_peak_mib=self._value(sampler.DEVICE) if own else None,
            nvml_process_peak_mib=self._value(sampler.PROCESS) if own else None,
            host_rss_peak_mib=self._value(sampler.RSS) if own else None,
            energy_j=self._value(sampler.ENERGY) if own and method else None,
            energy_method=method if own else None,  # type: ignore[arg-type]
            samples=int(self._buf[sampler.SAMPLES]) if own else 0,
            sampler_stale=not (own and answered),
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
        t0 = time.perf_counter()
        try:
            yield handle
        finally:
            with suppress(Exception):  # a failed phase (e.g. OOM) still reports what it reached
                self.sync()
            handle.stats = self._collect(time.perf_counter() - t0)
            self.phases[name] = handle.stats

    def snapshot(self, name: str = "baseline", settle_s: float = 0.05) -> PhaseStats:
        """Idle figures: what the sampler sees over `settle_s` with nothing running."""
        self._reset()
        t0 = time.perf_counter()
        time.sleep(settle_s)
        return self._collect(time.perf_counter() - t0)

    def current_peak_mib(self) -> dict[str, float | None]:
        """Peaks reached so far in the running phase (for an OOM's reason)."""
        out = {"nvml_device_used_peak_mib": self._value(sampler.DEVICE),
               "nvml_process_peak_mib": self._value(sampler.PROCESS)}  # fmt: skip
        if self._torch is not None:
            out["torch_max_allocated_mib"] = self._torch.cuda.max_memory_allocated() / MIB
            out["torch_max_reserved_mib"] = self._torch.cuda.max_memory_reserved() / MIB
        return out
