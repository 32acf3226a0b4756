"""The memory/power/energy sampler, in a process of its own.

    python -m harness.child.sampler --pid PID --shm NAME --interval 0.05 [--gpu NVML_INDEX] [--power]

A sampler thread inside the measured process costs it time: each wake-up takes the GIL from a
Python-heavy loop (generation is launch-bound), a +4% slowdown measured on a pure-Python loop.
So the sampler is a separate, small process (numpy, psutil and pynvml only; no torch). It polls
NVML (device memory used, the measured process's own GPU memory, power) and the measured process's
RSS, and keeps running peaks in a shared-memory block that the parent resets and reads per phase.

Shared block: float64 slots. Peaks are NaN until measured. Control slots are written by the parent
(EPOCH_REQ, TICK_REQ, STOP), which then writes a byte to the sampler's stdin to wake it; the sampler
acknowledges (EPOCH_SEEN, TICK_DONE) after a sample, so a phase's figures include a sample taken at
its very end. Between samples it blocks on stdin: it wakes once per interval, never busy.

Energy is the whole GPU's (every process on it). It comes from NVML's total-energy counter
(nvmlDeviceGetTotalEnergyConsumption, mJ since the driver loaded; Volta and newer), read when a phase
starts (the reset) and at every sample after, so a phase's energy is the counter's difference between
its edges. Only where the counter cannot be read is power integrated over the samples: on Hopper the
power reading is a 1-second average, which puts energy into the wrong phase for phases of under a second.
ENERGY_METHOD says which was used (METHOD_COUNTER or METHOD_INTEGRAL).
"""

from __future__ import annotations

import argparse
import math
import os
import select
import sys
import time
from multiprocessing import shared_memory

import numpy as np

from harness.nvml import DeviceReader

MIB = 1024 * 1024
SLOTS = 24
DEVICE, PROCESS, RSS, ENERGY, SAMPLES, LAST_T, LAST_P = range(7)
EPOCH_REQ, EPOCH_SEEN, TICK_REQ, TICK_DONE, STOP, READY, NVML_OK = range(8, 15)
ENERGY_START, ENERGY_METHOD = 16, 17  # counter (mJ) at the phase's start; how ENERGY was measured
METHOD_COUNTER, METHOD_INTEGRAL = 1.0, 2.0


def _rss_reader(pid: int):
    """RSS from /proc/PID/statm (cheap), psutil elsewhere."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    path = f"/proc/{pid}/statm"
    if os.path.exists(path):

        def read() -> float | None:
            try:
                with open(path, "rb") as f:
                    return int(f.read().split()[1]) * page / MIB
            except (OSError, IndexError, ValueError):
                return None

        return read
    import psutil

    proc = psutil.Process(pid)
    return lambda: proc.memory_info().rss / MIB


def _max(a: float, b: float | None) -> float:
    if b is None:
        return a
    return b if math.isnan(a) else max(a, b)


def reset(buf: np.ndarray) -> None:
    buf[[DEVICE, PROCESS, RSS, ENERGY, LAST_T, LAST_P, ENERGY_START]] = np.nan
    buf[SAMPLES] = 0
    buf[ENERGY_METHOD] = 0


def add_energy(buf: np.ndarray, t: float, counter_mj: float | None, power_w: float | None) -> None:
    """The phase's energy so far: the counter's difference since the reset, else the power integral."""
    if counter_mj is not None:
        if math.isnan(buf[ENERGY_START]):
            buf[ENERGY_START] = counter_mj  # the first reading after the reset is the phase's start edge
        buf[ENERGY] = (counter_mj - buf[ENERGY_START]) / 1000.0
        buf[ENERGY_METHOD] = METHOD_COUNTER
        return
    if power_w is None:
        return
    if not math.isnan(buf[LAST_T]):
        e = 0.0 if math.isnan(buf[ENERGY]) else buf[ENERGY]
        buf[ENERGY] = e + 0.5 * (power_w + buf[LAST_P]) * (t - buf[LAST_T])
        buf[ENERGY_METHOD] = METHOD_INTEGRAL
    buf[LAST_T], buf[LAST_P] = t, power_w


def attach(name: str) -> shared_memory.SharedMemory:
    """Attach without registering with the resource tracker: the parent owns and unlinks the block."""
    try:
        return shared_memory.SharedMemory(name=name, track=False)  # Python >= 3.13
    except TypeError:
        from multiprocessing import resource_tracker

        shm = shared_memory.SharedMemory(name=name)
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        return shm


def run(pid: int, shm_name: str, interval: float, nvml_index: int | None, power: bool) -> None:
    shm = attach(shm_name)
    buf = np.ndarray((SLOTS,), dtype=np.float64, buffer=shm.buf)
    nvml = DeviceReader(nvml_index, pid)
    rss = _rss_reader(pid)
    read_power = power and nvml.h is not None
    read_counter = read_power
    epoch = buf[EPOCH_REQ]
    reset(buf)
    buf[NVML_OK] = 1.0 if nvml.h is not None else 0.0
    buf[READY] = 1.0
    parent = os.getppid()
    try:
        while buf[STOP] == 0 and os.getppid() == parent:
            if buf[EPOCH_REQ] != epoch:
                epoch = buf[EPOCH_REQ]
                reset(buf)
            tick = buf[TICK_REQ]
            t = time.perf_counter()
            counter = nvml.energy_mj() if read_counter else None
            read_counter = read_counter and counter is not None  # unsupported once: integrate from then on
            dev, proc, mem = nvml.device_used(), nvml.process_used(), rss()
            pw = nvml.power_w() if read_power and counter is None else None
            buf[DEVICE] = _max(buf[DEVICE], dev)
            buf[PROCESS] = _max(buf[PROCESS], proc)
            buf[RSS] = _max(buf[RSS], mem)
            add_energy(buf, t, counter, pw)
            buf[SAMPLES] += 1
            buf[EPOCH_SEEN] = epoch
            buf[TICK_DONE] = tick  # written last: the parent reads the peaks after seeing it
            # block until the interval passes or the parent asks (a byte on stdin): no busy wake-ups,
            # which would preempt the measured process's compute threads on a small CPU
            ready, _, _ = select.select([sys.stdin], [], [], interval)
            if ready and not os.read(sys.stdin.fileno(), 64):
                break  # the parent closed the pipe
    finally:
        del buf
        shm.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.child.sampler")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--shm", required=True)
    ap.add_argument("--interval", type=float, default=0.05)  # the monitor always passes its own
    ap.add_argument("--gpu", type=int, default=None, help="NVML index of the GPU to read")
    ap.add_argument("--power", action="store_true")
    a = ap.parse_args(argv)
    run(a.pid, a.shm, a.interval, a.gpu, a.power)
    return 0


if __name__ == "__main__":
    sys.exit(main())
