"""The monitor against known allocations: host memory on the CPU, GPU memory on the GPU machine (marked gpu)."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from harness.child.monitor import MIB, SPIKE_CHECK_INTERVAL_S, Monitor
from harness.nvml import nvml_index


def _touch(mib: int) -> np.ndarray:
    a = np.empty(mib * MIB, dtype=np.uint8)
    a.fill(1)  # touch every page, so it is resident
    return a


def test_known_host_allocation_is_recovered() -> None:
    mon = Monitor(gpu_index=None).start()
    try:
        base = mon.snapshot().host_rss_peak_mib
        with mon.phase("alloc", announce=False) as ph:
            a = _touch(400)
            time.sleep(0.05)
            del a
    finally:
        mon.stop()
    grown = ph.stats.host_rss_peak_mib - base
    assert 400 * 0.97 <= grown <= 400 * 1.05, grown


def test_short_host_spike_is_caught() -> None:
    mon = Monitor(gpu_index=None, interval_s=0.005).start()
    try:
        base = mon.snapshot().host_rss_peak_mib
        with mon.phase("spike", announce=False) as ph:
            time.sleep(0.05)
            a = _touch(200)
            time.sleep(0.05)  # 50 ms, then gone before the phase ends
            del a
            time.sleep(0.1)
    finally:
        mon.stop()
    assert ph.stats.host_rss_peak_mib - base >= 190
    assert ph.stats.samples >= 10  # about every 5 ms over 0.2 s


def test_cpu_machine_reports_null_gpu_fields_never_zero() -> None:
    mon = Monitor(gpu_index=None).start()
    with mon.phase("x", announce=False) as ph:
        pass
    mon.stop()
    s = ph.stats
    assert s.nvml_device_used_peak_mib is None and s.nvml_process_peak_mib is None
    assert s.torch_max_allocated_mib is None and s.torch_max_reserved_mib is None and s.energy_j is None
    assert s.energy_method is None
    assert s.host_rss_peak_mib is not None and s.samples >= 1


def test_phase_announces_itself_for_the_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    mon = Monitor(gpu_index=None)
    with mon.phase("train"):
        pass
    assert "HARNESS_PHASE train" in capsys.readouterr().out


def test_sampling_interval_is_1_to_100ms() -> None:
    for bad in (0.0005, 0.2):
        with pytest.raises(ValueError, match="every 1 to 100 ms"):
            Monitor(gpu_index=None, interval_s=bad)


def test_default_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """50 ms on a GPU (5 ms slowed the measured run: reports/sampler-ab-h200/), 10 ms on the CPU."""
    from harness.child import monitor

    monkeypatch.delenv("HARNESS_SAMPLER_MS", raising=False)
    for gpu, period in ((0, 0.050), (None, 0.010)):  # not started: no GPU is needed to read the period
        mon = Monitor(gpu_index=gpu)
        try:
            assert mon.interval_s == pytest.approx(period)
        finally:
            mon.stop()
    assert monitor.SPIKE_CHECK_INTERVAL_S <= 0.010  # the 50 ms spike checks sample often enough to catch it


def test_cuda_visible_devices_maps_to_nvml_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert nvml_index(0) == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    assert nvml_index(1) == 0
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert nvml_index(2) == 2


def test_a_sampler_that_does_not_answer_is_flagged_not_read() -> None:
    """A stopped sampler must not hand the previous phase's peaks to the next phase."""
    mon = Monitor(gpu_index=None, answer_timeout_s=0.3).start()
    try:
        with mon.phase("big", announce=False) as big:
            a = _touch(200)
            time.sleep(0.05)
            del a
        assert big.stats.sampler_stale is False
        os.kill(mon._proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        try:
            with mon.phase("small", announce=False) as small:
                time.sleep(0.05)
        finally:
            os.kill(mon._proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
        with mon.phase("after", announce=False) as after:
            time.sleep(0.05)
    finally:
        mon.stop()
    assert small.stats.sampler_stale is True
    assert small.stats.host_rss_peak_mib is None and small.stats.samples == 0  # unknown, not the big phase's peak
    assert after.stats.sampler_stale is False and after.stats.host_rss_peak_mib is not None


FAKE_NVML = """
    import os, time
    class NVMLError(Exception):
        pass
    class _Mem:
        used = 1024 * 1024 * 1024
    def nvmlInit(): pass
    def nvmlDeviceGetHandleByIndex(i): return object()
    def nvmlDeviceGetMemoryInfo(h): return _Mem()
    def nvmlDeviceGetComputeRunningProcesses(h): return []
    def nvmlDeviceGetPowerUsage(h): return 300_000  # mW: a 1-s average that lags the load, as on Hopper
    def nvmlDeviceGetTotalEnergyConsumption(h):  # mJ: 100 W, continuously
        if os.environ.get("FAKE_NO_ENERGY_COUNTER"):
            raise NVMLError("Not Supported")
        return time.monotonic() * 100_000
"""


@pytest.mark.parametrize(("counter", "watts", "method"), [(True, 100, "counter"), (False, 300, "power_integral")])
def test_energy_comes_from_the_counter_at_phase_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counter: bool, watts: float, method: str
) -> None:
    """With a fake NVML (100 W on the counter, 300 W on the power reading): the counter wins where it exists."""
    (tmp_path / "pynvml.py").write_text(textwrap.dedent(FAKE_NVML))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    if not counter:
        monkeypatch.setenv("FAKE_NO_ENERGY_COUNTER", "1")
    mon = Monitor(gpu_index=0).start()  # no CUDA here: torch's own peaks stay None, NVML is the fake
    try:
        assert mon.nvml_ok
        with mon.phase("work", announce=False) as ph:
            time.sleep(0.4)
    finally:
        mon.stop()
    s = ph.stats
    assert s.energy_method == method and not s.sampler_stale
    assert s.energy_j == pytest.approx(watts * s.wall_s, rel=0.1)
    assert "whole GPU" in mon.description


# ---------------------------------------------------------------- GPU machine only


@pytest.mark.gpu
def test_known_gpu_allocation_recovered_within_1_percent() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    torch.cuda.init()
    torch.zeros(1, device="cuda")  # context first: its memory is not the allocation's
    torch.cuda.synchronize()
    mon = Monitor(gpu_index=0).start()
    try:
        before = mon.snapshot()
        with mon.phase("alloc", announce=False) as ph:
            x = torch.empty(1000 * MIB, dtype=torch.uint8, device="cuda")
            x.fill_(1)
            torch.cuda.synchronize()
            time.sleep(0.1)
            del x
    finally:
        mon.stop()
    s = ph.stats
    assert abs(s.torch_max_allocated_mib - 1000) / 1000 <= 0.01, s.torch_max_allocated_mib
    grown = s.nvml_process_peak_mib - before.nvml_process_peak_mib
    assert abs(grown - 1000) / 1000 <= 0.01, grown


@pytest.mark.gpu
def test_50ms_gpu_spike_is_caught() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.empty_cache()  # the spike must be fresh memory, not blocks the allocator kept from earlier tests
    mon = Monitor(gpu_index=0, interval_s=SPIKE_CHECK_INTERVAL_S).start()
    try:
        before = mon.snapshot()
        with mon.phase("spike", announce=False) as ph:
            time.sleep(0.05)
            x = torch.empty(512 * MIB, dtype=torch.uint8, device="cuda")
            torch.cuda.synchronize()
            time.sleep(0.05)
            del x
            torch.cuda.empty_cache()  # give it back to the driver so only the sampler could see it
            time.sleep(0.1)
    finally:
        mon.stop()
    assert ph.stats.nvml_process_peak_mib - before.nvml_process_peak_mib >= 500


def test_sampler_period_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """$HARNESS_SAMPLER_MS sets the period for the sampler A/B (up to 100 ms); bad values are named."""
    from harness.child.monitor import Monitor
    from harness.child_env import sampler_interval_from_env as interval_from_env
    from harness.errors import UserError

    monkeypatch.delenv("HARNESS_SAMPLER_MS", raising=False)
    assert interval_from_env() is None
    assert Monitor(gpu_index=None).interval_s == pytest.approx(0.010)
    monkeypatch.setenv("HARNESS_SAMPLER_MS", "50")
    assert Monitor(gpu_index=None).interval_s == pytest.approx(0.050)
    for bad in ("0", "500", "fast"):
        monkeypatch.setenv("HARNESS_SAMPLER_MS", bad)
        with pytest.raises(UserError, match=f"HARNESS_SAMPLER_MS={bad}: give"):
            interval_from_env()
